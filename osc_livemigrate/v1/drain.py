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
"""``compute host drain``: live-migrate every server off one compute host.

Nova's old ``host-evacuate-live`` fired every request at once and never
waited. This command optionally disables the host's nova-compute service,
keeps at most --concurrency migrations in flight, retries what is worth
retrying, and ends with one row per server; a re-run only touches what is
still on the host.
"""

import time

from osc_lib.command import command

from osc_livemigrate.follow import waiting
from osc_livemigrate import options
from osc_livemigrate.plan import drain as dp
from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import lookups
from osc_livemigrate.tables import contract

BINARY = 'nova-compute'


class _Running:
    def __init__(self, item, attempt, started, newest):
        self.item, self.attempt, self.started, self.newest = (
            item,
            attempt,
            started,
            newest,
        )


class Drainer:
    """Runs a plan: one thread, polling; clock and sleep injectable for tests.

    Per poll it makes one GET per migration in flight, and one
    /os-migrations listing per migration whose server looks finished.
    """

    def __init__(
        self,
        compute,
        host,
        kwargs,
        concurrency,
        retries,
        retry_delay_s,
        interval_s,
        timeout_s=None,
        clock=time.monotonic,
        sleep=time.sleep,
        say=None,
    ):
        self.compute, self.host, self.kwargs = compute, host, kwargs
        self.concurrency, self.retries = concurrency, retries
        self.retry_delay_s, self.interval_s, self.timeout_s = (
            retry_delay_s,
            interval_s,
            timeout_s,
        )
        self.clock, self.sleep = clock, sleep
        self.say = say or (lambda msg: None)

    def run(self, plan):
        results = {}
        pending = []  # (not_before, attempt, item)
        running = []
        for item in plan:
            if item.action == dp.SKIP:
                results[item.server_id] = dp.Result(
                    item.name, dp.SKIPPED, reason=item.reason
                )
            elif item.action == dp.FOLLOW:
                self.say(
                    '%s: following the live migration already running'
                    % item.name
                )
                running.append(_Running(item, 1, self.clock(), None))
            else:
                pending.append((0.0, 1, item))
        total = len(plan)
        while pending or running:
            now = self.clock()
            while pending and len(running) < self.concurrency:
                ready = [p for p in pending if p[0] <= now]
                if not ready:
                    break
                pending.remove(ready[0])
                _, attempt, item = ready[0]
                started = self._start(item, attempt, results, pending, total)
                if started:
                    running.append(started)
            for run in list(running):
                done = self._check(run, results, pending, total)
                if done:
                    running.remove(run)
            if pending or running:
                self.sleep(self.interval_s)
        return [results[item.server_id] for item in plan]

    def _start(self, item, attempt, results, pending, total):
        from openstack import exceptions as sdk_exc

        try:
            if item.policy and attempt == 1:
                self.compute.set_server_metadata(
                    item.server_id, **{contract.POLICY_KEY: item.policy}
                )
            newest = lookups.latest_live_migration(
                self.compute, item.server_id
            )
            self.compute.live_migrate_server(item.server_id, **self.kwargs)
        except sdk_exc.SDKException as e:
            code = getattr(e, 'status_code', None)
            reason = str(
                errors.translate_error(e, 'live-migrate server %s' % item.name)
            )
            if dp.retry_start_error(code) and attempt <= self.retries:
                self.say(
                    '%s: start failed (%s); retrying in %.0f s'
                    % (item.name, reason, self.retry_delay_s)
                )
                pending.append(
                    (self.clock() + self.retry_delay_s, attempt + 1, item)
                )
            else:
                results[item.server_id] = dp.Result(
                    item.name, dp.FAILED, reason=reason, attempts=attempt
                )
                self.say('%s: failed to start: %s' % (item.name, reason))
            return None
        self.say(
            '[%d/%d] %s: live migration started (attempt %d)'
            % (len(results) + 1, total, item.name, attempt)
        )
        return _Running(
            item, attempt, self.clock(), newest.id if newest else None
        )

    def _check(self, run, results, pending, total):
        item = run.item
        elapsed = self.clock() - run.started
        srv = self.compute.get_server(item.server_id)
        if waiting.busy(srv):
            if self.timeout_s is not None and elapsed >= self.timeout_s:
                results[item.server_id] = dp.Result(
                    item.name,
                    dp.TIMED_OUT,
                    None,
                    elapsed,
                    'still migrating after --wait-timeout %s s; it keeps '
                    'running (see '
                    '`openstack server migration watch --server %s`)'
                    % (self.timeout_s, item.server_id),
                    run.attempt,
                )
                return True
            return False
        record = lookups.latest_live_migration(
            self.compute, item.server_id, newer_than=run.newest
        )
        if not waiting.finished(srv, record):
            return False
        status = getattr(record, 'status', None)
        verdict = waiting.verdict(self.host, srv, record)
        if verdict.ok:
            results[item.server_id] = dp.Result(
                item.name,
                dp.MIGRATED,
                srv.compute_host,
                elapsed,
                '',
                run.attempt,
            )
            self.say(
                '[%d/%d] %s: migrated to %s in %.0f s'
                % (len(results), total, item.name, srv.compute_host, elapsed)
            )
            return True
        if (
            srv.compute_host == self.host
            and dp.retry_outcome(status)
            and run.attempt <= self.retries
        ):
            self.say(
                '%s: %s; retrying in %.0f s'
                % (item.name, verdict.reason, self.retry_delay_s)
            )
            pending.append(
                (self.clock() + self.retry_delay_s, run.attempt + 1, item)
            )
            return True
        reason = waiting.judge(
            self.compute, item.server_id, self.host, srv, record
        ).reason
        results[item.server_id] = dp.Result(
            item.name,
            dp.FAILED,
            srv.compute_host,
            elapsed,
            reason,
            run.attempt,
        )
        self.say(
            '[%d/%d] %s: failed: %s' % (len(results), total, item.name, reason)
        )
        return True


