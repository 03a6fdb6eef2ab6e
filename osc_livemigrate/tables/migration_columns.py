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
"""The columns of ``server migration list`` and ``show``: core's, then ours.

Core's columns keep core's order and raw values (openstackclient 10.5), so
scripts that parse core's output keep working; everything the plugin adds
comes after them (``show``) or with ``--long`` only (``list``).
"""

from osc_livemigrate.follow import final
from osc_livemigrate.follow import format as fmt
from osc_livemigrate.follow import progress
from osc_livemigrate.tables import microversions as mv

# (header, attribute, feature needed or None): core's columns, order and raw
# values (openstackclient 10.5 at each microversion).
LIST_COLUMNS = (
    ('Id', 'id', 'migration_type'),
    ('UUID', 'uuid', 'by_uuid'),
    ('Source Node', 'source_node', None),
    ('Dest Node', 'dest_node', None),
    ('Source Compute', 'source_compute', None),
    ('Dest Compute', 'dest_compute', None),
    ('Dest Host', 'dest_host', None),
    ('Status', 'status', None),
    ('Server UUID', 'server_id', None),
    ('Old Flavor', 'old_flavor_id', None),
    ('New Flavor', 'new_flavor_id', None),
    ('Type', 'migration_type', 'migration_type'),
    ('Project', 'project_id', 'user_project'),
    ('User', 'user_id', 'user_project'),
    ('Created At', 'created_at', None),
    ('Updated At', 'updated_at', None),
)

#: ours, with ``--long`` only, after core's; raw integers like core's bytes
PROGRESS_BYTES = tuple(
    ('%s %s Bytes' % (a.title(), b.title()), '%s_%s_bytes' % (a, b))
    for a in ('memory', 'disk')
    for b in ('total', 'processed', 'remaining')
)
LONG_COLUMNS = (
    (('Progress', 'percent', 'server_migrations'),)
    + tuple((h, a, 'server_migrations') for h, a in PROGRESS_BYTES)
    + tuple((h, a, 'by_uuid') for h, a in final.ROWS)
)

SHOW_COLUMNS = (
    ('ID', 'id', None),
    ('Server UUID', 'server_id', None),
    ('Status', 'status', None),
    ('Source Compute', 'source_compute', None),
    ('Source Node', 'source_node', None),
    ('Dest Compute', 'dest_compute', None),
    ('Dest Host', 'dest_host', None),
    ('Dest Node', 'dest_node', None),
    ('Memory Total Bytes', 'memory_total_bytes', None),
    ('Memory Processed Bytes', 'memory_processed_bytes', None),
    ('Memory Remaining Bytes', 'memory_remaining_bytes', None),
    ('Disk Total Bytes', 'disk_total_bytes', None),
    ('Disk Processed Bytes', 'disk_processed_bytes', None),
    ('Disk Remaining Bytes', 'disk_remaining_bytes', None),
    ('Created At', 'created_at', None),
    ('Updated At', 'updated_at', None),
    ('UUID', 'uuid', 'by_uuid'),
    ('User ID', 'user_id', 'user_project'),
    ('Project ID', 'project_id', 'user_project'),
    # ours, after core's fields
    ('Progress', 'percent', None),
)

PROGRESS_HELP = (
    'Progress is the share of memory and disk bytes no longer remaining '
    '(100 - remaining / total, as nova computes it), in percent'
)


def columns(compute, table, skip=()):
    return [
        (h, a)
        for h, a, feature in table
        if a not in skip and (feature is None or mv.supports(compute, feature))
    ]


def cell(obj, attr, extra):
    """The raw value, as core prints it: integers stay integers (a table
    shows ``8589934592``, not ``8.00 GiB``) and unknown stays None, so
    ``--sort-column`` works on every column.
    """
    value = extra[attr] if attr in extra else getattr(obj, attr, None)
    if attr == 'percent' and value is not None:
        return round(value, 1)
    return value


def progress_fields(live):
    """Progress and the six byte counters of a server migration (None if
    unknown: not in flight, not live, or nova no longer lists it).
    """
    fields = {a: getattr(live, a, None) for _, a in PROGRESS_BYTES}
    total, _, remaining = progress.byte_counts(live)
    fields['percent'] = fmt.percent_done(total, remaining)
    return fields
