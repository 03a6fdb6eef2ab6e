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
"""``server migrate``: core's command plus --policy and a --wait that tells the
truth.

Core's ``--wait`` polls every 5 s and says "Complete" even after a rollback;
this one shows live progress and exits 0 only when the server ended on
another host and the migration record says completed.
"""

import sys
import time

from osc_lib.command import command

from osc_livemigrate.follow import cold
from osc_livemigrate.follow import interrupts
from osc_livemigrate.follow import output
from osc_livemigrate.follow import progress
from osc_livemigrate.follow import waiting
from osc_livemigrate import options
from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import lookups
from osc_livemigrate.tables import contract
from osc_livemigrate.tables import microversions as mv

EXIT_DETACHED = 130
#: detached after SIGTERM: 128 + 15, as a shell reports a process SIGTERM
#: ended
EXIT_TERMINATED = 143
INTERRUPT_CHOICES = ('ask', 'abort', 'detach')


class MigrateServer(command.Command):
    """Migrate server to a different host, live or cold.

    A superset of the core command: every core option keeps its meaning and
    default. Added: --policy sets the server's ``livemigrate:policy`` metadata
    before a live migration; --wait shows live progress (a bar on a TTY, one
    JSON object per update otherwise or with -f json) and exits 0 only when the
    server ends on another host and nova's migration record says completed.
    Progress bytes need --os-compute-api-version 2.23 or above. The
    percentage counts memory and disk bytes no longer remaining and never
    goes backwards within a migration.
    """

    # NOTE: class attributes so tests can inject a fake clock and sleep.
    _clock = staticmethod(time.monotonic)
    _sleep = staticmethod(time.sleep)
    _stdin = None

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            'server', metavar='<server>', help='Server (name or ID)'
        )
        parser.add_argument(
            '--live-migration',
            dest='live_migration',
            action='store_true',
            help='Live migrate the server; use --host to name a target host, '
            'which '
            'the scheduler validates',
        )
        parser.add_argument(
            '--host',
            metavar='<hostname>',
            help='Migrate the server to this host (with --live-migration: '
            '--os-compute-api-version %s or above; without it: %s or above)'
            % (
                mv.version('live_migrate_host'),
                mv.version('cold_migrate_host'),
            ),
        )
        shared = parser.add_mutually_exclusive_group()
        shared.add_argument(
            '--shared-migration',
            dest='block_migration',
            action='store_false',
            default=None,
            help='Perform a shared live migration (default before '
            '--os-compute-api-version %s, auto after)'
            % mv.version('block_migration_auto'),
        )
        shared.add_argument(
            '--block-migration',
            dest='block_migration',
            action='store_true',
            help='Perform a block live migration (auto-configured from '
            '--os-compute-api-version %s)'
            % mv.version('block_migration_auto'),
        )
        disk = parser.add_mutually_exclusive_group()
        disk.add_argument(
            '--disk-overcommit',
            action='store_true',
            default=None,
            help='Allow disk over-commit on the destination host (only before '
            '--os-compute-api-version %s)'
            % mv.version('block_migration_auto'),
        )
        disk.add_argument(
            '--no-disk-overcommit',
            dest='disk_overcommit',
            action='store_false',
            help='Do not over-commit disk on the destination host (default; '
            'only '
            'before --os-compute-api-version %s)'
            % mv.version('block_migration_auto'),
        )
        parser.add_argument(
            '--wait',
            action='store_true',
            help='Wait for the migration to end, showing progress of memory '
            'and disk; exit non-zero unless it completed on another host. '
            '%s' % progress.PERCENT_HELP,
        )
        parser.add_argument(
            '--policy',
            metavar='<name>',
            help="Convergence policy for this server's live migrations "
            '(stored as server metadata %s; the driver may refuse it, '
            'which --wait reports as a failure)' % contract.POLICY_KEY,
        )
        parser.add_argument(
            '--wait-timeout',
            metavar='<seconds>',
            type=float,
            default=None,
            help='With --wait: give up waiting after this many seconds (exit '
            'non-zero; the migration keeps running). Default: no limit',
        )
        parser.add_argument(
            '--poll-interval',
            metavar='<seconds>',
            type=float,
            default=None,
            help='With --wait: seconds between refreshes (default 2)',
        )
        parser.add_argument(
            '--on-interrupt',
            choices=INTERRUPT_CHOICES,
            default=None,
            help='With --wait: what Ctrl-C (SIGINT) or SIGTERM does: ask '
            '(default; asks for Ctrl-C on a TTY, otherwise detaches), abort '
            'the migration, or detach and leave it running (exit 130, 143 '
            'after SIGTERM). Both signals reach the wait however the '
            'command was started, even with SIGINT ignored',
        )
        parser.add_argument(
            '-f',
            '--format',
            dest='progress_format',
            choices=('auto', 'json'),
            default=None,
            help='With --wait: auto (a bar on a TTY, JSON lines otherwise) or '
            'json',
        )
        return parser

    # ------------------------------------------------------------ start
    def take_action(self, parsed_args):
        args = parsed_args
        options.check_migrate(args)
        compute = self.app.client_manager.compute
        server = lookups.find_server(compute, args.server)
        label = server.name or server.id
        source = getattr(server, 'compute_host', None)
        if args.host and args.host == source:
            # NOTE: nova would answer "No valid host was found", which sends
            # the operator looking for capacity. compute_host is admin-only;
            # without it nova decides, as before.
            raise errors.command_error(
                'Server %s is already on host %s: --host must name another '
                'host' % (label, source)
            )
        if args.live_migration:
            kwargs = self._live_kwargs(compute, args)
            newest = None
            if args.wait:
                with errors.sdk_errors('list migrations of server %s' % label):
                    found = lookups.latest_live_migration(
                        compute,
                        server.id,
                        project_id=getattr(server, 'project_id', None),
                    )
                newest = found.id if found is not None else None
            if args.policy is not None:
                with errors.sdk_errors(
                    'set --policy %s on server %s' % (args.policy, label)
                ):
                    compute.set_server_metadata(
                        server, **{contract.POLICY_KEY: args.policy}
                    )
            with errors.sdk_errors('live-migrate server %s' % label):
                compute.live_migrate_server(server, **kwargs)
            if args.wait:
                with interrupts.caught():
                    return self._wait_live(
                        compute, server, source, newest, args
                    )
            return None
        self._cold_checks(compute, args)
        with errors.sdk_errors('migrate server %s' % label):
            compute.migrate_server(
                server, **({'host': args.host} if args.host else {})
            )
        if args.wait:
            return self._wait_cold(compute, server, source, args)
        return None

    def _live_kwargs(self, compute, args):
        return lookups.live_migrate_kwargs(
            compute,
            args.block_migration,
            args.disk_overcommit,
            args.host,
            warn=self.app.stderr.write,
        )

    def _cold_checks(self, compute, args):
        if args.block_migration or args.disk_overcommit:
            raise errors.command_error(
                '--live-migration must be specified if --block-migration or '
                '--disk-overcommit is specified'
            )
        if args.host:
            mv.require(
                compute,
                'cold_migrate_host',
                '--host %s without --live-migration' % args.host,
            )

    # ------------------------------------------------------------ wait
    def _wait_live(self, compute, server, source, newest, args):
        out = output.Output(self.app.stdout, args.progress_format)
        label = server.name or server.id
        t0 = self._clock()
        follower = waiting.Follower(
            compute,
            server,
            newest,
            mv.supports(compute, 'server_migrations'),
            lambda: self._clock() - t0,
        )
        refused = None
        while True:
            try:
                srv, upd = errors.ride_out_unreachable(
                    follower.refresh,
                    lambda line: out.line(line, kind='retry'),
                    self._sleep,
                    args.poll_interval,
                    adapter=compute,
                )
                out.update(upd)
                refusal = follower.refused(upd)
                if refusal is not None:
                    refused = refused or refusal
                if follower.new_refusal is not None:
                    refused = self._warn_refused(out, label, follower)
                if waiting.finished(srv, follower.record):
                    break
                elapsed = self._clock() - t0
                if (
                    args.wait_timeout is not None
                    and elapsed >= args.wait_timeout
                ):
                    raise errors.command_error(
                        'Gave up waiting after --wait-timeout %s s: migration '
                        '%s of server %s is still %s. Follow it with '
                        '`openstack server migration watch --server %s` or '
                        'stop it with `openstack server migration abort %s '
                        '%s`'
                        % (
                            args.wait_timeout,
                            _ref(follower.record),
                            label,
                            getattr(follower.record, 'status', 'starting'),
                            label,
                            label,
                            _ref(follower.record),
                        )
                    )
                self._sleep(args.poll_interval)
            except KeyboardInterrupt as interrupt:
                stdin = self._stdin or sys.stdin
                choice = interrupts.choose(
                    args.on_interrupt, interrupt, out, stdin, output.isatty
                )
                term = isinstance(interrupt, interrupts.Terminated)
                if choice == 'detach':
                    out.line(
                        '%sDetached: migration %s of server %s keeps '
                        'running; follow it with `openstack server migration '
                        'watch --server %s`'
                        % (
                            'SIGTERM: ' if term else '',
                            _ref(follower.record),
                            label,
                            label,
                        ),
                        kind='detached',
                    )
                    return EXIT_TERMINATED if term else EXIT_DETACHED
                if choice == 'abort':
                    self._abort(compute, server, follower.record, out)
        return self._verdict(
            compute,
            server,
            source,
            newest,
            follower.record,
            refused,
            out,
            t0,
            args.policy,
        )

    @staticmethod
    def _warn_refused(out, label, follower):
        """One warning line as soon as the driver published a refusal;
        progress goes on. :returns: what the verdict will say of it.
        """
        refusal = follower.new_refusal
        out.line(
            waiting.refusal_line(label, refusal),
            kind='policy_refused',
            server=label,
            migration=_ref(follower.record),
            **refusal,
        )
        return waiting.refusal_verdict(refusal)

    def _abort(self, compute, server, record, out):
        label = server.name or server.id
        if record is None:
            raise errors.command_error(
                'Interrupted before nova created the migration record of '
                'server %s; '
                'nothing to abort yet (see `openstack server migration list '
                '--server %s`)' % (label, label)
            )
        mv.require(compute, 'abort', '--on-interrupt abort')
        with errors.sdk_errors(
            'abort migration %s of server %s' % (_ref(record), label),
            hint='Aborting a queued or preparing migration needs '
            '--os-compute-api-version %s' % mv.version('abort_queued'),
        ):
            compute.abort_server_migration(
                record.id, server.id, ignore_missing=False
            )
        out.line(
            'Abort requested for migration %s; waiting for nova to roll back'
            % _ref(record),
            kind='notice',
        )

    def _verdict(
        self, compute, server, source, newest, record, refused, out, t0, policy
    ):
        label = server.name or server.id
        with errors.sdk_errors(
            'read the outcome of the migration of server %s' % label
        ):
            final = (
                lookups.latest_live_migration(
                    compute,
                    server.id,
                    newer_than=newest,
                    project_id=getattr(server, 'project_id', None),
                )
                or record
            )
            srv = compute.get_server(server.id)
        verdict = waiting.judge(
            compute, server.id, source, srv, final, policy, refused
        )
        status, host = verdict.status, verdict.host
        elapsed = self._clock() - t0
        out.line(
            '%s: %s (migration %s, %.0f s)'
            % (label, verdict.reason, _ref(final), elapsed),
            kind='result',
            ok=verdict.ok,
            server=label,
            migration=_ref(final),
            status=status,
            host=host,
            source=source,
            reason=verdict.reason,
            elapsed_s=round(elapsed, 1),
        )
        if not verdict.ok:
            raise errors.command_error(
                'Live migration of server %s did not complete: %s'
                % (label, verdict.reason)
            )
        return 0

    def _wait_cold(self, compute, server, source, args):
        out = output.Output(self.app.stdout, args.progress_format)
        return cold.wait(
            compute,
            server,
            source,
            out,
            args.poll_interval,
            args.wait_timeout,
            self._clock,
            self._sleep,
        )


def _ref(record):
    if record is None:
        return '?'
    return getattr(record, 'uuid', None) or str(record.id)