class DrainHost(command.Lister):
    """Live-migrate every server off a compute host, a few at a time.

    Optionally disables the host's nova-compute service first (--disable,
    --disable-reason) so nothing new lands there. Servers that are not ACTIVE
    or PAUSED are reported as skipped (cold-migrate them). Exits non-zero
    unless every server on the host was migrated. Safe to re-run: only
    servers still on the host are touched, and a policy already set is not
    written again.
    """

    _clock = staticmethod(time.monotonic)
    _sleep = staticmethod(time.sleep)

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            'host', metavar='<host>', help='Compute host to drain'
        )
        parser.add_argument(
            '--disable',
            action='store_true',
            help="Disable the host's nova-compute service first",
        )
        parser.add_argument(
            '--disable-reason',
            metavar='<reason>',
            help='Reason recorded on the disabled service (implies --disable)',
        )
        parser.add_argument(
            '--target-host',
            metavar='<host>',
            help='Send every server to this host (validated by the '
            'scheduler); default: let the scheduler choose',
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
            '--concurrency',
            metavar='<n>',
            type=int,
            default=2,
            help='Live migrations in flight at once (default 2; nova '
            'also queues beyond max_concurrent_live_migrations)',
        )
        parser.add_argument(
            '--policy',
            metavar='<name>',
            help='Convergence policy for every server (server metadata '
            '%s)' % contract.POLICY_KEY,
        )
        parser.add_argument(
            '--server-policy',
            metavar='<server>=<name>',
            action='append',
            default=[],
            help='Policy for one server (name or ID); repeatable; '
            'overrides --policy',
        )
        parser.add_argument(
            '--retries',
            metavar='<n>',
            type=int,
            default=2,
            help='Extra attempts for retryable failures (default 2)',
        )
        parser.add_argument(
            '--retry-delay',
            metavar='<seconds>',
            type=float,
            default=10.0,
            help='Seconds before a retry (default 10)',
        )
        parser.add_argument(
            '--poll-interval',
            metavar='<seconds>',
            type=float,
            default=2.0,
            help='Seconds between checks (default 2)',
        )
        parser.add_argument(
            '--wait-timeout',
            metavar='<seconds>',
            type=float,
            default=None,
            help='Give up on one server after this many seconds',
        )
        parser.add_argument(
            '--dry-run',
            action='store_true',
            help='Show the plan; change nothing',
        )
        return parser

    def take_action(self, parsed_args):
        args = parsed_args
        policies = options.check_drain(args)
        compute = self.app.client_manager.compute
        kwargs = lookups.live_migrate_kwargs(
            compute, args.block_migration, None, args.target_host
        )
        with errors.sdk_errors(
            'find the %s service of host %s' % (BINARY, args.host)
        ):
            services = list(compute.services(host=args.host, binary=BINARY))
        if not services:
            raise errors.command_error(
                'Host %s runs no %s service (see `openstack compute service '
                'list '
                '--service %s`)' % (args.host, BINARY, BINARY)
            )
        with errors.sdk_errors('list servers on host %s' % args.host):
            servers = list(
                compute.servers(all_projects=True, compute_host=args.host)
            )
        plan = dp.build_plan(servers, args.policy, policies)

        def say(msg):
            self.app.stderr.write(msg + '\n')
            self.app.stderr.flush()

        if args.dry_run:
            self._failed = False
            return dp.RESULT_HEADERS, [
                (
                    i.name,
                    dp.PLANNED if i.action != dp.SKIP else dp.SKIPPED,
                    None,
                    None,
                    i.reason
                    or ('set policy %s' % i.policy if i.policy else ''),
                )
                for i in plan
            ]
        if args.disable or args.disable_reason:
            self._disable(compute, services[0], args, say)
        if not plan:
            say('Nothing to drain: host %s has no servers' % args.host)
        drainer = Drainer(
            compute,
            args.host,
            kwargs,
            args.concurrency,
            args.retries,
            args.retry_delay,
            args.poll_interval,
            args.wait_timeout,
            clock=self._clock,
            sleep=self._sleep,
            say=say,
        )
        with errors.sdk_errors('drain host %s' % args.host):
            results = drainer.run(plan)
        self._failed = dp.failed(results)
        return dp.RESULT_HEADERS, [r.row() for r in results]

    def _disable(self, compute, service, args, say):
        reason = args.disable_reason
        if service.status == 'disabled' and (
            not reason or service.disabled_reason == reason
        ):
            say(
                '%s on %s already disabled (%s)'
                % (BINARY, args.host, service.disabled_reason or 'no reason')
            )
            return
        with errors.sdk_errors('disable %s on host %s' % (BINARY, args.host)):
            compute.disable_service(
                service, host=args.host, binary=BINARY, disabled_reason=reason
            )
        say(
            'Disabled %s on %s%s'
            % (BINARY, args.host, ' (%s)' % reason if reason else '')
        )

    def run(self, parsed_args):
        self._failed = False
        rc = super().run(parsed_args)
        return rc or (1 if self._failed else 0)
