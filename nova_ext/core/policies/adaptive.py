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
"""The adaptive policy: tell a phase from a stall, then act once.

Real guests dirty memory in phases: a batch job writes for 30 s and
idles for 30 s, a cache warms up, a ramp climbs and drops. A round that
does not shrink during a burst is not a stall, and giving up after two
such rounds aborts migrations that plain pre-copy finishes in the next
idle phase. So this policy:

1. sets the permitted maximum downtime on the first sample: pre-copy
   ends at the first bitmap sync whose dirty set fits it, and in a phased
   workload the next idle phase may be the only chance;
2. judges only on evidence gathered over wall-clock time *and* rounds:
   nothing before ``T_obs = observe_s + observe_ram_times x RAM /
   bandwidth`` (120 s + 3 x RAM/bandwidth) and ``min_rounds`` rounds.
   The bandwidth is measured (:mod:`.bandwidth`), never assumed, and
   every bound follows it; T_obs never shrinks below its value at the
   start, and after a step of the link (another migration starting or
   ending on a shared NIC) only rounds sent since count, three of them
   or one copy awaited;
3. then projects the end of pre-copy from the trend of the round sizes
   (:mod:`.projection`) and lets it run on while that end *surely*
   (``doubt`` standard errors later) comes within the budget:
   ``completion_timeout_s_per_gib`` (nova's 800 s per GiB) but at most
   ``horizon_ram_times`` x RAM/bandwidth. An end that is promising but
   not sure gets one more copy; judged promising after the window, it
   is given up only when the budget is spent or even the optimistic
   estimate passes it;
4. otherwise escalates, in the order the deployment permits: post-copy;
   a pause, only if the predicted pause (the last round at the measured
   bandwidth, times :func:`.projection.pause_margin` for the link's
   measured noise, and 300 ms) fits ``max_pause_ms``; abort. A pause
   waits for the last part of the window (T_obs + 0.8 copies, or 8
   samples) and a sample near either end of a round, until T_obs + 1.2
   copies; post-copy and abort do not wait;
5. with post-copy permitted it switches unless pre-copy surely ends
   within ``postcopy_rounds`` rounds (and one copy), at once if the
   guest is throttled. It waits out T_obs first (post-copy leaves the
   guest at the network's mercy); with auto-converge on, whose throttle
   costs CPU, it judges after ``postcopy_observe_s + RAM/bandwidth``;
6. aborts a paused migration that makes no progress for ``pause_stall_s``
   (the guest resumes on the source); never acts during post-copy.

Example (1 GiB/s, 500 ms permitted, abort only; 2 GiB guest writing a
1 GiB set at 2 GiB/s for 30 s, then idle 30 s): rounds of 2, 1, 1, 1 GiB
do not shrink, but T_obs is 126 s; at 31 s the idle phase lets a round
end nearly empty and pre-copy completes. The same guest writing for ever
is aborted at T_obs: rounds stay at 1 GiB, the projection never ends.
"""

import math

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import NOTHING
from nova_ext.core.observation import Phase
from nova_ext.core.policies import bandwidth
from nova_ext.core.policies import base
from nova_ext.core.policies import bounds
from nova_ext.core.policies import nova
from nova_ext.core.policies import projection
from nova_ext.core.policies import signals


