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
"""A fluid model of one QEMU live migration, advanced in exact steps.

Equations (M guest RAM, B bandwidth, D dirty rate, W writable working set,
d max downtime; all bytes and seconds):

- Pre-copy runs in rounds (Clark et al., NSDI 2005). Round 1 sends all of
  M; round i+1 sends what the guest dirtied while round i was sent. The
  guest sweeps its working set, so after t seconds of a round the dirty set
  is ``S(t) = min(W, D_eff * t)``.
- At each round end QEMU syncs the dirty bitmap; if ``S <= B * d`` the
  guest stops and S is sent: downtime ``S / B`` plus a fixed switch-over
  overhead (device state, hand-over; 263-284 ms measured on real hosts
  here). A downtime raised mid-round is honoured at the next sample as
  soon as the unsent rest of the round plus S fits ``B * d``.
- libvirt's ``memory_remaining`` is the unsent part of the current round:
  a saw-tooth that falls to 0 and jumps to S at each sync.
- Auto-converge (QEMU ``cpu-throttle-*``): at a sync where the bytes
  dirtied in the period exceed 50 % of the bytes sent, a counter goes up;
  at 2 the vCPUs are throttled, 20 % first, then +10 % per trigger, up to
  99 %. A workload that needs only a fraction ``cpu_need`` of its vCPU to
  dirty at D is not slowed until the throttle eats into that fraction:
  ``D_eff = D * min(1, (1 - throttle) / cpu_need)``. That is why
  auto-converge fails on workloads that dirty much memory with little CPU.
- Post-copy (Hines and Gopalan, VEE 2009): the guest moves at once
  (downtime: a small fixed overhead, 7 ms measured here) and the unsent
  rest plus the dirty set are pulled at B: total ``t_switch + R / B``.
- Pause: the guest stops dirtying; pre-copy finishes at B. The guest's
  downtime runs from the pause to the end, plus the switch-over overhead.
- Workloads are data (:mod:`.workload`): up to three working sets, each
  swept at the rate its schedule gives for the moment, so ``S`` is the
  sum of ``min(W_i, integral of D_i)``. Bandwidth and dirty rates may be
  scaled per poll by seeded noise (:mod:`.noise`): ``bw_factor`` and
  ``dirty_factor`` are set by the runner before each poll; on a shared
  link (:mod:`.fleet`) ``share_bps`` is set to the migration's fair share
  too.
- Which phase follows an action is :mod:`nova_ext.core.phases`' table.
- The time advances from event to event (round end, working set full,
  schedule change, poll), never in fixed small steps.
- Abort: the job ends at once; the guest keeps running on the source.
"""

import dataclasses

from nova_ext.core.observation import Action
from nova_ext.core.observation import Observation
from nova_ext.core.observation import Phase
from nova_ext.core import phases
from nova_ext.core.sim import workload as workloads

#: QEMU's default max downtime, in force until a policy sets one
QEMU_DEFAULT_DOWNTIME_MS = 300

#: a workload: kept here so ``model.Workload(ram, rate, wws)`` still works
Workload = workloads.Workload


@dataclasses.dataclass(frozen=True)
class Link:
    """The migration path and the hypervisor's fixed costs."""

    bandwidth_bps: float
    switchover_overhead_ms: float = 270.0
    postcopy_overhead_ms: float = 10.0
    auto_converge: bool = False
    throttle_initial_pct: int = 20
    throttle_increment_pct: int = 10
    throttle_max_pct: int = 99
    throttle_trigger_pct: int = 50


