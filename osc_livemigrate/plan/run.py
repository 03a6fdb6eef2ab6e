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
"""Run a drain plan: waves of hosts under the cloud-wide limits.

One thread, polling; the clock, the sleep and every action on a host
(disable, enable, the operator's ``--wait-for``) are injected, so a unit
test runs a whole drain on a fake clock. Per poll: nova's in-flight
migrations (one listing per in-flight status, see
``waiting.in_flight_records``), then per migration of ours the server, and
its record once the server looks finished.

The limits are judged before every start on a count that is never below
the truth: nova's in-flight records, plus every migration this run started
whose record has not ended yet (nova creates the record after answering
202; the server is idle a moment before its record says so).
"""

import collections
import time

from osc_livemigrate.follow import waiting
from osc_livemigrate.plan import drain as dp
from osc_livemigrate.plan import hosts
from osc_livemigrate.plan import limits as lim
from osc_livemigrate.plan import report as rp
from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import lookups
from osc_livemigrate.tables import contract


class Runner:
    """Drains hosts wave by wave; see the module docstring.

    :param ledger: a ``capacity.Ledger`` (checked before each host, and,
        with ``limits.inbound``, where destinations are chosen), or None.
    :param record: the ``--report`` record (``report.new``), or None.
    :param say: ``say(text, kind, **fields)``: one event line.
    :param bytes_ok: whether to read the bytes left of each migration of
        ours (the per-server migration API, microversion 2.23).
    """

    def __init__(
        self,
        compute,
        limits,
        kwargs,
        hooks,
        ledger=None,
        record=None,
        retries=2,
        retry_delay_s=10.0,
        interval_s=2.0,
        timeout_s=None,
        clock=time.monotonic,
        sleep=time.sleep,
        say=None,
        bytes_ok=False,
    ):
        self.compute, self.limits, self.kwargs = compute, limits, kwargs
        self.hooks, self.ledger, self.record = hooks, ledger, record
        self.retries, self.retry_delay_s = retries, retry_delay_s
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.clock, self.sleep = clock, sleep
        self.bytes_ok = bytes_ok
        self.say = say or (lambda text, kind='notice', **f: None)
        self.running = {}  # server ID -> Running
        self.pending = []  # [not_before, attempt, HostRun, Item]
        self.hosts = []  # HostRun of every host, in plan order
        self.stopped = ''
        self.nova_flights = []
        self.nova_bytes = {}  # server ID -> bytes left, as nova last said
        self._hr = {}  # server ID -> the HostRun it leaves
        self._rec = rp.Recorder(record, hooks.save if hooks else None)
        #: whether the drain chooses destinations (an inbound limit)
        self.chooses = limits.inbound and limits.max_per_host is not None
        if self.chooses and ledger is None:
            raise ValueError('an inbound limit needs a capacity ledger')

    # -- the plan
    def run(self, host_plans):
        """Drain ``host_plans`` (``fleet.HostPlan``, by wave).

        :returns: list of ``hosts.HostRun``, in plan order.
        """
        by_wave = collections.OrderedDict()
        for hp in host_plans:
            hr = hosts.HostRun(hp.host, hp.items)
            self.hosts.append(hr)
            by_wave.setdefault(hp.wave, []).append(hr)
        if self.ledger is not None:
            # NOTE: a host drained later is a destination of last resort:
            # a server sent there moves twice
            self.ledger.defer([hr.host for hr in self.hosts])
        for wave in by_wave.values():
            if self.ledger is not None:
                self.ledger.close([hr.host for hr in wave])
            active = [hr for hr in wave if self._admit(hr)]
            if active:
                self._drain(active)
                for hr in active:
                    self._finish(hr)
        return self.hosts

    def _admit(self, hr):
        """Check capacity and disable the host; False stops the drain."""
        if self.stopped:
            hr.state, hr.stop = rp.STOPPED, self.stopped
            self._rec.host(hr)
            return False
        if self.hooks.plan is not None:
            # what is on the host now: a scheduler may have sent servers
            # there since the plan was made
            hr.items = tuple(self.hooks.plan(hr.host))
        if self.ledger is not None:
            moving = [i.server_id for i in hr.items if i.action == dp.MIGRATE]
            fit = self.ledger.check(hr.host, moving)
            if not fit.ok:
                self.stopped = fit.short
                hr.state, hr.stop = rp.STOPPED, fit.short
                self.say(
                    'Stopping before host %s: %s' % (hr.host, fit.short),
                    'stop',
                    host=hr.host,
                )
                self._rec.host(hr)
                return False
            self.ledger.reserve(fit)
        self.hooks.disable(hr.host)
        hr.state, hr.started = rp.DISABLED, self.clock()
        self._rec.host(hr)
        for item in hr.items:
            if item.action == dp.SKIP:
                hr.results[item.server_id] = dp.Result(
                    item.name, dp.SKIPPED, reason=item.reason
                )
                self._rec.server(hr, item, dp.SKIPPED, reason=item.reason)
            elif item.action == dp.FOLLOW:
                self.say(
                    '%s: following the live migration already running'
                    % item.name,
                    'follow',
                    host=hr.host,
                    server=item.name,
                )
                self.running[item.server_id] = hosts.Running(
                    item, hr.host, 1, self.clock()
                )
                self._hr[item.server_id] = hr
            elif item.action == dp.DONE:
                hr.results[item.server_id] = dp.Result(
                    item.name, dp.MIGRATED, reason=item.reason
                )
                # NOTE: the killed run's record says 'started' at most
                self._rec.server(hr, item, dp.MIGRATED, reason=item.reason)
            else:
                self.pending.append([0.0, 1, hr, item])
        return True

    def _finish(self, hr):
        hr.ended = self.clock()
        if any(r.result not in dp.OK_RESULTS for r in hr.results.values()):
            hr.state = rp.DISABLED
            self._rec.host(hr, 'not drained: see the failed servers')
            return
        hr.state = rp.DRAINED
        self._rec.host(hr)
        if self.hooks.enable is None:
            return
        if self.hooks.wait_for is not None:
            ok, message = self.hooks.wait_for(hr.host)
            if not ok:
                self.say(
                    'Host %s stays disabled: --wait-for %s'
                    % (hr.host, message),
                    'wait-for',
                    host=hr.host,
                )
                hr.stop = '--wait-for ' + message
                self._rec.host(hr, hr.stop)
                return
        self.hooks.enable(hr.host)
        if self.ledger is not None:
            self.ledger.reopen(hr.host)
        hr.state = rp.ENABLED
        self._rec.host(hr)

    # -- the loop
    def _drain(self, active):
        while self.pending or self.running:
            self._refresh_nova()
            self._start_what_fits()
            for sid in list(self.running):
                if self._check(self.running[sid]):
                    del self.running[sid]
            if self.hooks.progress is not None:
                self.hooks.progress(self)
            if self.pending or self.running:
                self.sleep(self.interval_s)

    def _refresh_nova(self):
        """nova's in-flight migrations, and the bytes left of ours (one
        GET each: /os-migrations has no byte counts).
        """
        flights, left = [], {}
        for m in waiting.in_flight_records(self.compute):
            sid = getattr(m, 'server_id', None) or getattr(m, 'id', None)
            flights.append(lim.Flight(sid, m.source_compute, m.dest_compute))
            live = m
            if self.bytes_ok and sid in self.running:
                live = lookups.in_progress_migration(self.compute, m.id, sid)
            remaining = hosts.remaining_bytes(live)
            if remaining is not None:
                left[sid] = remaining
        self.nova_flights, self.nova_bytes = flights, left

    def flights(self):
        """Every migration counted against the limits now."""
        by_key = {}
        for f in self.nova_flights:
            by_key[f.key] = f
        for sid, run in self.running.items():
            seen = by_key.get(sid)
            by_key[sid] = lim.Flight(
                sid, run.host, (seen and seen.dest) or run.dest
            )
        return list(by_key.values())

    def _start_what_fits(self):
        now = self.clock()
        flights = self.flights()
        for entry in sorted(
            (p for p in self.pending if p[0] <= now),
            key=lambda p: (p[0], self.hosts.index(p[2])),
        ):
            _, attempt, hr, item = entry
            current = lim.load(flights)
            dest = None
            if self.chooses:
                candidates = self.ledger.destinations(item.server_id)
                # where hosts not drained later can take it, wait for them
                candidates = [
                    c for c in candidates if c not in self.ledger.later
                ] or candidates
                if not candidates and not self.running:
                    # NOTE: nothing under way can give room back: waiting
                    # would be for ever
                    self.pending.remove(entry)
                    self._result(
                        hr,
                        item,
                        dp.Result(
                            item.name,
                            dp.FAILED,
                            None,
                            None,
                            'no enabled host has room for it (placement)',
                            attempt,
                        ),
                        'failed: no enabled host has room for it',
                    )
                    continue
                dest = lim.pick_destination(current, self.limits, candidates)
                if dest is None:
                    continue
            if lim.blocked(current, self.limits, hr.host, dest) is not None:
                continue
            self.pending.remove(entry)
            if self._start(hr, item, attempt, dest):
                flights.append(lim.Flight(item.server_id, hr.host, dest))

    def _start(self, hr, item, attempt, dest):
        from openstack import exceptions as sdk_exc

        self._rec.server(hr, item, rp.STARTING, attempts=attempt)
        try:
            if item.policy and attempt == 1:
                self.compute.set_server_metadata(
                    item.server_id, **{contract.POLICY_KEY: item.policy}
                )
            newest = lookups.latest_live_migration(
                self.compute, item.server_id
            )
            kwargs = dict(self.kwargs)
            if dest is not None:
                kwargs['host'] = dest
            self.compute.live_migrate_server(item.server_id, **kwargs)
        except sdk_exc.SDKException as e:
            reason = str(
                errors.translate_error(e, 'live-migrate server %s' % item.name)
            )
            code = getattr(e, 'status_code', None)
            if dp.retry_start_error(code) and attempt <= self.retries:
                self._retry(hr, item, attempt, 'start failed (%s)' % reason)
            else:
                self._result(
                    hr,
                    item,
                    dp.Result(
                        item.name, dp.FAILED, None, None, reason, attempt
                    ),
                    'failed to start: %s' % reason,
                )
            return False
        if dest is not None and self.ledger is not None:
            self.ledger.take(item.server_id, dest)
        self.running[item.server_id] = hosts.Running(
            item,
            hr.host,
            attempt,
            self.clock(),
            newest.id if newest else None,
            dest,
        )
        self._hr[item.server_id] = hr
        self._rec.server(
            hr, item, rp.STARTED, attempts=attempt, destination=dest
        )
        self.say(
            '%s: live migration started from %s%s (attempt %d)'
            % (item.name, hr.host, ' to %s' % dest if dest else '', attempt),
            'started',
            host=hr.host,
            server=item.name,
            destination=dest,
            attempt=attempt,
        )
        return True

    def _retry(self, hr, item, attempt, why):
        self.say(
            '%s: %s; retrying in %.0f s'
            % (item.name, why, self.retry_delay_s),
            'retry',
            host=hr.host,
            server=item.name,
        )
        self.pending.append(
            [self.clock() + self.retry_delay_s, attempt + 1, hr, item]
        )

    def _check(self, run):
        """Whether the migration of ``run`` is over (its result recorded)."""
        item, hr = run.item, self._hr[run.item.server_id]
        elapsed = self.clock() - run.started
        srv = self.compute.get_server(item.server_id)
        if waiting.busy(srv):
            if self.timeout_s is not None and elapsed >= self.timeout_s:
                reason = (
                    'still migrating after --wait-timeout %s s; it keeps '
                    'running (see `openstack server migration watch '
                    '--server %s`)' % (self.timeout_s, item.server_id)
                )
                self._result(
                    hr,
                    item,
                    dp.Result(
                        item.name,
                        dp.TIMED_OUT,
                        None,
                        elapsed,
                        reason,
                        run.attempt,
                    ),
                    'timed out',
                )
                return True
            return False
        record = lookups.latest_live_migration(
            self.compute, item.server_id, newer_than=run.newest
        )
        if not waiting.finished(srv, record):
            return False
        verdict = waiting.verdict(run.host, srv, record)
        if verdict.ok:
            if self.ledger is not None:
                self.ledger.moved(item.server_id, run.host)
            hr.tally(srv, record)
            self._result(
                hr,
                item,
                dp.Result(
                    item.name,
                    dp.MIGRATED,
                    srv.compute_host,
                    elapsed,
                    '',
                    run.attempt,
                ),
                'migrated to %s in %.0f s' % (srv.compute_host, elapsed),
            )
            return True
        if run.dest is not None and self.ledger is not None:
            self.ledger.give_back(item.server_id, run.dest, srv.compute_host)
        status = getattr(record, 'status', None)
        if (
            srv.compute_host == run.host
            and dp.retry_outcome(status)
            and run.attempt <= self.retries
        ):
            self._retry(hr, item, run.attempt, verdict.reason)
            return True
        reason = waiting.judge(
            self.compute, item.server_id, run.host, srv, record
        ).reason
        self._result(
            hr,
            item,
            dp.Result(
                item.name,
                dp.FAILED,
                srv.compute_host,
                elapsed,
                reason,
                run.attempt,
            ),
            'failed: %s' % reason,
        )
        return True

    def _result(self, hr, item, result, text):
        hr.results[item.server_id] = result
        self._rec.server(
            hr,
            item,
            result.result,
            destination=result.destination,
            reason=result.reason,
            attempts=result.attempts,
        )
        done = sum(len(h.results) for h in self.hosts)
        total = sum(len(h.items) for h in self.hosts)
        self.say(
            '[%d/%d] %s: %s' % (done, total, item.name, text),
            result.result,
            host=hr.host,
            server=item.name,
            destination=result.destination,
        )