class AdaptivePolicy(base.ConvergencePolicy):
    """Waits out phases, projects the trend, escalates once, within permits."""

    name = 'adaptive'
    CONFIG_OPTIONS = {'max_pause_ms': ('livemigrate', 'max_pause_ms')}
    PARAMS = (
        base.Param(
            'observe_s',
            float,
            120.0,
            'fixed part of the observation horizon T_obs, in seconds',
            minimum=0,
            seconds=True,
        ),
        base.Param(
            'observe_ram_times',
            float,
            3.0,
            'part of T_obs that scales: this many times RAM/bandwidth',
            minimum=1,
        ),
        base.Param(
            'min_rounds',
            int,
            3,
            'rounds that must have started before any escalation',
            minimum=2,
        ),
        base.Param(
            'completion_timeout_s_per_gib',
            int,
            800,
            'pre-copy may go on while its projected end comes within this '
            'many seconds per GiB (nova: 800); 0 leaves only '
            'horizon_ram_times',
            minimum=0,
            seconds=True,
        ),
        base.Param(
            'horizon_ram_times',
            float,
            200.0,
            'and within this many times RAM/bandwidth',
            minimum=1,
        ),
        base.Param(
            'doubt',
            float,
            1.0,
            'standard errors of the fitted trend between "surely" and '
            '"at best"',
            minimum=0,
        ),
        base.Param(
            'max_pause_ms',
            int,
            5000,
            'longest predicted pause accepted to finish a migration; '
            'longer ones abort instead ([livemigrate] max_pause_ms)',
            minimum=0,
        ),
        base.Param(
            'postcopy_observe_s',
            float,
            2.0,
            'with post-copy and auto-converge permitted, judge after '
            'this plus RAM/bandwidth: a throttle costs CPU, post-copy '
            'always completes',
            minimum=0,
            seconds=True,
        ),
        base.Param(
            'postcopy_rounds',
            float,
            4.0,
            'with post-copy permitted, pre-copy goes on only while it '
            'surely ends within this many rounds of the last size',
            minimum=1,
        ),
        base.Param(
            'pause_stall_s',
            float,
            60.0,
            'a paused migration without progress this long is aborted',
            minimum=1,
            seconds=True,
        ),
    )
    DEPRECATED_PARAMS = {
        'initial_downtime_ms': 'the permitted maximum is set at once',
        'margin_pct': 'the permitted maximum is set at once',
        'time_per_downtime': 'the permitted maximum is set at once',
        'stall_rounds': 'replaced by min_rounds and the observation '
        'horizon (observe_s, observe_ram_times)',
        'min_progress_pct': 'progress is the fitted trend of the rounds',
        'max_switch_wait_s': 'a switch waits at most one round',
        'backstop_s_per_gib': 'replaced by completion_timeout_s_per_gib, '
        'applied to the projected end of pre-copy',
    }

    def validate(self):
        self.rounds = signals.RoundTracker()
        self.spread = signals.Spread()
        # when to judge next, and until when not at all (a promising trend)
        self._next_look_s = 0.0
        self._hold_until_s = 0.0
        # the spacing of samples, for the pause's search window
        self._last_sample_at = 0.0
        self.sample_s = 0.0
        self.local_min = signals.LocalMinimum()
        self.pending = None
        self.last_progress_s = 0.0
        self.last_remaining = None
        self.link = bandwidth.Bandwidth()
        self.data_gib = nova.context_data_gib(self.context)

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
                'the permitted maximum at once: pre-copy ends at the '
                'first sync whose dirty set fits it',
                downtime_ms=self.context.permits.max_downtime_ms,
            )
        if obs.phase is Phase.PAUSED:
            return self._while_paused(obs)
        # the link's speed: a block migration copies the disks first
        self.link.update(
            obs.elapsed_s,
            obs.memory_processed_bytes + obs.disk_processed_bytes,
        )
        self.sample_s = obs.elapsed_s - self._last_sample_at
        self._last_sample_at = obs.elapsed_s
        self.spread.update(obs.bandwidth_bps)
        if self.pending is not None:
            return self._pending_switch(obs, new_round, at_minimum)
        if self.escalated is not None or not self.bw_bps:
            return NOTHING
        if obs.elapsed_s < self._hold_until_s or (
            new_round is None and obs.elapsed_s < self._next_look_s
        ):
            return NOTHING
        return self._judge(obs)

    @property
    def bw_bps(self):
        """The bandwidth measured now (:class:`.bandwidth.Bandwidth`)."""
        return self.link.bps

    def pause_ms(self, size_bytes):
        """The predicted pause to send ``size_bytes``, margin included."""
        return projection.pause_ms(
            size_bytes, self.bw_bps, self.link.sigma, self.sample_s
        )

    def ram_s(self):
        """One full copy at the measured bandwidth (:mod:`.bounds`)."""
        return bounds.ram_s(self.context, self.bw_bps)

    def horizon_s(self):
        """:func:`.bounds.horizon_s` at the measured bandwidth."""
        return bounds.horizon_s(
            self.params, self.context, self.bw_bps, self.link.first_bps
        )

    def budget_s(self):
        """:func:`.bounds.budget_s` at the measured bandwidth."""
        return bounds.budget_s(
            self.params, self.context, self.bw_bps, self.data_gib
        )

    def _fresh(self, rounds):
        """The rounds begun since the link last stepped."""
        return [r for r in rounds if r.start_s >= self.link.stepped_at_s]

    def project(self, obs):
        """Seconds of pre-copy left (:func:`.projection.project`)."""
        rounds = [r for r in self.rounds.rounds[-200:] if r.iteration >= 2]
        fresh = self._fresh(rounds)
        rounds = fresh if len(fresh) >= 3 else rounds
        return projection.project(
            rounds,
            self.bw_bps,
            self.context.permits.max_downtime_ms,
            doubt=self.params['doubt'],
            throttle_pct=(
                obs.throttle_pct
                if self.context.permits.auto_converge
                else None
            ),
            link_sigma=self.spread.sigma,
            ram_bytes=obs.memory_total_bytes,
        )

    def _judge(self, obs):
        now = obs.elapsed_s
        horizon = self.horizon_s()
        started = self.rounds.rounds[-1].iteration if self.rounds.rounds else 0
        if now < horizon or started < self.params['min_rounds']:
            return NOTHING
        stepped = self.link.stepped_at_s
        if len(self._fresh(self.rounds.rounds)) < 3 and (
            now < stepped + self.ram_s()
        ):
            # the link stepped: rounds sent at the old speed do not tell
            # how pre-copy goes at this one; three new ones or a copy will
            return NOTHING
        budget = self.budget_s()
        p = self.project(obs)
        trend = 'rounds x%.3f over rounds 2-%d: pre-copy ends %s' % (
            p.rho or 0,
            started,
            'never' if math.isinf(p.best) else 'at %d s' % (now + p.best),
        )
        if p.floor is not None:
            trend += ', but rounds level off at %d MiB' % (p.floor / 2**20)
        in_window = now <= horizon + 1.2 * self.ram_s()
        if self.context.permits.postcopy:
            # a throttled guest pays in CPU for every second pre-copy goes
            # on; post-copy ends within one more copy and costs it none
            throttled = obs.throttle_pct > 0
            # post-copy pulls about one round; pre-copy goes on only while
            # it surely ends within a few (and within one more copy)
            rounds_s = self.params['postcopy_rounds'] * p.size / self.bw_bps
            give_up = throttled or p.pessimistic > min(self.ram_s(), rounds_s)
            why = '%s%s; post-copy ends within one round (%d s)' % (
                trend,
                ', the guest throttled to %d %%' % obs.throttle_pct
                if throttled
                else '',
                p.size / self.bw_bps,
            )
        elif in_window and self._pause_fits(p.size):
            # a pause breaks the permitted downtime the guest would have
            # kept had pre-copy gone on (an abort costs the guest
            # nothing): pause only if pre-copy probably does not end
            give_up = now + p.best > budget
            why = trend
        elif in_window:
            # within the observation window (T_obs and one more copy), go
            # on only if pre-copy surely ends within the budget; an end
            # the trend promises but cannot prove yet gets that one more
            # copy to prove itself (rounds x0.998 +- 0.006 near 1 at a
            # 40 MiB/s T_obs of 734 s; pre-copy done at 832 s)
            surely = now + p.pessimistic <= budget
            promising = now + p.best <= budget and now < horizon + self.ram_s()
            give_up = not surely and not promising
            why = trend + (', surely' if surely else '')
            if promising and not surely:
                # one noisy round must not undo it: no look until then
                self._hold_until_s = horizon + self.ram_s()
                self._next_look_s = self._hold_until_s
                return Decision(
                    Action.NOTHING,
                    '%s; promising, not yet sure: judged again at %d s'
                    % (trend, self._next_look_s),
                )
        else:
            # judged promising before: give up only on clear evidence
            give_up = now > budget or now + p.optimistic > budget
            why = trend
        if not give_up:
            self._next_look_s = now + self.ram_s()
            return Decision(
                Action.NOTHING, '%s; within %d s budget' % (why, budget)
            )
        return self._escalate(
            obs, 'after %d s: %s; budget %d s' % (now, why, budget), p.size
        )

    def _pause_fits(self, size_bytes):
        """Whether escalating now would pause (not abort)."""
        return (
            self.context.permits.pause
            and self.pause_ms(size_bytes) <= self.params['max_pause_ms']
        )

    def _escalate(self, obs, reason, last_round):
        permits = self.context.permits
        # a pause now sends about one round at the measured bandwidth
        pause_ms = self.pause_ms(last_round)
        if permits.postcopy:
            action = Action.POSTCOPY
        elif permits.pause and pause_ms <= self.params['max_pause_ms']:
            action = Action.PAUSE
            reason += '; predicted pause %d ms <= %d ms' % (
                pause_ms,
                self.params['max_pause_ms'],
            )
        elif permits.abort:
            if permits.pause:
                reason += '; predicted pause %d ms > %d ms' % (
                    pause_ms,
                    self.params['max_pause_ms'],
                )
            return Decision(
                Action.ABORT,
                reason + '; abort (the guest stays on the source)',
            )
        else:
            return Decision(
                Action.NOTHING,
                reason + '; nothing permitted, continuing pre-copy',
            )
        if action is Action.POSTCOPY:
            # the guest moves at once and its pages follow at link speed:
            # waiting for a cheaper moment would cost more than it saves
            return Decision(action, reason + '; post-copy now')
        self.pending = Decision(
            action, reason + '; %s at either end of a round' % action.value
        )
        # not before the last part of the window: a phase that ends
        # pre-copy within it spares the guest the pause (a saw-tooth at
        # 10 MiB/s: judged at T_obs = 734 s, done at 846 s); never past
        # the observation window plus one more copy
        self.pending_until_s = max(
            obs.elapsed_s, self.horizon_s() + 1.2 * self.ram_s()
        )
        # but with room for 8 samples: at 10 GiB/s the last part of the
        # window is 1.3 s, and 0.5 s polls seldom meet a round's end there
        self.pending_from_s = min(
            self.horizon_s() + 0.8 * self.ram_s(),
            self.pending_until_s - 8 * self.sample_s,
        )
        return self._pending_switch(obs, None, False)

    def _pending_switch(self, obs, new_round, at_minimum):
        """Switch at the cheapest moment seen, within the deadline.

        A pause sends what is left of the round plus all the guest
        dirtied in it: near either end of a round that is about one
        round (at its start little is dirty yet, at its end little is
        left), mid-round up to twice that. Post-copy is taken at a round
        start or a local minimum.
        """
        if self.pending.action is Action.PAUSE:
            # share of the round in progress still unsent (not of the
            # round judged: a saw-tooth's next round may be 3x that one,
            # and its middle would look like "near the start")
            current = self.rounds.rounds[-1].size_bytes
            share = obs.memory_remaining_bytes / max(1, current)
            # at the end: the tail plus one round's dirt (<= 1.15
            # rounds); at the start only if really there, as a fast
            # guest dirties it again within the round
            ready = (share <= 0.15 or share >= 0.95) and (
                obs.elapsed_s >= self.pending_from_s
            )
        else:
            ready = at_minimum or new_round is not None
        if ready or obs.elapsed_s >= self.pending_until_s:
            decision, self.pending = self.pending, None
            return decision
        return Decision(
            Action.NOTHING,
            'waiting for the cheapest moment to %s (until %d s)'
            % (self.pending.action.value, self.pending_until_s),
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
