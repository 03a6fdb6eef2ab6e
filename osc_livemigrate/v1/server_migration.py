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
"""``server migration list|show|abort|force complete`` with bytes, % and clear
errors.

Supersets of the core commands: same options and defaults. ``list`` adds
progress for in-flight live migrations and, being built on /os-migrations,
still shows migrations in post-copy that nova's per-server API hides.
"""

from osc_lib.cli import parseractions
from osc_lib.command import command
from osc_lib import exceptions

from osc_livemigrate.follow import final
from osc_livemigrate.follow import progress
from osc_livemigrate.follow import trust
from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import events
from osc_livemigrate.sdk import lookups
from osc_livemigrate.tables import microversions as mv
from osc_livemigrate.tables import migration_columns as cols

TYPES = ['evacuation', 'live-migration', 'cold-migration', 'resize']


def _identity_common():
    """openstackclient's project and user lookups, imported when needed.

    The plugin depends on python-openstackclient only through its ``cli``
    extra; without it ``--project``/``--user`` say what to install
    instead of failing with a traceback.

    :raises osc_lib.exceptions.CommandError: openstackclient is missing.
    """
    try:
        from openstackclient.identity import common
    except ImportError as exc:
        raise exceptions.CommandError(
            '--project and --user need python-openstackclient (pip install '
            "'osc-livemigrate[cli]'): %s" % exc
        )
    return common


