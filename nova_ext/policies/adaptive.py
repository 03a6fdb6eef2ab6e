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
"""The adaptive policy: predict convergence, act as soon as it is clear.

It reasons per pre-copy round (see :mod:`.signals`), never per raw sample:

1. Start with QEMU's own default downtime (300 ms), which the first
   bitmap sync needs: nothing about the dirty rate is known before it.
2. While rounds shrink by a factor ``rho < 1`` pre-copy converges by
   itself; the downtime is raised only where each extra ms of downtime
   saves at least ``time_per_downtime`` ms of migration time (slow
   convergence, rho near 1), and never above the permitted maximum.
3. When rounds stop shrinking (the writable working set dominates), the
   whole round must fit into the downtime: if ``round / bandwidth`` fits
   the permitted maximum, set the downtime to that plus a margin and
   pre-copy ends at the next sync.
4. Otherwise, after ``stall_rounds`` rounds without a new minimum (rounds
   that merely change the auto-converge throttle do not count), escalate
   in the order the deployment permits: post-copy, pause, abort.
   Post-copy and pause wait for a local minimum of the remaining bytes
   (at most ``max_switch_wait_s``); abort does not wait.
5. A paused guest that makes no progress for ``pause_stall_s`` is aborted
   (it resumes on the source). Nothing is ever done during post-copy.

Example (1 GiB/s, 500 ms permitted, 4 GiB guest dirtying a 2 GiB working
set at 4 GiB/s, post-copy permitted): rounds of 4, 2, 2, 2 GiB; 2 GiB needs
2000 ms > 500 ms, so at the start of round 4 (t = 8 s) it switches to
post-copy. nova's defaults would wait 3200 s and then abort.
"""

import math

from nova_ext.observation import Action
from nova_ext.observation import Decision
from nova_ext.observation import NOTHING
from nova_ext.observation import Phase
from nova_ext.policies import base
from nova_ext.policies import nova
from nova_ext.policies import signals


def precopy_time_left(
    size_bytes, rho, bandwidth_bps, downtime_ms, max_rounds=10000
):
    """Seconds of pre-copy left if rounds keep shrinking by ``rho``.

    The next rounds hold ``size * rho**k`` bytes; pre-copy ends at the
    first round that fits ``bandwidth * downtime``.

    :returns: float seconds, or ``math.inf`` if it never fits

    Example: 2 GiB, rho 0.5, 1 GiB/s, 300 ms -> rounds of 1 and 0.5 GiB
    are sent (1.5 s), then 0.25 GiB fits 0.3 GiB and pre-copy ends.
    """
    if rho >= 1:
        return math.inf
    threshold = bandwidth_bps * downtime_ms / 1000.0
    total, current = 0.0, size_bytes * rho
    for _ in range(max_rounds):
        if current <= threshold:
            return total / bandwidth_bps
        total += current
        current *= rho
    return math.inf


