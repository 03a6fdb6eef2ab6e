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
"""``server migration watch``: a live view of in-flight migrations.

Cheap by design: one API call per refresh for a server; for a host or the
whole cloud one /os-migrations listing plus one call per in-flight live
migration. Clock and sleep are injectable so tests run without waiting.
"""

import time

from osc_lib.command import command

from osc_livemigrate import common
from osc_livemigrate import microversions as mv
from osc_livemigrate import progress

CLEAR = '\x1b[H\x1b[2J'


class Poller:
    """Fetches one refresh worth of Updates for a scope; no output, no sleep.

    :param compute: openstacksdk compute proxy.
    :param server_id: watch one server (one call per refresh), or
    :param host: watch migrations from or to one host, or neither for all.
    """

    def __init__(self, compute, server_id=None, host=None, label=None):
        self.compute = compute
        self.server_id = server_id
        self.host = host
        self.label = label
        self._rates = {}

    def poll(self, elapsed_s):
        if self.server_id:
            pairs = [
                (m, m)
                for m in self.compute.server_migrations(self.server_id)
                if m.status in progress.IN_FLIGHT
            ]
        else:
            query = {'host': self.host} if self.host else {}
            pairs = []
            for m in self.compute.migrations(**query):
                if m.status not in progress.IN_FLIGHT:
                    continue
                live = None
                if getattr(m, 'migration_type', None) in (
                    None,
                    'live-migration',
                ):
                    live = common.in_progress_migration(
                        self.compute, m.id, m.server_id
                    )
                pairs.append((m, live))
        updates = []
        for record, live in pairs:
            key = getattr(record, 'uuid', None) or record.id
            tracker = self._rates.setdefault(key, progress.RateTracker())
            server = (
                self.label
                or getattr(record, 'server_id', None)
                or getattr(record, 'server_uuid', None)
                or self.server_id
            )
            updates.append(
                progress.make_update(
                    server,
                    live or record,
                    None,
                    elapsed_s,
                    tracker,
                    migration_uuid=getattr(record, 'uuid', None)
                    or str(record.id),
                    status=record.status,
                )
            )
        return updates


class WatchMigration(command.Command):
    """Watch in-flight migrations until none remain, or Ctrl-C.

    Scope: --server (one server), --host (migrations from or to a host) or
    neither (every migration in the cloud). On a TTY the table is redrawn;
    otherwise, or with -f json, one JSON object per refresh. Needs
    --os-compute-api-version 2.23 or above.
    """

    _clock = staticmethod(time.monotonic)
    _sleep = staticmethod(time.sleep)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument(
            '--server',
            metavar='<server>',
            help="Watch one server's migrations (name or ID)",
        )
        scope.add_argument(
            '--host',
            metavar='<host>',
            help='Watch migrations from or to this compute host',
        )
        parser.add_argument(
            '--interval',
            metavar='<seconds>',
            type=float,
            default=2.0,
            help='Seconds between refreshes (default 2)',
        )
        parser.add_argument(
            '--count',
            metavar='<n>',
            type=int,
            default=None,
            help='Stop after this many refreshes (default: until none remain)',
        )
        parser.add_argument(
            '-f',
            '--format',
            dest='watch_format',
            choices=('auto', 'json'),
            default='auto',
            help='auto (a redrawn table on a TTY, JSON lines otherwise) '
            'or json',
        )
        return parser

    def take_action(self, parsed_args):
        compute = self.app.client_manager.compute
        args = parsed_args
        if args.interval <= 0:
            raise common.command_error(
                '--interval %s must be a positive number of seconds'
                % args.interval
            )
        if args.count is not None and args.count < 1:
            raise common.command_error(
                '--count %s must be 1 or more' % args.count
            )
        mv.require(compute, 'server_migrations', 'server migration watch')
        if args.server:
            server = common.find_server(compute, args.server)
            poller = Poller(
                compute, server_id=server.id, label=server.name or server.id
            )
        else:
            poller = Poller(compute, host=args.host)
        stream = self.app.stdout
        json_lines = args.watch_format == 'json' or not _isatty(stream)
        t0 = self._clock()
        refreshes = 0

        def refresh():
            elapsed = self._clock() - t0
            with common.sdk_errors('watch migrations'):
                return elapsed, poller.poll(elapsed)

        def notice(line):
            stream.write(
                (
                    progress.render_json('retry', message=line)
                    if json_lines
                    else line
                )
                + '\n'
            )

        try:
            while True:
                elapsed, updates = common.ride_out_unreachable(
                    refresh, notice, self._sleep, args.interval
                )
                refreshes += 1
                self._show(stream, json_lines, updates, elapsed, args)
                if not updates or (args.count and refreshes >= args.count):
                    break
                self._sleep(args.interval)
        except KeyboardInterrupt:
            stream.write('\n')
        return 0

    @staticmethod
    def _show(stream, json_lines, updates, elapsed, args):
        if json_lines:
            stream.write(
                progress.render_json(
                    'refresh',
                    elapsed_s=round(elapsed, 1),
                    migrations=[u.as_dict() for u in updates],
                )
                + '\n'
            )
        elif updates:
            stream.write(
                CLEAR
                + 'Every %.0f s: in-flight migrations%s\n\n%s\n'
                % (args.interval, _scope(args), progress.render_table(updates))
            )
        else:
            stream.write('No migration in progress%s.\n' % _scope(args))
        stream.flush()


def _scope(args):
    if args.server:
        return ' of server %s' % args.server
    if args.host:
        return ' on host %s' % args.host
    return ''


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