class ListMigration(command.Lister):
    """List server migrations; with --long, progress of live ones in flight.

    The default columns are core's. --long adds Progress and the memory and
    disk byte counters (raw integers, like core's) of in-flight live
    migrations; they need --os-compute-api-version 2.23 or above and cost one
    call per in-flight live migration.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--long',
            action='store_true',
            default=False,
            help='Also list Progress and Memory/Disk Total/Processed/'
            'Remaining Bytes of in-flight live migrations (--os-compute-'
            'api-version %s or above; one call per such migration), and '
            "the final figures the driver kept of each server's last "
            'ended live migration (Memory/Disk Moved Bytes, Duration, '
            'Downtime, Policy, Last Action; %s or above; one call per '
            "server), read from server metadata, which the server's "
            'owner can write: their headers end with %s. %s'
            % (
                mv.version('server_migrations'),
                mv.version('by_uuid'),
                trust.TAG,
                cols.PROGRESS_HELP,
            ),
        )
        parser.add_argument(
            '--server',
            metavar='<server>',
            help='Filter migrations by server (name or ID)',
        )
        parser.add_argument(
            '--host',
            metavar='<host>',
            help='Filter migrations by source or destination host',
        )
        parser.add_argument(
            '--status', metavar='<status>', help='Filter migrations by status'
        )
        parser.add_argument(
            '--type',
            metavar='<type>',
            choices=TYPES,
            help='Filter migrations by type',
        )
        by_uuid = mv.version('by_uuid')
        parser.add_argument(
            '--limit',
            metavar='<limit>',
            type=int,
            action=parseractions.NonNegativeAction,
            help='Page size (--os-compute-api-version %s or above)' % by_uuid,
        )
        parser.add_argument(
            '--marker',
            metavar='<marker>',
            default=None,
            help='Start after this migration UUID (--os-compute-api-version '
            '%s or '
            'above)' % by_uuid,
        )
        parser.add_argument(
            '--max-items',
            metavar='<max-items>',
            type=int,
            action=parseractions.NonNegativeAction,
            default=None,
            help='The maximum number of entries to return in total',
        )
        parser.add_argument(
            '--changes-since',
            dest='changes_since',
            metavar='<changes-since>',
            help='Only migrations changed at or after this ISO 8601 time '
            '(--os-compute-api-version %s or above)' % by_uuid,
        )
        parser.add_argument(
            '--changes-before',
            dest='changes_before',
            metavar='<changes-before>',
            help='Only migrations changed at or before this ISO 8601 time '
            '(--os-compute-api-version %s or above)'
            % mv.version('changes_before'),
        )
        who = mv.version('user_project')
        parser.add_argument(
            '--project',
            metavar='<project>',
            help='Filter by project (name or ID) (--os-compute-api-version '
            '%s or above)' % who,
        )
        parser.add_argument(
            '--project-domain',
            metavar='<project-domain>',
            help='Domain the project belongs to (name or ID)',
        )
        parser.add_argument(
            '--user',
            metavar='<user>',
            help='Filter by user (name or ID) (--os-compute-api-version '
            '%s or above)' % who,
        )
        parser.add_argument(
            '--user-domain',
            metavar='<user-domain>',
            help='Domain the user belongs to (name or ID)',
        )
        return parser

    def _query(self, compute, args):
        query = {}
        for opt, key in (('host', 'host'), ('status', 'status')):
            if getattr(args, opt) is not None:
                query[key] = getattr(args, opt)
        if args.server:
            query['instance_uuid'] = lookups.find_server(
                compute, args.server
            ).id
        if args.type:
            query['migration_type'] = (
                'migration' if args.type == 'cold-migration' else args.type
            )
        gated = (
            ('marker', 'by_uuid'),
            ('limit', 'by_uuid'),
            ('changes_since', 'by_uuid'),
            ('changes_before', 'changes_before'),
        )
        for opt, feature in gated:
            value = getattr(args, opt)
            if value:
                mv.require(
                    compute,
                    feature,
                    '--%s %s' % (opt.replace('_', '-'), value),
                )
                query[opt] = value
        if args.limit:
            query['paginated'] = False
        if args.max_items is not None:
            query['max_items'] = args.max_items
        if args.project or args.user:
            from openstack import utils as sdk_utils

            identity_common = _identity_common()
            identity = sdk_utils.ensure_service_version(
                self.app.client_manager.sdk_connection.identity, '3'
            )
            if args.project:
                mv.require(
                    compute, 'user_project', '--project %s' % args.project
                )
                query['project_id'] = identity_common.find_project_id_sdk(
                    identity, args.project, args.project_domain
                )
            if args.user:
                mv.require(compute, 'user_project', '--user %s' % args.user)
                query['user_id'] = identity_common.find_user_id_sdk(
                    identity, args.user, args.user_domain
                )
        return query

    def take_action(self, parsed_args):
        compute = self.app.client_manager.compute
        query = self._query(compute, parsed_args)
        with errors.sdk_errors('list migrations'):
            migrations = list(compute.migrations(**query))
        skip = set()
        if not parsed_args.project:
            skip.add('project_id')
        if not parsed_args.user:
            skip.add('user_id')
        table = cols.LIST_COLUMNS + (
            cols.LONG_COLUMNS if parsed_args.long else ()
        )
        columns = cols.columns(compute, table, skip)
        want_bytes = parsed_args.long and mv.supports(
            compute, 'server_migrations'
        )
        rows = []
        ended = final.EndedFigures(compute)
        for m in migrations:
            live = None
            if (
                want_bytes
                and m.status in progress.IN_FLIGHT
                and getattr(m, 'migration_type', 'live-migration')
                == 'live-migration'
            ):
                # NOTE: a 404 here means nova's per-server API hides it
                # (stock nova in post-copy) or it just ended: the row stays,
                # bytes blank.
                with errors.sdk_errors('read progress of migration %s' % m.id):
                    live = lookups.in_progress_migration(
                        compute, m.id, m.server_id
                    )
            extra = cols.progress_fields(live) if want_bytes else {}
            if parsed_args.long:
                extra.update(final.cells(ended(m)))
            rows.append(tuple(cols.cell(m, a, extra) for _, a in columns))
        return [h for h, _ in columns], rows


class ShowMigration(command.ShowOne):
    """Show a migration of a server, with bytes and progress.

    Core's fields first (raw integers), then Progress: the share of memory
    and disk bytes no longer remaining (100 - remaining / total). A
    server's last live migration that ended also shows the final figures
    the driver kept (bytes moved, duration, downtime, policy, last action;
    server metadata, which the server's owner can write, so their headers
    end with [owner-writable]), and a migration with shadow policies a
    summary of their decisions (from nova's instance action events).
    Needs --os-compute-api-version 2.23 or above (by UUID: 2.59). Other
    ended migrations are in `openstack server migration list --server
    <server>`.
    """

    def get_parser(self, prog_name):
        return lookups.add_server_migration_args(super().get_parser(prog_name))

    def take_action(self, parsed_args):
        lookups.parse_migration_ref(parsed_args.migration)
        compute = self.app.client_manager.compute
        mv.require(compute, 'server_migrations', 'server migration show')
        server = lookups.find_server(compute, parsed_args.server)
        metadata = getattr(server, 'metadata', None) or {}
        m = lookups.find_migration(
            compute,
            server,
            parsed_args.migration,
            'server migration show',
            ended=lambda m: final.figures(metadata, getattr(m, 'uuid', None)),
        )
        extra = {'percent': cols.progress_fields(m)['percent']}
        if getattr(m, 'server_id', None) is None:
            extra['server_id'] = server.id
        columns = cols.columns(compute, cols.SHOW_COLUMNS)
        ours = final.show_rows(
            metadata,
            getattr(m, 'uuid', None),
            m.status in progress.IN_FLIGHT,
            lambda: events.event_names(compute, server.id),
        )
        return (
            [h for h, _ in columns] + [h for h, _ in ours],
            tuple(cols.cell(m, a, extra) for _, a in columns)
            + tuple(v for _, v in ours),
        )


class _ActOnMigration(command.Command):
    """Shared body of abort and force complete: find, call, explain failure."""

    feature = None
    command_words = None
    verb = None

    def get_parser(self, prog_name):
        return lookups.add_server_migration_args(super().get_parser(prog_name))

    def _call(self, compute, migration_id, server):
        raise NotImplementedError

    def take_action(self, parsed_args):
        kind, value = lookups.parse_migration_ref(parsed_args.migration)
        compute = self.app.client_manager.compute
        mv.require(compute, self.feature, self.command_words)
        server = lookups.find_server(compute, parsed_args.server)
        label = server.name or server.id
        if kind == 'uuid':
            value = lookups.find_migration(
                compute, server, parsed_args.migration, self.command_words
            ).id
        else:
            value = parsed_args.migration  # as core sends it
        what = '%s migration %s of server %s' % (
            self.verb,
            parsed_args.migration,
            label,
        )
        from openstack import exceptions as sdk_exc

        try:
            self._call(compute, value, server)
        except sdk_exc.SDKException as e:
            code = (
                404
                if isinstance(e, sdk_exc.ResourceNotFound)
                else getattr(e, 'status_code', None)
            )
            if code in (404, 409):
                # NOTE: nova answers 409 "invalid state" when the server is not
                # migrating at all; say what the migration is instead (this
                # raises when it is unknown or already finished).
                lookups.find_migration(
                    compute, server, str(value), self.command_words
                )
            if code == 404:
                raise errors.command_error(
                    '%s: nova does not list migration %s of server %s as in '
                    'progress '
                    'on its per-server API (stock nova hides migrations in '
                    'post-copy '
                    'there)' % (self.command_words, value, label)
                ) from None
            raise errors.translate_error(e, what, self.hint(compute)) from None

    def hint(self, compute):
        return None


class AbortMigration(_ActOnMigration):
    """Cancel an ongoing live migration (--os-compute-api-version 2.24 or
    above).

    By UUID needs 2.59; aborting a queued or preparing migration needs 2.65.
    The server stays on its source host; the migration ends ``cancelled``.
    """

    feature = 'abort'
    command_words = 'server migration abort'
    verb = 'abort'

    def _call(self, compute, migration_id, server):
        compute.abort_server_migration(
            migration_id, server.id, ignore_missing=False
        )

    def hint(self, compute):
        if not mv.supports(compute, 'abort_queued'):
            return (
                'A queued or preparing migration can be aborted only with '
                '--os-compute-api-version %s or above'
                % mv.version('abort_queued')
            )
        return None


class ForceCompleteMigration(_ActOnMigration):
    """Force an ongoing live migration to complete (--os-compute-api-version
    2.22+).

    By UUID needs 2.59. Nova pauses the guest, or switches to post-copy where
    the deployment permits it, so the copy can finish.
    """

    feature = 'force_complete'
    command_words = 'server migration force complete'
    verb = 'force complete'

    def _call(self, compute, migration_id, server):
        compute.force_complete_server_migration(migration_id, server.id)
