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
"""Drive a policy object against the model, exactly as the monitor would.

The loop is the monitor's: every poll take a sample, ask the policy, apply
its decision. :func:`drive` is the only such loop: :func:`simulate` and the
calibrated simulator (:mod:`nova_ext.core.sim.calibrated`) both run it. The
same policy classes run here and on real hosts.
"""

import dataclasses

from nova_ext.core.observation import Action
from nova_ext.core.observation import Phase
from nova_ext.core.sim import model


@dataclasses.dataclass(frozen=True)
class Event:
    """One decision that changed something, for reports and debugging."""

    at_s: float
    action: str
    reason: str
    downtime_ms: int | None = None


ESCALATIONS = frozenset((Action.POSTCOPY, Action.PAUSE, Action.ABORT))
ESCALATION_NAMES = frozenset(a.value for a in ESCALATIONS)


@dataclasses.dataclass(frozen=True)
class Result:
    """How one simulated migration ended.

    ``decision_s`` is the last action other than "nothing" (downtime steps
    included); ``escalation_s`` the first abort, post-copy or pause.
    """

    outcome: str
    total_s: float
    downtime_ms: float | None
    bytes_sent: int
    decision_s: float | None
    postcopy_s: float | None
    paused_s: float | None
    iterations: int
    max_throttle_pct: int
    events: tuple
    escalation_s: float | None = None
    cpu_lost_s: float = 0.0

    @property
    def in_postcopy_s(self):
        """Seconds the guest ran on the destination while pages followed."""
        if self.postcopy_s is None:
            return 0.0
        return round(self.total_s - self.postcopy_s, 3)

    @property
    def actions(self):
        """The escalations taken, in order (e.g. ``('pause',)``)."""
        return tuple(
            e.action for e in self.events if e.action != 'set-downtime'
        )


def poll(policy, mig, step, poll_s=0.5, noise=None):
    """One turn of the monitor's loop: advance, sample, decide, apply.

    The single step every simulator takes: :func:`drive` repeats it for
    one migration, :func:`nova_ext.core.sim.fleet.drive` for several on
    one link, so the two cannot drift apart.

    :param step: seconds to advance before the sample
    :param noise: see :func:`drive`
    :returns: the :class:`Event` of a decision that did something, or None
    """
    if noise is not None:
        mig.bw_factor, mig.dirty_factor = noise.draw(step / poll_s)
    mig.advance(step)
    if mig.done:
        return None
    decision = policy.decide(mig.observe())
    if decision.action is Action.NOTHING:
        return None
    mig.apply(decision)
    return Event(
        mig.t, decision.action.value, decision.reason, decision.downtime_ms
    )


def drive(policy, mig, max_s, poll_s=0.5, step_s=None, noise=None):
    """The loop, the monitor's: :func:`poll` until the migration ends.

    Every simulator runs it; what differs between them is the migration
    model (``mig``) and how far apart the polls are (``step_s``).

    :param policy: a fresh ConvergencePolicy object
    :param mig: a :class:`model.Migration` (or a subclass) not yet begun
    :param max_s: stop when the migration has run this long
    :param poll_s: the monitor's sampling interval (nova: 0.5 s)
    :param step_s: ``f(mig)`` -> seconds to the next poll; None: ``poll_s``
    :param noise: a :class:`nova_ext.core.sim.noise.Noise`, drawn once per
        step for the bandwidth and the dirty rate (a step of k polls draws
        the mean of k per-poll factors); None for none
    :returns: (the :class:`Event` of every decision that did something,
        the highest auto-converge throttle seen, in %); the outcome is
        on ``mig``
    """
    events = []
    max_throttle = 0
    while not mig.done and mig.t < max_s:
        step = poll_s if step_s is None else step_s(mig)
        event = poll(policy, mig, step, poll_s, noise)
        max_throttle = max(max_throttle, mig.throttle_pct)
        if event is not None:
            events.append(event)
    return tuple(events), max_throttle


def growing_steps(poll_s, poll_growth, max_poll_s=None, polls_per_round=None):
    """Poll intervals that grow with the migration (see :func:`simulate`).

    :returns: ``f(mig)`` -> seconds to the next poll
    """

    def step_s(mig):
        step = poll_growth * mig.t
        if max_poll_s is not None:
            step = min(step, max_poll_s)
        if polls_per_round:
            step = min(
                step,
                mig.round_bytes / mig.share_bps / polls_per_round,
            )
        return max(poll_s, step)

    return step_s


def _first_at(events, actions):
    return next((e.at_s for e in events if e.action in actions), None)


def _last_at(events, action):
    return next((e.at_s for e in reversed(events) if e.action == action), None)


def simulate(
    policy,
    workload,
    link,
    poll_s=0.5,
    max_s=200000.0,
    noise=None,
    poll_growth=0.0,
    max_poll_s=None,
    polls_per_round=None,
):
    """Run one migration to its end.

    :param policy: a fresh ConvergencePolicy object
    :param workload: a :class:`model.Workload`
    :param link: a :class:`model.Link`
    :param poll_s: the monitor's sampling interval (nova: 0.5 s)
    :param max_s: give up and report ``unfinished`` after this long
    :param noise: see :func:`drive`
    :param poll_growth: polls come every ``max(poll_s, poll_growth * t)``;
        0.01 keeps every time within 1 % and makes a day-long simulated
        migration cost about a thousand polls instead of 170,000
    :param max_poll_s: but never longer than this: a policy should see
        several samples per round, as it does from the real monitor
    :param polls_per_round: and no longer than the round in progress
        divided by this (down to ``poll_s``): a pause timed for the end
        of 1 s rounds needs the real monitor's 0.5 s polls, not 3 s ones
    :returns: a :class:`Result`
    """
    mig = model.Migration(workload, link)
    events, max_throttle = drive(
        policy,
        mig,
        max_s,
        poll_s,
        growing_steps(poll_s, poll_growth, max_poll_s, polls_per_round),
        noise,
    )
    return result(mig, events, max_throttle)


def result(mig, events, max_throttle):
    """The :class:`Result` of a migration :func:`drive` has run.

    :param events: the events :func:`drive` returned for it
    """
    outcome = mig.outcome or 'unfinished'
    downtime = mig.final_downtime_ms if outcome == 'completed' else None
    if outcome == 'completed' and mig.phase is Phase.POSTCOPY:
        downtime = mig.link.postcopy_overhead_ms
    escalation_s = _first_at(events, ESCALATION_NAMES)
    return Result(
        outcome=outcome,
        total_s=round(mig.t, 3),
        downtime_ms=None if downtime is None else round(downtime, 1),
        bytes_sent=int(mig.sent_total),
        decision_s=round(events[-1].at_s, 3) if events else None,
        postcopy_s=_last_at(events, Action.POSTCOPY.value),
        paused_s=_last_at(events, Action.PAUSE.value),
        iterations=mig.iteration,
        max_throttle_pct=max_throttle,
        events=events,
        escalation_s=None if escalation_s is None else round(escalation_s, 3),
        cpu_lost_s=round(mig.cpu_lost_s, 3),
    )
