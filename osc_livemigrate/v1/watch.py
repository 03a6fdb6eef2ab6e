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

from osc_livemigrate.follow import output
from osc_livemigrate.follow import progress
from osc_livemigrate.follow import waiting
from osc_livemigrate import options
from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import lookups
from osc_livemigrate.tables import microversions as mv

CLEAR = '\x1b[H\x1b[2J'


class WatchMigration(command.Command):
    """Watch in-flight migrations until none remain, or Ctrl-C.

    Scope: --server (one server), --host (migrations from or to a host) or
    neither (every migration in the cloud). On a TTY the table is redrawn;
    otherwise, or with -f json, one JSON object per refresh, with each
    server's name, the driver's phase, and memory and disk bytes. The
    percentage counts memory and disk bytes no longer remaining and never
    goes backwards within a migration. Each refresh costs requests in
    proportion to the migrations in flight, not to the cloud's history.
    Needs --os-compute-api-version 2.23 or above.
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
        args = parsed_args
        options.check_watch(args)
        compute = self.app.client_manager.compute
        mv.require(compute, 'server_migrations', 'server migration watch')
        if args.server:
            server = lookups.find_server(compute, args.server)
            poller = waiting.Poller(
                compute, server_id=server.id, label=server.name or server.id
            )
        else:
            poller = waiting.Poller(compute, host=args.host)
        out = output.Output(self.app.stdout, args.watch_format)
        t0 = self._clock()
        refreshes = 0
        warnings = []

        def refresh():
            elapsed = self._clock() - t0
            with errors.sdk_errors('watch migrations'):
                return elapsed, poller.poll(elapsed)

        try:
            while True:
                elapsed, updates = errors.ride_out_unreachable(
                    refresh,
                    lambda line: out.line(line, kind='retry'),
                    self._sleep,
                    args.interval,
                    adapter=compute,
                )
                refreshes += 1
                self._show(out, updates, elapsed, args)
                self._warn_refused(out, poller, warnings, updates)
                if not updates or (args.count and refreshes >= args.count):
                    break
                self._sleep(args.interval)
        except KeyboardInterrupt:
            out.text('\n')
        return 0

    @staticmethod
    def _show(out, updates, elapsed, args):
        if out.json:
            out.record(
                'refresh',
                elapsed_s=round(elapsed, 1),
                migrations=[u.as_dict() for u in updates],
            )
        elif updates:
            out.text(
                CLEAR
                + 'Every %.0f s: in-flight migrations%s\n\n%s\n'
                % (args.interval, _scope(args), progress.render_table(updates))
            )
        else:
            out.text('No migration in progress%s.\n' % _scope(args))

    @staticmethod
    def _warn_refused(out, poller, warnings, updates):
        """A refusal as soon as the driver published it: one JSON object,
        or one line kept under each redrawn table (not repeated under the
        final "No migration in progress").
        """
        for server, migration, refusal in poller.new_refusals:
            line = waiting.refusal_line(server, refusal)
            if out.json:
                out.line(
                    line,
                    kind='policy_refused',
                    server=server,
                    migration=migration,
                    **refusal,
                )
            else:
                warnings.append(line)
        if warnings and updates and not out.json:
            out.text('\n'.join(warnings) + '\n')


def _scope(args):
    if args.server:
        return ' of server %s' % args.server
    if args.host:
        return ' on host %s' % args.host
    return ''