class Migration:
    """Mutable state of one simulated migration; no clock of its own."""

    def __init__(self, workload, link):
        self.w = workload
        self.link = link
        self.schedule = workload.schedule()
        self.sizes = workload.set_sizes()
        self.t = 0.0
        self.phase = Phase.PRECOPY
        self.iteration = 1
        self.round_bytes = float(workload.ram_bytes)
        self.round_sent = 0.0
        self.round_start = 0.0
        self.dirty_sets = [0.0] * len(self.sizes)
        self.sent_total = 0.0
        self.downtime_ms = QEMU_DEFAULT_DOWNTIME_MS
        self.throttle_pct = 0
        self.high_dirty_syncs = 0
        self.dirty_rate_seen = 0.0
        self.paused_at = None
        self.postcopy_bytes = 0.0
        self.outcome = None
        self.final_downtime_ms = None
        # NOTE: the link's whole bandwidth unless a shared link
        # (:mod:`.fleet`) hands this migration its fair share each poll
        self.share_bps = link.bandwidth_bps
        self.bw_factor = 1.0
        self.dirty_factor = 1.0
        self.cpu_lost_s = 0.0

    @property
    def done(self):
        return self.outcome is not None

    @property
    def dirty(self):
        """Bytes dirtied since the last sync, over all working sets."""
        return min(sum(self.dirty_sets), float(self.w.ram_bytes))

    @property
    def bandwidth_bps(self):
        """This migration's bandwidth during the current poll: its share
        of the link, noise applied.
        """
        return self.share_bps * self.bw_factor

    def rate_factor(self):
        """What scales the scheduled rates now: pause, throttle, noise."""
        if self.phase is not Phase.PRECOPY:
            return 0.0
        room = (1 - self.throttle_pct / 100.0) / self.w.cpu_need
        return min(1.0, room) * self.dirty_factor

    def dirty_rate_now(self):
        """Effective dirty rate after pause and auto-converge throttling."""
        rates, _ = self.schedule.at(self.t)
        return sum(rates) * self.rate_factor()

    def _threshold(self):
        return self.bandwidth_bps * self.downtime_ms / 1000.0

    def _finish(self, at_s, downtime_ms):
        self.t = at_s
        self.outcome = 'completed'
        self.final_downtime_ms = downtime_ms

    def _switch_over(self, pending):
        """Stop the guest and send ``pending`` bytes: migration complete."""
        bandwidth = self.bandwidth_bps
        self.sent_total += pending
        end = self.t + pending / bandwidth
        if self.paused_at is not None:
            downtime = (end - self.paused_at) * 1000.0
        else:
            downtime = pending / bandwidth * 1000.0
        self._finish(end, downtime + self.link.switchover_overhead_ms)

    def _sync(self):
        """Round end: bitmap sync, switch-over check, auto-converge."""
        pending = self.dirty
        period = self.t - self.round_start
        if period > 0:
            self.dirty_rate_seen = pending / period
        if pending <= self._threshold():
            self._switch_over(pending)
            return
        if self.link.auto_converge and self.phase is Phase.PRECOPY:
            sent = self.bandwidth_bps * period
            if pending > sent * self.link.throttle_trigger_pct / 100.0:
                self.high_dirty_syncs += 1
                if self.high_dirty_syncs >= 2:
                    self.high_dirty_syncs = 0
                    self.throttle_pct = min(
                        self.link.throttle_max_pct,
                        self.throttle_pct + self.link.throttle_increment_pct
                        if self.throttle_pct
                        else self.link.throttle_initial_pct,
                    )
        self.iteration += 1
        self.round_bytes = pending
        self.round_sent = 0.0
        self.round_start = self.t
        self.dirty_sets = [0.0] * len(self.sizes)

    def _advance_postcopy(self, left):
        bandwidth = self.bandwidth_bps
        need = self.postcopy_bytes / bandwidth
        if need <= left:
            self.sent_total += self.postcopy_bytes
            self.t += need
            self.postcopy_bytes = 0.0
            self.outcome = 'completed'
            return
        self.postcopy_bytes -= bandwidth * left
        self.sent_total += bandwidth * left
        self.t += left

    def advance(self, dt):
        """Run the migration for ``dt`` seconds (or until it ends).

        Steps from event to event: the end of the round, a working set
        filling up, the schedule changing, or the end of ``dt``.
        """
        if self.phase is Phase.POSTCOPY:
            self._advance_postcopy(dt)
            return
        bandwidth = self.bandwidth_bps
        sizes, dirty = self.sizes, self.dirty_sets
        left = dt
        while left > 1e-12 and not self.done:
            rates, change_in = self.schedule.at(self.t)
            factor = self.rate_factor()
            unsent = self.round_bytes - self.round_sent
            step = min(left, unsent / bandwidth, change_in)
            for i, rate in enumerate(rates):
                rate *= factor
                if rate > 0 and dirty[i] < sizes[i]:
                    step = min(step, (sizes[i] - dirty[i]) / rate)
            step = max(step, 0.0)
            for i, rate in enumerate(rates):
                dirty[i] = min(sizes[i], dirty[i] + rate * factor * step)
            self.round_sent += bandwidth * step
            self.sent_total += bandwidth * step
            if self.phase is Phase.PRECOPY:
                self.cpu_lost_s += self.throttle_pct / 100.0 * step
            self.t += step
            left -= step
            if self.round_bytes - self.round_sent <= 1e-6:
                self.round_sent = self.round_bytes
                self._sync()
                dirty = self.dirty_sets
        if not self.done:
            rest = self.round_bytes - self.round_sent
            if rest + self.dirty <= self._threshold():
                self.round_sent = self.round_bytes
                self._switch_over(rest + self.dirty)

    def observe(self):
        """:returns: what libvirt's job stats would show right now."""
        if self.phase is Phase.POSTCOPY:
            remaining = self.postcopy_bytes
        else:
            remaining = self.round_bytes - self.round_sent
        return Observation(
            elapsed_s=self.t,
            memory_total_bytes=self.w.ram_bytes,
            memory_processed_bytes=int(self.sent_total),
            memory_remaining_bytes=int(remaining),
            data_remaining_bytes=int(remaining),
            dirty_rate_bps=self.dirty_rate_seen,
            bandwidth_bps=self.bandwidth_bps,
            iteration=self.iteration,
            throttle_pct=self.throttle_pct,
            phase=self.phase,
            downtime_ms=self.downtime_ms,
        )

    def apply(self, decision):
        """Carry out a policy decision, as the monitor would through libvirt.

        The phase that follows comes from
        :func:`nova_ext.core.phases.phase_after`.

        :raises ValueError: for an action this model does not know
        """
        action = decision.action
        if not isinstance(action, Action):
            raise ValueError('unknown action %r' % (action,))
        if action is Action.NOTHING:
            return
        if action is Action.SET_DOWNTIME:
            self.downtime_ms = decision.downtime_ms
        elif action is Action.POSTCOPY:
            self.postcopy_bytes = (
                self.round_bytes - self.round_sent + self.dirty
            )
            self.final_downtime_ms = self.link.postcopy_overhead_ms
        elif action is Action.PAUSE:
            self.paused_at = self.t
        elif action is Action.ABORT:
            self.outcome = 'aborted'
        self.phase = phases.phase_after(self.phase, action)
