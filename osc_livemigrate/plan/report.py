# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""The JSON record of a drain, and what a resumed drain makes of it.

``--report FILE`` keeps one JSON object up to date as the run goes: each
host's state and, per server, where its move stands. A server is marked
``starting`` *before* the live-migrate request is sent, so a CLI killed
between the request and the next write leaves a record that still says
"maybe started": ``--resume FILE`` then asks nova (its in-flight
migration records) before anything is sent again. Nothing here reads the
cloud or a clock; :func:`write` is the only I/O.

A resumed server is, in order of what nova says:

========================== ================== =============================
nova says                  record says        resume
========================== ================== =============================
a migration in flight      anything           follow it (never start one)
not on the host any more   anything           moved: done
on the host, idle          migrated, failed,  done (kept as recorded)
                           skipped
on the host, idle          starting, started, start it (the earlier one
                           planned            ended or was never sent)
========================== ================== =============================
"""

import json
import os

from osc_livemigrate.plan import drain as dp

FORMAT = 1

PLANNED, STARTING, STARTED = 'planned', 'starting', 'started'
# host states
PENDING, DISABLED, DRAINED, ENABLED, STOPPED = (
    'pending',
    'disabled',
    'drained',
    'enabled',
    'stopped',
)
#: what resume does with a server
FOLLOW, DONE, START = 'follow', 'done', 'start'


#: the options a resume takes from the record unless given again
RESUMED_OPTIONS = (
    'max_parallel',
    'max_per_host',
    'concurrency',
    'hosts_at_once',
    'policy',
    'server_policy',
    'enable_after',
    'wait_for',
    'disable_reason',
    'target_host',
    'block_migration',
    'retries',
    'retry_delay',
    'poll_interval',
    'wait_timeout',
)


def new(hosts, started_at, opts=None):
    """A fresh record.

    :param hosts: ``[(host, [(server ID, name), ...]), ...]`` in plan order.
    :param started_at: an ISO 8601 time string.
    :param opts: ``{option dest: value}`` of :data:`RESUMED_OPTIONS` (the
        drain's own options only: never the command line, which may hold
        credentials).
    """
    return {
        'format': FORMAT,
        'command': 'openstack compute host drain',
        'options': dict(opts or {}),
        'started_at': started_at,
        'hosts': [
            {
                'host': host,
                'state': PENDING,
                'reason': '',
                'servers': {
                    sid: {'name': name, 'state': PLANNED, 'attempts': 0}
                    for sid, name in servers
                },
            }
            for host, servers in hosts
        ],
    }


def host_entry(record, host):
    """The entry of ``host``; :raises KeyError: when it is not there."""
    for entry in record['hosts']:
        if entry['host'] == host:
            return entry
    raise KeyError(host)


def set_host(record, host, state, reason=''):
    entry = host_entry(record, host)
    entry['state'], entry['reason'] = state, reason


def set_server(record, host, server_id, state, **fields):
    """Record one server's state (and e.g. ``attempts``, ``destination``,
    ``migration``, ``reason``, ``duration_s``).
    """
    servers = host_entry(record, host)['servers']
    entry = servers.setdefault(server_id, {'attempts': 0})
    entry['state'] = state
    entry.update(fields)


class Recorder:
    """Writes a runner's changes into the record (if any) and saves it.

    :param record: the record, or None (no ``--report``: nothing kept).
    :param save: ``save()`` after each change, or None.
    """

    def __init__(self, record, save=None):
        self.record, self.save = record, save

    def host(self, hr, reason=''):
        """Record a ``hosts.HostRun``'s state (and why, if it stopped)."""
        if self.record is None:
            return
        set_host(self.record, hr.host, hr.state, reason or hr.stop)
        self._saved()

    def server(self, hr, item, state, **fields):
        """Record one ``drain.Item``'s state and fields."""
        if self.record is None:
            return
        set_server(
            self.record,
            hr.host,
            item.server_id,
            state,
            name=item.name,
            **fields,
        )
        self._saved()

    def _saved(self):
        if self.save is not None:
            self.save()


