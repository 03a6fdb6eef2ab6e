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
"""A witness of a drain: what nova says runs, every second, in a process
of its own.

A drain's limits are judged here, not from the CLI's log: this process
lists nova's live-migration records (``GET /os-migrations``, changed since
it started) through openstacksdk once a second and writes one JSON line
per look. A migration is *in flight* from its first status after
``queued`` until a final one; ``accepted`` and ``queued`` ones are counted
apart (nova has taken them, nothing moves yet). It imports nothing of
osc_livemigrate: its idea of "in flight" is its own.

    python -m tests.functional.osc_livemigrate.observer OUT.jsonl
    # admin credentials in OS_* variables; SIGTERM ends it

:func:`peaks` turns the lines into the figures a test asserts.
"""

import collections
import datetime
import json
import signal
import sys
import time

WAITING = frozenset(('accepted', 'queued'))
FINAL = frozenset(('completed', 'error', 'failed', 'cancelled', 'done'))
INTERVAL_S = 1.0


def look(migrations):
    """One sample: ``{'in_flight': [[id, source, dest, status]], 'waiting':
    [...]}`` of live-migration records (objects with ``id``, ``status``,
    ``source_compute``, ``dest_compute``, ``migration_type``).
    """
    out = {'in_flight': [], 'waiting': []}
    for m in migrations:
        if getattr(m, 'migration_type', 'live-migration') != (
            'live-migration'
        ):
            continue
        row = [m.id, m.source_compute, m.dest_compute, m.status]
        if m.status in WAITING:
            out['waiting'].append(row)
        elif m.status not in FINAL:
            out['in_flight'].append(row)
    return out


def peaks(samples):
    """The most the samples saw at one instant.

    :returns: ``{'samples', 'max_total', 'max_per_host': (n, host),
        'max_waiting', 'max_total_with_waiting', 'per_host_with_waiting':
        (n, host)}``; a migration touches its source and destination.
    """

    def busiest(rows):
        touch = collections.Counter()
        for _id, src, dst, _status in rows:
            touch[src] += 1
            if dst and dst != src:
                touch[dst] += 1
        return max(((n, h) for h, n in touch.items()), default=(0, None))

    out = {
        'samples': len(samples),
        'max_total': 0,
        'max_per_host': (0, None),
        'max_waiting': 0,
        'max_total_with_waiting': 0,
        'per_host_with_waiting': (0, None),
    }
    for s in samples:
        both = s['in_flight'] + s['waiting']
        out['max_total'] = max(out['max_total'], len(s['in_flight']))
        out['max_waiting'] = max(out['max_waiting'], len(s['waiting']))
        out['max_total_with_waiting'] = max(
            out['max_total_with_waiting'], len(both)
        )
        out['max_per_host'] = max(out['max_per_host'], busiest(s['in_flight']))
        out['per_host_with_waiting'] = max(
            out['per_host_with_waiting'], busiest(both)
        )
    return out


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    import openstack

    argv = sys.argv[1:] if argv is None else argv
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    since = datetime.datetime.now(datetime.timezone.utc).replace(
        microsecond=0
    ) - datetime.timedelta(seconds=5)
    conn = openstack.connect(cloud='envvars')
    with open(argv[0], 'a') as out:
        while not stop:
            t0 = time.monotonic()
            listed = conn.compute.migrations(
                changes_since=since.isoformat(),
                migration_type='live-migration',
            )
            sample = dict(look(listed), t=time.time())
            out.write(json.dumps(sample) + '\n')
            out.flush()
            time.sleep(max(0.0, INTERVAL_S - (time.monotonic() - t0)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
