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
"""``compute host drain``: live-migrate every server off compute hosts.

Nova's old ``host-evacuate-live`` fired every request at once and never
waited. This command drains hosts in waves, disables each before its first
migration, keeps the cloud inside ``--max-parallel`` and ``--max-per-host``
(counting what nova already runs), checks with placement that the hosts
left can hold each host's servers before it starts, and records where it
is (``--report``) so that ``--resume`` picks up a drain whose CLI died.
The work is in ``osc_livemigrate.plan``; this module reads the options and
wires the cloud to the runner.
"""

import time

from osc_lib.command import command

from osc_livemigrate import options
from osc_livemigrate.plan import cloud
from osc_livemigrate.plan import drain as dp
from osc_livemigrate.plan import fleet
from osc_livemigrate.plan import hosts as hs
from osc_livemigrate.plan import limits as lim
from osc_livemigrate.plan import report as rp
from osc_livemigrate.plan import run
from osc_livemigrate.plan import status
from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import lookups
from osc_livemigrate.tables import contract
from osc_livemigrate.tables import microversions as mv

RESULT_HEADERS = ('Host',) + dp.RESULT_HEADERS


def _add_parser_arguments(parser):
    parser.add_argument(
        'host',
        metavar='<host>',
        nargs='*',
        help='Compute host(s) to drain, in this order',
    )
    parser.add_argument(
        '--aggregate',
        metavar='<name>',
        help="Drain the aggregate's hosts too (sorted by name)",
    )
    parser.add_argument(
        '--availability-zone',
        metavar='<name>',
        help="Drain the availability zone's hosts too (sorted by name)",
    )
    parser.add_argument(
        '--hosts-at-once',
        metavar='<n>',
        type=int,
        default=1,
        help='Hosts drained together in one wave (default 1); a wave '
        'starts when the previous one is over',
    )
    parser.add_argument(
        '--max-parallel',
        metavar='<n>',
        type=int,
        help='Live migrations in flight in the whole cloud, counting those '
        'nova runs that this command did not start (default: no limit)',
    )
    parser.add_argument(
        '--max-per-host',
        metavar='<n>',
        type=int,
        help='Migrations touching one host, outbound and inbound, counting '
        "nova's own; the command then chooses each destination from "
        "placement's free capacity and nova's scheduler validates it "
        '(needs --os-compute-api-version %s)'
        % mv.version('live_migrate_host'),
    )
    parser.add_argument(
        '--concurrency',
        metavar='<n>',
        type=int,
        help='Deprecated: --max-per-host counting outbound migrations only '
        '(default 2 when --max-per-host is not given)',
    )
    parser.add_argument(
        '--disable',
        action='store_true',
        help='Deprecated: every drained host is disabled before its first '
        'migration',
    )
    parser.add_argument(
        '--disable-reason',
        metavar='<reason>',
        help='Reason recorded on each disabled service (default %r)'
        % options.DRAIN_REASON,
    )
    parser.add_argument(
        '--enable-after',
        action='store_true',
        help='Enable each host again once it is empty (and --wait-for, if '
        'given, succeeded)',
    )
    parser.add_argument(
        '--wait-for',
        metavar='<command>',
        help='Run this command with the host name as last argument once the '
        'host is empty; the host is enabled again only if it exits 0',
    )
    parser.add_argument(
        '--target-host',
        metavar='<host>',
        help='Send every server to this host (validated by the scheduler); '
        'default: let the scheduler choose',
    )
    block = parser.add_mutually_exclusive_group()
    block.add_argument(
        '--block-migration',
        dest='block_migration',
        action='store_true',
        default=None,
        help='Block live migration (default: auto)',
    )
    block.add_argument(
        '--shared-migration',
        dest='block_migration',
        action='store_false',
        help='Shared-storage live migration',
    )
    parser.add_argument(
        '--policy',
        metavar='<name>',
        help='Convergence policy for every server (server metadata %s)'
        % contract.POLICY_KEY,
    )
    parser.add_argument(
        '--server-policy',
        metavar='<server>=<name>',
        action='append',
        default=[],
        help='Policy for one server (name or ID); repeatable; overrides '
        '--policy',
    )
    for opt, kind, default, metavar, text in (
        ('--retries', int, 2, '<n>', 'Extra attempts for retryable failures'),
        ('--retry-delay', float, 10.0, '<seconds>', 'Seconds before a retry'),
        ('--poll-interval', float, 2.0, '<seconds>', 'Seconds between checks'),
    ):
        parser.add_argument(
            opt,
            metavar=metavar,
            type=kind,
            default=default,
            help='%s (default %s)' % (text, default),
        )
    parser.add_argument(
        '--wait-timeout',
        metavar='<seconds>',
        type=float,
        help='Give up on one server after this many seconds',
    )
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='Show the plan (waves, servers, policies, skips, capacity); '
        'change nothing',
    )
    parser.add_argument(
        '--report',
        metavar='<file>',
        help='Keep a JSON record of the drain in this file as it runs',
    )
    parser.add_argument(
        '--resume',
        metavar='<file>',
        help='Continue the drain this --report file records: moved servers '
        'stay, migrations in flight are followed, nothing starts twice',
    )
    return parser