class AdaptivePolicy(base.ConvergencePolicy):
    """Predicts convergence per round; escalates early, within permits."""

    name = 'adaptive'
    PARAMS = (
        base.Param(
            'initial_downtime_ms',
            int,
            300,
            'downtime set at the start; raised only when needed',
            minimum=1,
        ),
        base.Param(
            'margin_pct',
            int,
            10,
            'headroom added when sizing the downtime to a round',
            minimum=0,
            maximum=100,
        ),
        base.Param(
            'time_per_downtime',
            float,
            10.0,
            'ms of migration '
            'time one more ms of downtime must save before it is '
            'spent',
            minimum=0,
        ),
        base.Param(
            'stall_rounds',
            int,
            2,
            'rounds without a new minimum before escalating',
            minimum=1,
        ),
        base.Param(
            'min_progress_pct',
            float,
            2.0,
            'how much smaller a round must be to count as progress',
            minimum=0,
            maximum=50,
        ),
        base.Param(
            'max_switch_wait_s',
            float,
            30.0,
            'longest wait for a local minimum before post-copy or pause',
            minimum=0,
        ),
        base.Param(
            'pause_stall_s',
            float,
            60.0,
            'a paused migration without progress this long is aborted',
            minimum=1,
        ),
        base.Param(
            'backstop_s_per_gib',
            int,
            150,
            'escalate anyway after '
            'this many seconds per GiB (nova rules); 0 disables',
            minimum=0,
        ),
    )

    def validate(self):
        self.rounds = signals.RoundTracker()
        self.local_min = signals.LocalMinimum()
        self.best_round_bytes = None
        self.stalled_rounds = 0
        self.pending = None
        self.pending_since_s = None
        self._at_minimum = False
        self.throttle_pct = 0
        self.last_progress_s = 0.0
        self.last_remaining = None
        self.backstop_s = self.params[
            'backstop_s_per_gib'
        ] * nova.context_data_gib(self.context)

    def _decide(self, obs):
        if obs.phase is Phase.POSTCOPY:
            return Decision(
                Action.NOTHING,
                'post-copy running; nothing to decide until it ends',
            )
        new_round = self.rounds.update(obs)
        at_minimum = self.local_min.update(obs.memory_remaining_bytes)
        if self.downtime_ms is None:
            return Decision(
                Action.SET_DOWNTIME,
                'start with a small downtime',
                downtime_ms=self._initial(),
            )
        if obs.phase is Phase.PAUSED:
            return self._while_paused(obs)
        if self.pending is not None:
            return self._pending_switch(obs, new_round, at_minimum)
        self._at_minimum = at_minimum or new_round is not None
        if self.backstop_s and obs.elapsed_s > self.backstop_s:
            return self._escalate(
                obs, 'not complete after %d s (backstop)' % self.backstop_s
            )
        if new_round is not None and new_round.iteration >= 2:
            return self._on_round(obs, new_round)
        return NOTHING

    def _initial(self):
        return min(
            self.params['initial_downtime_ms'],
            self.context.permits.max_downtime_ms,
        )

    def _needed_ms(self, size_bytes):
        """Downtime that sends ``size_bytes`` at the estimated bandwidth."""
        bandwidth = self.rounds.bandwidth_bps
        return size_bytes / bandwidth * 1000.0 if bandwidth else math.inf

    def _with_margin(self, ms):
        return int(math.ceil(ms * (1 + self.params['margin_pct'] / 100.0)))

    def _on_round(self, obs, rnd):
        size = rnd.size_bytes
        progress = 1 - self.params['min_progress_pct'] / 100.0
        if (
            self.best_round_bytes is None
            or size < self.best_round_bytes * progress
        ):
            self.best_round_bytes = size
            self.stalled_rounds = 0
        elif obs.throttle_pct > self.throttle_pct:
            self.stalled_rounds = 0
        else:
            self.stalled_rounds += 1
        self.throttle_pct = obs.throttle_pct
        allowed = self.context.permits.max_downtime_ms
        current = self.downtime_ms
        rho = self.rounds.shrink_ratio()

        if self.stalled_rounds == 0 and rho is not None and rho < 1:
            target = self._worth_raising(size, rho, current, allowed)
            if target is None:
                return Decision(
                    Action.NOTHING,
                    'round %d: %d MiB, shrinking '
                    'x%.2f per round; converging'
                    % (rnd.iteration, size >> 20, rho),
                )
            return Decision(
                Action.SET_DOWNTIME,
                'round %d: shrinking x%.2f '
                'per round; %d ms of downtime saves more time '
                'than it costs' % (rnd.iteration, rho, target),
                downtime_ms=target,
            )

        needed = self._needed_ms(size)
        if needed <= allowed:
            target = min(allowed, self._with_margin(needed))
            if target <= current:
                return NOTHING
            return Decision(
                Action.SET_DOWNTIME,
                'round %d: %d MiB no longer '
                'shrinks; %d ms of downtime sends it all'
                % (rnd.iteration, size >> 20, target),
                downtime_ms=target,
            )
        if current < allowed:
            return Decision(
                Action.SET_DOWNTIME,
                'round %d: %d MiB needs %d '
                'ms; trying the permitted maximum before '
                'calling it a stall' % (rnd.iteration, size >> 20, needed),
                downtime_ms=allowed,
            )
        if self.stalled_rounds >= self.params['stall_rounds']:
            return self._escalate(
                obs,
                'stalled: %d rounds without a new '
                'minimum and the %d MiB working set needs '
                '%d ms > %d ms permitted'
                % (self.stalled_rounds, size >> 20, needed, allowed),
            )
        return Decision(
            Action.NOTHING,
            'round %d: %d MiB needs %d ms > %d '
            'ms permitted; %d of %d rounds without progress'
            % (
                rnd.iteration,
                size >> 20,
                needed,
                allowed,
                self.stalled_rounds,
                self.params['stall_rounds'],
            ),
        )

    def _worth_raising(self, size, rho, current, allowed):
        """The downtime that best trades downtime for time, or None.

        Raising the downtime from ``current`` to ``d`` saves the rounds
        between them (:func:`precopy_time_left`) and may cost ``d -
        current`` more ms of downtime; it is worth it when each ms costs
        less than ``time_per_downtime`` ms saved.
        """
        bandwidth = self.rounds.bandwidth_bps
        if not bandwidth or current >= allowed:
            return None
        price = self.params['time_per_downtime']
        base_s = precopy_time_left(size, rho, bandwidth, current)
        best, best_gain = None, 0.0
        for d in range(current + 25, allowed + 25, 25):
            d = min(d, allowed)
            saved_ms = (
                base_s - precopy_time_left(size, rho, bandwidth, d)
            ) * 1000.0
            gain = saved_ms - price * (d - current)
            if gain > best_gain:
                best, best_gain = d, gain
        return best

    def _escalate(self, obs, reason):
        permits = self.context.permits
        if permits.postcopy:
            action = Action.POSTCOPY
        elif permits.pause:
            action = Action.PAUSE
        elif permits.abort:
            return Decision(
                Action.ABORT,
                reason + '; abort (the guest stays on the source)',
            )
        else:
            return Decision(
                Action.NOTHING,
                reason + '; nothing permitted, continuing pre-copy',
            )
        switch = Decision(
            action,
            reason + '; %s at a local minimum of '
            'the remaining bytes' % action.value,
        )
        if self._at_minimum:
            return switch
        self.pending = switch
        self.pending_since_s = obs.elapsed_s
        return Decision(
            Action.NOTHING,
            reason + '; waiting for a local minimum before %s' % action.value,
        )

    def _pending_switch(self, obs, new_round, at_minimum):
        waited = obs.elapsed_s - self.pending_since_s
        if (
            at_minimum
            or new_round is not None
            or waited >= self.params['max_switch_wait_s']
        ):
            decision, self.pending = self.pending, None
            return decision
        return Decision(
            Action.NOTHING,
            'waiting for a local minimum before '
            '%s (%.1f s so far)' % (self.pending.action.value, waited),
        )

    def _while_paused(self, obs):
        remaining = obs.memory_remaining_bytes
        if self.last_remaining is None or remaining < self.last_remaining:
            self.last_progress_s = obs.elapsed_s
        self.last_remaining = remaining
        stuck = obs.elapsed_s - self.last_progress_s
        if stuck > self.params['pause_stall_s']:
            return Decision(
                Action.ABORT,
                'paused without progress for %d s; '
                'abort resumes the guest on the source' % stuck,
            )
        return NOTHING
