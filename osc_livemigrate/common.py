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
"""Shared command arguments, migration lookup by ID or UUID, SDK error
translation.

Only ``CommandError`` reaches the user: SDK exceptions are translated here,
once, into a message that names what was asked and what to do next.
"""

import contextlib
import uuid as uuidlib

from osc_livemigrate import microversions as mv
from osc_livemigrate import progress


def command_error(msg):
    from osc_lib import exceptions

    return exceptions.CommandError(msg)


def _detail(exc):
    detail = getattr(exc, 'details', None) or str(exc)
    return str(detail).strip().rstrip('.')


def translate_error(exc, what, hint=None, not_found=None):
    """The CommandError for one openstacksdk exception (see
    :func:`sdk_errors`).
    """
    from openstack import exceptions as sdk_exc

    if isinstance(exc, sdk_exc.ResourceNotFound):
        return command_error(
            not_found
            or '%s: not found (%s)%s' % (what, _detail(exc), _tail(hint))
        )
    if isinstance(exc, sdk_exc.ForbiddenException):
        return command_error(
            '%s: forbidden by nova policy (%s); this usually needs '
            'the admin role%s' % (what, _detail(exc), _tail(hint))
        )
    if isinstance(exc, sdk_exc.HttpException):
        return command_error(
            '%s failed (HTTP %s): %s%s'
            % (
                what,
                getattr(exc, 'status_code', None) or '?',
                _detail(exc),
                _tail(hint),
            )
        )
    return command_error('%s failed: %s%s' % (what, _detail(exc), _tail(hint)))


TOKEN_HINT = (
    'a token passed with --os-token cannot be renewed once it '
    'expires or is revoked; for long waits authenticate with a password '
    'or an application credential, which are renewed as needed'
)


def translate_auth_error(exc, what, hint=None):
    """The CommandError for a keystoneauth failure: the cloud unreachable, or
    the credentials refused while (re)authenticating (an expired token reads
    "Failed to validate token (HTTP 404)", which says nothing to an operator).
    """
    from keystoneauth1 import exceptions as ksa_exc

    if isinstance(exc, ksa_exc.ConnectionError):
        err = command_error(
            '%s failed: cannot reach the cloud (%s)%s'
            % (what, _detail(exc), _tail(hint))
        )
        err.transient = True
        return err
    return command_error(
        '%s failed: authentication was refused (%s); %s%s'
        % (what, _detail(exc), TOKEN_HINT, _tail(hint))
    )


#: refreshes in a row that may fail to reach the cloud before a wait gives up
UNREACHABLE_RETRIES = 5


def ride_out_unreachable(refresh, notice, sleep, interval):
    """Call ``refresh()`` and return what it returns; while it cannot reach
    the cloud (a reset keep-alive connection, a restarting API), say so
    through ``notice(line)``, ``sleep(interval)`` and call it again, at most
    ``UNREACHABLE_RETRIES`` times in a row. Any other error is raised at
    once, as is the last unreachable one.
    """
    for failures in range(1, UNREACHABLE_RETRIES + 2):
        try:
            return refresh()
        except Exception as e:  # noqa: BLE001 - re-raised unless transient
            if (
                not getattr(e, 'transient', False)
                or failures > UNREACHABLE_RETRIES
            ):
                raise
            notice('%s; retrying (%d/%d)' % (e, failures, UNREACHABLE_RETRIES))
            sleep(interval)


@contextlib.contextmanager
def sdk_errors(what, hint=None, not_found=None):
    """Turn openstacksdk and keystoneauth exceptions into a CommandError
    naming ``what``.

    :param what: the request in the user's words, e.g. ``'abort migration 7
        of server vm1'``.
    :param hint: appended to every message: what the user can do next.
    :param not_found: the whole message for a 404 (nova's own text is
        usually a bare "not found").
    :raises osc_lib.exceptions.CommandError: for any SDK error.
    """
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    try:
        yield
    except sdk_exc.SDKException as e:
        raise translate_error(e, what, hint, not_found) from None
    except ksa_exc.ClientException as e:
        raise translate_auth_error(e, what, hint) from None


def _tail(hint):
    return '. %s' % hint if hint else ''


def find_server(compute, name_or_id):
    """Find a server by name or ID; a clear CommandError if it is unknown."""
    with sdk_errors(
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
        raise command_error(
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
    with sdk_errors('%s %s %s' % (command, label, ref)):
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
                raise command_error(
                    'Migration %s of server %s is %s, not in progress: %s has '
                    'nothing to act on (see `openstack server migration list '
                    '--server %s`)' % (ref, label, m.status, command, label)
                )
    raise command_error(
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


def _newest_action_events(compute, server_id, action_name):
    """Getters of the events of the server's newest action of a kind, as
    nova lists them; [] when there is none or it cannot be read (best
    effort).
    """
    try:
        actions = [
            a
            for a in compute.server_actions(server_id)
            if getattr(a, 'action', None) == action_name
        ]
        if not actions:
            return []
        newest = max(actions, key=lambda a: a.start_time or '')
        full = compute.get_server_action(newest.request_id, server_id)
    except Exception:  # noqa: BLE001 - best effort, see docstring
        return []
    out = []
    for ev in getattr(full, 'events', None) or []:
        get = (
            ev.get
            if isinstance(ev, dict)
            else lambda k, ev=ev: getattr(ev, k, None)
        )
        out.append(get)
    return out


def failed_events(compute, server_id, action_name='live-migration'):
    """``(event, message)`` of failed events in the newest action of a kind.

    Used only once a wait has ended, to say why; errors here never hide the
    verdict, so they are swallowed.
    """
    out = []
    for get in _newest_action_events(compute, server_id, action_name):
        if get('result') and get('result') != 'Success':
            msg = (
                get('details')
                or (get('traceback') or '').strip().splitlines()[-1:]
                or [get('result')]
            )
            out.append((get('event'), msg if isinstance(msg, str) else msg[0]))
    return out


def event_names(compute, server_id, action_name='live-migration'):
    """Event names of the server's newest action of a kind, oldest first."""
    events = _newest_action_events(compute, server_id, action_name)
    return [
        get('event')
        for get in sorted(events, key=lambda get: get('start_time') or '')
    ]


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