class DrainHost(command.Lister):
    """Live-migrate every server off compute hosts, under cloud-wide limits.

    Hosts (named, of an aggregate or of an availability zone) are drained
    --hosts-at-once at a time. Before a host's first migration the command
    checks with placement that the enabled hosts left can hold its servers
    (and that anti-affinity groups leave each somewhere to go), and
    disables its nova-compute service; it stops before the first host that
    does not fit. Servers that are not ACTIVE or PAUSED are reported as
    skipped (cold-migrate them). Exits non-zero unless every server of
    every host was migrated. Safe to re-run, or to --resume from a
    --report file.
    """

    _clock = staticmethod(time.monotonic)
    _sleep = staticmethod(time.sleep)
    _run = None  # subprocess.run for --wait-for (tests replace it)

    def get_parser(self, prog_name):
        parser = _add_parser_arguments(super().get_parser(prog_name))
        self._defaults = {k: parser.get_default(k) for k in rp.RESUMED_OPTIONS}
        return parser

    def _say(self, line):
        self.app.stderr.write(line + '\n')
        self.app.stderr.flush()

    def take_action(self, parsed_args):
        args = parsed_args
        self._failed = False
        record = self._read_resume(args)
        policies = options.check_drain(args, self._say)
        mgr = self.app.client_manager
        compute = mgr.compute
        kwargs = lookups.live_migrate_kwargs(
            compute, args.block_migration, None, args.target_host
        )
        if args.limits.inbound:
            mv.require(
                compute,
                'live_migrate_host',
                '--max-per-host %s (the drain chooses each destination)'
                % args.max_per_host,
            )
        services = cloud.compute_services(compute)
        hosts = self._hosts(args, compute, services, record)
        in_flight = cloud.in_flight_servers(compute)
        ledger = cloud.read_ledger(
            compute, mgr.sdk_connection.placement, services, hosts
        )

        def plan_host(host):
            servers = cloud.servers_on(compute, host)
            cloud.name_needs(ledger, servers)
            items = dp.build_plan(servers, args.policy, policies)
            if record is not None:
                entry = rp.host_entry(record, host)
                items = rp.resume_items(entry, items, in_flight)
            return items

        host_plans = [
            fleet.HostPlan(n, h, tuple(plan_host(h)))
            for n, wave in enumerate(fleet.waves(hosts, args.hosts_at_once), 1)
            for h in wave
        ]
        if args.dry_run:
            return self._dry_run(args, ledger, host_plans)
        path = args.report or args.resume
        if record is None:
            record = rp.new(
                [
                    (hp.host, [(i.server_id, i.name) for i in hp.items])
                    for hp in host_plans
                ],
                time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                {k: getattr(args, k) for k in rp.RESUMED_OPTIONS},
            )
        display = status.Display(self.app.stderr)
        runner = run.Runner(
            compute,
            args.limits,
            kwargs,
            self._drain_hooks(
                args, compute, services, record, path, plan_host, display
            ),
            ledger=ledger,
            record=record,
            retries=args.retries,
            retry_delay_s=args.retry_delay,
            interval_s=args.poll_interval,
            timeout_s=args.wait_timeout,
            clock=self._clock,
            sleep=self._sleep,
            say=display.event,
            bytes_ok=mv.supports(compute, 'server_migrations'),
        )
        if path:
            rp.write(path, record)
        try:
            with errors.sdk_errors('drain %s' % ', '.join(hosts)):
                host_runs = runner.run(host_plans)
        except KeyboardInterrupt:
            display.done()
            raise errors.command_error(
                'Interrupted: the live migrations already started go on; %s'
                % (
                    'continue with --resume %s' % path
                    if path
                    else 'without --report nothing records where it was: '
                    'run the same command again'
                )
            ) from None
        display.done()
        self.app.stderr.write(
            status.render_table(
                status.SUMMARY_HEADERS, status.summary_rows(host_runs)
            )
        )
        self._failed = bool(runner.stopped) or any(
            dp.failed(list(hr.results.values())) for hr in host_runs
        )
        return RESULT_HEADERS, [
            (hr.host,) + hr.results[i.server_id].row()
            for hr in host_runs
            for i in hr.items
            if i.server_id in hr.results
        ]

    def _read_resume(self, args):
        if not args.resume:
            return None
        try:
            record = rp.read(args.resume)
        except (OSError, ValueError) as e:
            raise errors.command_error(
                '--resume %s: %s' % (args.resume, e)
            ) from None
        given = {k: getattr(args, k) for k in rp.RESUMED_OPTIONS}
        for key, value in rp.resumed_options(
            record, given, self._defaults
        ).items():
            setattr(args, key, value)
        return record

    def _hosts(self, args, compute, services, record):
        if record is not None:
            hosts = rp.hosts_left(record)
        else:
            hosts = fleet.select_hosts(
                args.host,
                cloud.aggregate_hosts(compute, args.aggregate)
                if args.aggregate
                else (),
                cloud.zone_hosts(services, args.availability_zone)
                if args.availability_zone
                else (),
            )
        cloud.check_hosts(hosts, services)
        if not hosts:
            self._say('Nothing to drain: every host of the report is done')
        return hosts

    def _drain_hooks(
        self, args, compute, services, record, path, plan_host, display
    ):
        def say(line):
            display.event(line, 'service')

        def wait_for(host):
            kw = {'run': self._run} if self._run else {}
            return cloud.wait_for(args.wait_for, host, **kw)

        return hs.Hooks(
            disable=lambda host: cloud.disable(
                compute, services[host], args.disable_reason, say
            ),
            enable=(
                (lambda host: cloud.enable(compute, services[host], say))
                if args.enable_after
                else None
            ),
            wait_for=wait_for if args.wait_for else None,
            save=(lambda: rp.write(path, record)) if path else None,
            progress=display.progress,
            plan=plan_host,
        )

    def _dry_run(self, args, ledger, host_plans):
        """The plan, with the capacity check of every host on paper."""
        placed, checked = {}, []
        ledger.defer([hp.host for hp in host_plans])
        for hp in host_plans:
            ledger.close([p.host for p in host_plans if p.wave == hp.wave])
            moving = [i.server_id for i in hp.items if i.action == dp.MIGRATE]
            fit = ledger.check(hp.host, moving)
            if not fit.ok or checked and checked[-1].stop:
                stop = fit.short or 'stopped before: %s' % checked[-1].stop
                hp = fleet.HostPlan(hp.wave, hp.host, hp.items, stop)
            else:
                ledger.reserve(fit)
                placed.update(fit.placed)
                for server_id in fit.placed:
                    ledger.moved(server_id, hp.host)
                if args.enable_after:
                    ledger.reopen(hp.host)
            checked.append(hp)
        for line in fleet.summary(
            checked,
            args.limits.describe(),
            [
                lim.nova_note(args.limits),
                lim.scheduler_note(args.limits, len(host_plans)),
            ],
        ):
            self._say(line)
        # NOTE: a plan that stops is a plan that fails: scripts can gate
        self._failed = any(hp.stop for hp in checked)
        return fleet.PLAN_HEADERS, fleet.plan_rows(checked, placed)

    def run(self, parsed_args):
        self._failed = False
        rc = super().run(parsed_args)
        return rc or (1 if self._failed else 0)
