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
"""Finding servers and migrations by name, ID or UUID, and the arguments
that name them.
"""

import uuid as uuidlib

from osc_livemigrate.follow import progress
from osc_livemigrate.sdk import errors
from osc_livemigrate.tables import microversions as mv


def find_server(compute, name_or_id):
    """Find a server by name or ID; a clear CommandError if it is unknown."""
    with errors.sdk_errors(
        'find server %s' % name_or_id,
        not_found='No server with a name or ID of %r exists (see '
        '`openstack server list --all-projects`)' % name_or_id,
    ):
        return compute.find_server(name_or_id, ignore_missing=False)


def add_server_migration_args(parser):
    """The ``<server> <migration>`` pair shared by show, abort and force
    complete.
    """
    parser.add_argument(
        'server', metavar='<server>', help='Server (name or ID)'
    )
    parser.add_argument(
        'migration',
        metavar='<migration>',
        help='Migration (ID, or UUID with --os-compute-api-version %s '
        'or above)' % mv.version('by_uuid'),
    )
    return parser


def parse_migration_ref(ref):
    """``'7' -> ('id', 7)``; a UUID -> ``('uuid', canonical str)``.

    :raises CommandError: for anything else, naming the value.
    """
    if ref.isdigit():
        return 'id', int(ref)
    try:
        return 'uuid', str(uuidlib.UUID(ref))
    except ValueError:
        raise errors.command_error(
            'The <migration> argument must be an ID or UUID, not %r' % ref
        ) from None


def find_migration(compute, server, ref, command, ended=None):
    """Find one migration of a server, preferring the per-server API (bytes).

    Falls back to ``/os-migrations`` for migrations nova's per-server API does
    not list (stock nova hides ``running (post-copy)`` there).

    :param server: SDK server (uses ``.id`` and ``.name``).
    :param ref: the user's ``<migration>``: numeric ID or UUID.
    :param command: e.g. ``'server migration abort'``, for error messages.
    :param ended: ``f(migration)``: whether an ended migration is wanted
        too (``show`` of one with final figures); by default it is not.
    :returns: an SDK ServerMigration or Migration with nova's field names.
    :raises CommandError: when the UUID form needs a newer microversion, or
        when no such migration is in progress (saying what it is instead).
    """
    kind, value = parse_migration_ref(ref)
    if kind == 'uuid':
        mv.require(
            compute,
            'by_uuid',
            '%s with a migration UUID (%s)' % (command, ref),
        )
    from openstack import exceptions as sdk_exc

    label = server.name or server.id
    with errors.sdk_errors('%s %s %s' % (command, label, ref)):
        if kind == 'id':
            try:
                return compute.get_server_migration(
                    value, server.id, ignore_missing=False
                )
            except sdk_exc.ResourceNotFound:
                pass
        else:
            for m in compute.server_migrations(server.id):
                if _same_uuid(getattr(m, 'uuid', None), value):
                    return m
        for m in compute.migrations(instance_uuid=server.id):
            if (kind == 'id' and m.id == value) or (
                kind == 'uuid' and _same_uuid(m.uuid, value)
            ):
                if m.status in progress.IN_FLIGHT or (ended and ended(m)):
                    return m
                raise errors.command_error(
                    'Migration %s of server %s is %s, not in progress: %s has '
                    'nothing to act on (see `openstack server migration list '
                    '--server %s`)' % (ref, label, m.status, command, label)
                )
    raise errors.command_error(
        'Server %s has no migration %s (see `openstack server migration list '
        '--server %s`)' % (label, ref, label)
    )


def _same_uuid(theirs, canonical):
    """Whether nova's ``uuid`` field names the canonical UUID we parsed."""
    try:
        return str(uuidlib.UUID(str(theirs))) == canonical
    except ValueError:
        return False


def latest_live_migration(
    compute, server_id, newer_than=None, project_id=None
):
    """The newest live-migration record of a server from ``/os-migrations``.

    From 2.59 nova sorts the listing newest first and honours ``limit``, so
    one row answers however many migrations the server had; before 2.59 the
    server's whole live-migration history is read.

    :param newer_than: ignore records whose numeric id is not above this.
    :param project_id: the server's project. From 2.80 the listing names
        it: nova lets a non-admin (a project manager) list only their own
        project's migrations, and without the filter it asks for
        ``os-migrations:index:all_projects``, which is admin-only.
    :returns: an SDK Migration, or None.
    """
    query = {'instance_uuid': server_id, 'migration_type': 'live-migration'}
    if project_id and mv.supports(compute, 'user_project'):
        query['project_id'] = project_id
    if mv.supports(compute, 'by_uuid'):
        query.update(limit=1, paginated=False)
    best = None
    for m in compute.migrations(**query):
        if newer_than is not None and (m.id is None or m.id <= newer_than):
            continue
        if best is None or (m.id or 0) > (best.id or 0):
            best = m
    return best


def live_migrate_kwargs(
    compute, block_migration=None, disk_overcommit=None, host=None, warn=None
):
    """Core ``server migrate --live-migration`` rules, shared with host drain.

    :param block_migration: True, False or None (None: ``'auto'`` from 2.25,
        False before).
    :param disk_overcommit: only sent before 2.25; from 2.25 a given value is
        ignored with a warning through ``warn``.
    :param host: target host; needs 2.30 (the scheduler validates it).
    :returns: keyword arguments for ``compute.live_migrate_server``.
    :raises CommandError: for --host on a too old microversion.
    """
    auto = mv.supports(compute, 'block_migration_auto')
    if block_migration is None:
        block_migration = 'auto' if auto else False
    if host:
        mv.require(
            compute,
            'live_migrate_host',
            '--host %s with a live migration' % host,
        )
    kwargs = {'block_migration': block_migration, 'host': host}
    if not auto:
        kwargs['disk_over_commit'] = bool(disk_overcommit)
    elif disk_overcommit is not None and warn is not None:
        warn(
            'WARNING: --disk-overcommit/--no-disk-overcommit are ignored from '
            '--os-compute-api-version %s\n'
            % mv.version('block_migration_auto')
        )
    return kwargs


def in_progress_migration(compute, migration_id, server_id):
    """The per-server view (with bytes) of an in-flight migration, or None.

    Nova answers 404 "not in progress" for a migration that ended between
    our listing and this call (and openstacksdk raises even with
    ``ignore_missing=True``), so a 404 here is a normal race, not an error.
    Showing one is admin-only in nova's policy while listing the server's
    is allowed to a project manager, so a 403 falls back to the listing.
    """
    from openstack import exceptions as sdk_exc

    try:
        return compute.get_server_migration(
            migration_id, server_id, ignore_missing=True
        )
    except sdk_exc.ResourceNotFound:
        return None
    except sdk_exc.ForbiddenException:
        for m in compute.server_migrations(server_id):
            if str(m.id) == str(migration_id):
                return m
        return None