def state_of(record, host, server_id):
    """The recorded state of one server, or None."""
    try:
        entry = host_entry(record, host)['servers'].get(server_id)
    except KeyError:
        return None
    return entry and entry['state']


def check(record):
    """Raise ``ValueError`` unless ``record`` is a report this code wrote."""
    if not isinstance(record, dict) or record.get('format') != FORMAT:
        raise ValueError(
            'not a drain report of format %d (written by --report)' % FORMAT
        )
    if not isinstance(record.get('hosts'), list):
        raise ValueError('the report names no hosts')
    return record


def resume_action(recorded, on_host, in_flight):
    """What a resumed drain does with one server (see the module's table).

    :param recorded: its recorded state, or None (new on the host).
    :param on_host: whether nova says it is still on the drained host.
    :param in_flight: whether nova lists a migration of it in flight.
    :returns: ``FOLLOW``, ``DONE`` or ``START``.
    """
    if in_flight:
        return FOLLOW
    if not on_host:
        return DONE
    if recorded in (None, PLANNED, STARTING, STARTED):
        return START
    return DONE


def resumed_options(record, given, defaults):
    """The options of a resumed drain: each one given again on the command
    line wins, the others are the record's.

    :param given: ``{dest: value}`` parsed now; ``defaults`` the parser's.
    :returns: ``{dest: value}`` to set.
    """
    recorded = record.get('options') or {}
    out = {}
    for key in RESUMED_OPTIONS:
        if key in recorded and given.get(key) == defaults.get(key):
            out[key] = recorded[key]
    return out


def hosts_left(record):
    """Hosts a resume still has to drain: not drained, not enabled again."""
    return [
        e['host']
        for e in record['hosts']
        if e['state'] not in (DRAINED, ENABLED)
    ]


def read(path):
    """:raises ValueError: for a file that is not a report (or not JSON)."""
    with open(path) as f:
        try:
            return check(json.load(f))
        except json.JSONDecodeError as e:
            raise ValueError('not JSON: %s' % e) from None


def write(path, record):
    """Replace ``path`` with ``record`` atomically: a crash mid-write
    leaves the previous version, never half a file.
    """
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
        f.write('\n')
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def resume_items(entry, items, in_flight):
    """A resumed host's plan: ``items`` (built from what is on the host
    now) checked against the record and nova's in-flight migrations.

    :param entry: the host's entry in the record (:func:`host_entry`).
    :param items: ``drain.Item`` of the servers on the host now.
    :param in_flight: server IDs nova lists with a migration in flight.
    :returns: the items to run: in-flight ones followed, recorded verdicts
        kept (as skips), servers gone since marked done.
    """
    recorded = entry.get('servers', {})
    out = []
    for item in items:
        state = (recorded.get(item.server_id) or {}).get('state')
        action = resume_action(state, True, item.server_id in in_flight)
        if action == FOLLOW and item.action != dp.FOLLOW:
            item = dp.Item(
                item.server_id,
                item.name,
                dp.FOLLOW,
                None,
                'a live migration is already running',
            )
        elif action == DONE and item.action == dp.MIGRATE:
            item = dp.Item(
                item.server_id,
                item.name,
                dp.SKIP,
                None,
                '%s in the run being resumed: %s'
                % (state, recorded[item.server_id].get('reason') or '-'),
            )
        out.append(item)
    here = {i.server_id for i in items}
    for sid, server in sorted(recorded.items()):
        if sid in here:
            continue
        if resume_action(server.get('state'), False, sid in in_flight) == (
            FOLLOW
        ):
            # NOTE: nova moves it but no longer lists it on the host
            out.append(dp.Item(sid, server.get('name') or sid, dp.FOLLOW))
        elif server.get('state') in (STARTING, STARTED, 'migrated'):
            out.append(
                dp.Item(
                    sid,
                    server.get('name') or sid,
                    dp.DONE,
                    None,
                    'moved before the resume',
                )
            )
    return out
