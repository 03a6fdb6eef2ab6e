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
"""Read what the driver left on a server about its last live migration.

nova's per-server migration API stops answering once a migration ended and
``/os-migrations`` has no bytes, so the driver keeps the final figures of
the server's last migration under ``contract.LAST_KEY`` (see
``doc/source/admin/contract.rst``), and names the shadow policies it ran.
Metadata in, rows out; only :class:`EndedFigures` asks nova, for ``list``.

Example: ``figures({LAST_KEY: '{"migration": "u1", "outcome":
"completed", ...}'}, 'u1')`` gives the parsed dict, and ``None`` for any
other migration.
"""

import json

from osc_livemigrate.follow import progress
from osc_livemigrate.follow import trust
from osc_livemigrate.tables import contract

#: (header, field): the rows ``show`` adds after core's fields for an ended
#: migration, and the columns ``list --long`` adds; raw values, as core's.
#: Every one is read from server metadata, which the server's owner can
#: write, and its header says so (``Policy [owner-writable]``)
ROWS = tuple(
    (trust.header(h), f)
    for h, f in (
        ('Memory Moved Bytes', 'memory_bytes'),
        ('Disk Moved Bytes', 'disk_bytes'),
        ('Duration (s)', 'duration_s'),
        ('Downtime (ms)', 'downtime_ms'),
        ('Policy', 'policy'),
        ('Last Action', 'action'),
    )
)


def figures(metadata, migration_uuid):
    """The final figures of ``migration_uuid``, or None.

    None when the server's last ended migration is another one, when there
    are none (the driver is not installed, or the migration ran before it
    was), or when the value is not the driver's JSON object.
    """
    raw = (metadata or {}).get(contract.LAST_KEY)
    if not raw or not migration_uuid:
        return None
    try:
        fields = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(fields, dict) or fields.get('migration') != str(
        migration_uuid
    ):
        return None
    return {f: fields.get(f) for f in contract.LAST_FIELDS}


def cells(found):
    """``{field: value}`` for :data:`ROWS`; all None when ``found`` is."""
    return {f: (found or {}).get(f) for _, f in ROWS}


def shadow_names(metadata):
    """The shadow policies the driver ran beside the active one."""
    raw = (metadata or {}).get(contract.SHADOWS_KEY) or ''
    return [n for n in raw.split(',') if n]


def shadow_summary(shadows, event_names):
    """One line summarising the shadow decisions of a migration.

    :param shadows: the shadow policies' names (:func:`shadow_names`)
    :param event_names: instance action event names, in time order
    :returns: e.g. ``'adaptive: set-downtime x2, abort; kubevirt:
        nothing [owner-writable]'``, or None without shadows. The counts
        come from nova's events; a shadow without any is known only from
        server metadata, which the server's owner can write, and is marked
    """
    counts = {name: {} for name in shadows}
    for name in event_names:
        if not (name or '').startswith(contract.SHADOW_EVENT_PREFIX):
            continue
        rest = name[len(contract.SHADOW_EVENT_PREFIX) :]
        policy, _, action = rest.rpartition(':')
        per = counts.setdefault(policy, {})
        per[action] = per.get(action, 0) + 1
    if not counts:
        return None
    return '; '.join(
        '%s: %s'
        % (
            policy,
            ', '.join(
                a if n == 1 else '%s x%d' % (a, n) for a, n in per.items()
            )
            or trust.tagged('nothing', True),
        )
        for policy, per in counts.items()
    )


def show_rows(metadata, migration_uuid, in_flight, events):
    """The rows ``show`` adds after core's fields and Progress.

    An ended migration gets its final figures when they are its own; a
    migration with shadow policies gets one "Shadow Decisions" row.

    :param events: ``f()`` giving the event names of the server's newest
        live migration (asked only when shadows ran)
    :returns: [(header, value)], empty for a migration the driver left
        nothing about
    """
    rows = []
    found = None if in_flight else figures(metadata, migration_uuid)
    if found:
        rows += [(h, found[f]) for h, f in ROWS]
    shadows = shadow_names(metadata)
    this_one = migration_uuid is not None and (
        (metadata or {}).get(contract.MIGRATION_KEY) == str(migration_uuid)
    )
    if shadows and this_one and (found or in_flight):
        rows.append(('Shadow Decisions', shadow_summary(shadows, events())))
    return rows


class EndedFigures:
    """``f(migration)``: the final figures of an ended live migration, from
    its server's metadata (one call per server; None once it is deleted).
    """

    def __init__(self, compute):
        self.compute = compute
        self.metadata = {}

    def __call__(self, m):
        uuid = getattr(m, 'uuid', None)
        if (
            uuid is None
            or m.status in progress.IN_FLIGHT
            or getattr(m, 'migration_type', None) != 'live-migration'
        ):
            return None
        if m.server_id not in self.metadata:
            try:
                srv = self.compute.get_server(m.server_id)
                self.metadata[m.server_id] = getattr(srv, 'metadata', {})
            except Exception:  # noqa: BLE001 - a deleted server: no figures
                self.metadata[m.server_id] = {}
        return figures(self.metadata[m.server_id], uuid)
