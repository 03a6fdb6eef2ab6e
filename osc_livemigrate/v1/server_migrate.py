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

import re
import sys
import time

from osc_lib.command import command

from osc_livemigrate import common
from osc_livemigrate import microversions as mv
from osc_livemigrate import progress

POLICY_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')
EXIT_DETACHED = 130
INTERRUPT_CHOICES = ('ask', 'abort', 'detach')


class _Output:
    """Where updates go: a redrawn bar line on a TTY, else JSON lines."""

    def __init__(self, stream, json_lines, width=100):
        self.stream = stream
        self.json = json_lines
        self.width = width
        self._bar_open = False

    def update(self, upd):
        if self.json:
            self.stream.write(
                progress.render_json('progress', **upd.as_dict()) + '\n'
            )
        else:
            self.stream.write(
                '\r' + progress.render_bar(upd, self.width) + '\x1b[K'
            )
            self._bar_open = True
        self.stream.flush()

    def line(self, text, **fields):
        """A final or notice line: plain text on a TTY, a JSON object
        otherwise.
        """
        if self._bar_open:
            self.stream.write('\n')
            self._bar_open = False
        if self.json:
            self.stream.write(
                progress.render_json(
                    fields.pop('kind', 'notice'), message=text, **fields
                )
                + '\n'
            )
        else:
            self.stream.write(text + '\n')
        self.stream.flush()


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class MigrateServer(command.Command):
    """Migrate server to a different host, live or cold.

    A superset of the core command: every core option keeps its meaning and
    default. Added: --policy sets the server's ``livemigrate:policy`` metadata
    before a live migration; --wait shows live progress (a bar on a TTY, one
    JSON object per update otherwise or with -f json) and exits 0 only when the
    server ends on another host and nova's migration record says completed.
    Progress bytes need --os-compute-api-version 2.23 or above.
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
            help='Wait for the migration to end, showing progress; exit '
            'non-zero '
            'unless it completed on another host',
        )
        parser.add_argument(
            '--policy',
            metavar='<name>',
            help="Convergence policy for this server's live migrations "
            '(stored as '
            'server metadata livemigrate:policy; the driver may refuse it, '
            'which --wait reports as a failure)',
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
            default=2.0,
            help='With --wait: seconds between refreshes (default 2)',
        )
        parser.add_argument(
            '--on-interrupt',
            choices=INTERRUPT_CHOICES,
            default='ask',
            help='With --wait: what Ctrl-C does: ask (default; only on a TTY, '
            'otherwise detach), abort the migration, or detach and leave it '
            'running',
        )
        parser.add_argument(
            '-f',
            '--format',
            dest='progress_format',
            choices=('auto', 'json'),
            default='auto',
            help='With --wait: auto (a bar on a TTY, JSON lines otherwise) or '
            'json',
        )
        return parser

    # ------------------------------------------------------------ start
    def take_action(self, parsed_args):
        compute = self.app.client_manager.compute
        args = parsed_args
        if args.policy is not None:
            if not args.live_migration:
                raise common.command_error(
                    '--policy %s applies to live migrations only: add '
                    '--live-migration' % args.policy
                )
            if not POLICY_NAME.match(args.policy):
                raise common.command_error(
                    '--policy %r is not a policy name (letters, digits, ".", '
                    '"_", "-")' % args.policy
                )
        for opt, value in (
            ('--wait-timeout', args.wait_timeout),
            ('--poll-interval', args.poll_interval),
        ):
            if value is not None and value <= 0:
                raise common.command_error(
                    '%s %s must be a positive number of seconds' % (opt, value)
                )
        server = common.find_server(compute, args.server)
        label = server.name or server.id
        source = getattr(server, 'compute_host', None)
        if args.live_migration:
            kwargs = self._live_kwargs(compute, args)
            newest = None
            if args.wait:
                with common.sdk_errors('list migrations of server %s' % label):
                    found = common.latest_live_migration(compute, server.id)
                newest = found.id if found is not None else None
            if args.policy is not None:
                with common.sdk_errors(
                    'set --policy %s on server %s' % (args.policy, label)
                ):
                    compute.set_server_metadata(
                        server, **{progress.META_POLICY: args.policy}
                    )
            with common.sdk_errors('live-migrate server %s' % label):
                compute.live_migrate_server(server, **kwargs)
            if args.wait:
                return self._wait_live(compute, server, source, newest, args)
            return 0
        self._cold_checks(compute, args)
        with common.sdk_errors('migrate server %s' % label):
            compute.migrate_server(
                server, **({'host': args.host} if args.host else {})
            )
        if args.wait:
            return self._wait_cold(compute, server, source, args)
        return 0

    def _live_kwargs(self, compute, args):
        return common.live_migrate_kwargs(
            compute,
            args.block_migration,
            args.disk_overcommit,
            args.host,
            warn=self.app.stderr.write,
        )

    def _cold_checks(self, compute, args):
        if args.block_migration or args.disk_overcommit:
            raise common.command_error(
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
    def _output(self, args):
        tty = _isatty(self.app.stdout)
        return _Output(
            self.app.stdout,
            json_lines=args.progress_format == 'json' or not tty,
        )

    def _wait_live(self, compute, server, source, newest, args):
        out = self._output(args)
        label = server.name or server.id
        t0 = self._clock()
        tracker = progress.RateTracker()
        record = None
        refused = None
        bytes_ok = mv.supports(compute, 'server_migrations')
        while True:
            try:
                record, srv, upd = common.ride_out_unreachable(
                    lambda: self._refresh(
                        compute, server, record, newest, bytes_ok, t0, tracker
                    ),
                    lambda line: out.line(line, kind='retry'),
                    self._sleep,
                    args.poll_interval,
                )
                out.update(upd)
                if upd.action == progress.REFUSED:
                    refused = upd.reason or ''
                if self._finished(srv, record):
                    break
                elapsed = self._clock() - t0
                if (
                    args.wait_timeout is not None
                    and elapsed >= args.wait_timeout
                ):
                    raise common.command_error(
                        'Gave up waiting after --wait-timeout %s s: migration '
                        '%s of server '
                        '%s is still %s. Follow it with `openstack server '
                        'migration watch '
                        '--server %s` or stop it with `openstack server '
                        'migration abort '
                        '%s %s`'
                        % (
                            args.wait_timeout,
                            _ref(record),
                            label,
                            getattr(record, 'status', 'starting'),
                            label,
                            label,
                            _ref(record),
                        )
                    )
                self._sleep(args.poll_interval)
            except KeyboardInterrupt:
                choice = self._interrupt_choice(args, out)
                if choice == 'detach':
                    out.line(
                        'Detached: migration %s of server %s keeps running; '
                        'follow it '
                        'with `openstack server migration watch --server %s`'
                        % (_ref(record), label, label),
                        kind='detached',
                    )
                    return EXIT_DETACHED
                if choice == 'abort':
                    self._abort(compute, server, record, out)
        return self._verdict(
            compute,
            server,
            source,
            newest,
            record,
            refused,
            out,
            t0,
            requested=args.policy,
        )

    def _refresh(self, compute, server, record, newest, bytes_ok, t0, tracker):
        """One refresh, two calls while bytes flow: the server and the
        per-server
        migration; /os-migrations only until the record appears, or once the
        per-server API stops listing it (finished, or hidden in post-copy).
        """
        label = server.name or server.id
        with common.sdk_errors(
            'follow the migration of server %s' % label,
            hint='The migration goes on without us: follow it with `openstack '
            'server migration watch --server %s`' % label,
        ):
            srv = compute.get_server(server.id)
            live = None
            known = record is not None
            if known and bytes_ok and record.status in progress.IN_FLIGHT:
                live = common.in_progress_migration(
                    compute, record.id, server.id
                )
            if live is None and (
                record is None or record.status in progress.IN_FLIGHT
            ):
                record = (
                    common.latest_live_migration(
                        compute, server.id, newer_than=newest
                    )
                    or record
                )
                if (
                    not known
                    and record is not None
                    and bytes_ok
                    and record.status in progress.IN_FLIGHT
                ):
                    live = common.in_progress_migration(
                        compute, record.id, server.id
                    )
            if live is not None:
                record.status = live.status
        upd = progress.make_update(
            label,
            live or record,
            getattr(srv, 'metadata', None),
            self._clock() - t0,
            tracker,
            migration_uuid=getattr(record, 'uuid', None),
            status=getattr(record, 'status', None),
        )
        return record, srv, upd

    @staticmethod
    def _finished(srv, record):
        busy = (
            getattr(srv, 'task_state', None) is not None
            or (getattr(srv, 'status', '') or '').upper() == 'MIGRATING'
        )
        if busy:
            return False
        return record is None or record.status not in progress.IN_FLIGHT

    def _interrupt_choice(self, args, out):
        choice = args.on_interrupt
        if choice != 'ask':
            return choice
        stdin = self._stdin or sys.stdin
        if out.json or not _isatty(stdin):
            return 'detach'
        out.line(
            'Interrupted. [a]bort the migration, [d]etach, or [c]ontinue '
            'waiting? '
        )
        try:
            answer = stdin.readline().strip().lower()[:1]
        except KeyboardInterrupt:
            answer = 'd'
        return {'a': 'abort', 'c': 'continue'}.get(answer, 'detach')

    def _abort(self, compute, server, record, out):
        label = server.name or server.id
        if record is None:
            raise common.command_error(
                'Interrupted before nova created the migration record of '
                'server %s; '
                'nothing to abort yet (see `openstack server migration list '
                '--server %s`)' % (label, label)
            )
        mv.require(compute, 'abort', '--on-interrupt abort')
        with common.sdk_errors(
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
        self,
        compute,
        server,
        source,
        newest,
        record,
        refused,
        out,
        t0,
        requested=None,
    ):
        label = server.name or server.id
        with common.sdk_errors(
            'read the outcome of the migration of server %s' % label
        ):
            final = (
                common.latest_live_migration(
                    compute, server.id, newer_than=newest
                )
                or record
            )
            srv = compute.get_server(server.id)
        status = getattr(final, 'status', None)
        host = getattr(srv, 'compute_host', None)
        keys = progress.driver_keys(
            getattr(srv, 'metadata', None), getattr(final, 'uuid', None)
        )
        # NOTE: a refusal is published once and soon overwritten by the
        # fallback policy's first action; policy_used stays, so compare it.
        used = keys.get('policy_used')
        if requested and used and used != requested and refused is None:
            refused = 'the driver ran policy %s instead of %s' % (
                used,
                requested,
            )
        events = []
        if status != progress.SUCCESS or host == source or refused is not None:
            events = common.failed_events(compute, server.id)
        verdict = progress.decide_outcome(
            source, host, status, keys, events, refused
        )
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
            raise common.command_error(
                'Live migration of server %s did not complete: %s'
                % (label, verdict.reason)
            )
        return 0

    def _wait_cold(self, compute, server, source, args):
        """Cold migration: wait for VERIFY_RESIZE on another host, honestly."""
        out = self._output(args)
        label = server.name or server.id
        t0 = self._clock()
        while True:
            with common.sdk_errors(
                'follow the migration of server %s' % label
            ):
                srv = compute.get_server(server.id)
            status = (srv.status or '').upper()
            if srv.task_state is None and status in (
                'VERIFY_RESIZE',
                'ACTIVE',
                'ERROR',
                'SHUTOFF',
            ):
                break
            if (
                args.wait_timeout is not None
                and self._clock() - t0 >= args.wait_timeout
            ):
                raise common.command_error(
                    'Gave up waiting after --wait-timeout %s s: '
                    'server %s is still %s'
                    % (args.wait_timeout, label, srv.status)
                )
            self._sleep(args.poll_interval)
        host = getattr(srv, 'compute_host', None)
        if status == 'VERIFY_RESIZE' and host != source:
            out.line(
                '%s: migrated to %s; confirm with `openstack server migration '
                'confirm %s`' % (label, host, label),
                kind='result',
                ok=True,
                host=host,
            )
            return 0
        events = common.failed_events(
            compute, server.id, action_name='migrate'
        )
        reason = 'server is %s on %s' % (srv.status, host) + ''.join(
            '; event %s: %s' % e for e in events
        )
        raise common.command_error(
            'Migration of server %s did not complete: %s' % (label, reason)
        )


def _ref(record):
    if record is None:
        return '?'
    return getattr(record, 'uuid', None) or str(record.id)
