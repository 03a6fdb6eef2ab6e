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
"""Several migrations over one shared link, each driven by its own policy.

A maintenance window migrates many guests from one host to another over
one NIC: a migration's bandwidth halves when another starts and doubles
when it ends, and other traffic moves it around. A :class:`Scenario` is
one :class:`~nova_ext.core.sim.sharing.SharedLink` and its migrations,
each starting at a given time, or (with ``max_concurrent`` set, as nova's
``max_concurrent_live_migrations``) waiting in a queue until one of the
running ones ends.

Every poll, each running migration gets its max-min fair share of what
the background leaves (:func:`.sharing.fair_shares`, its libvirt cap
respected), noise on top as on a lone link, and then takes exactly the
step a lone migration takes (:func:`.runner.poll`). The migrations step
together: a step is the shortest any of them asks for, and never runs
past a background change or a planned start. A migration that ends
within a step frees its share at the next one; a queued one starts at the
first step boundary after a slot frees (both at most one poll late, and
polls stay within 1 % of the elapsed time).

Example: 1 GiB/s, two idle 2 GiB guests started together: 512 MiB/s
each, both done at about 4 s; the same two queued with
``max_concurrent=1``: the first done at 2 s, the second at 4 s.
"""

import dataclasses

from nova_ext.core.sim import model
from nova_ext.core.sim import runner
from nova_ext.core.sim import sharing


@dataclasses.dataclass(frozen=True)
class Member:
    """One migration of a scenario: the guest, when, and libvirt's cap."""

    workload: object
    start_s: float = 0.0
    cap_bps: float | None = None


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A shared link and the migrations over it, in queue order.

    ``max_concurrent``: None starts each member at its ``start_s``; n
    keeps at most n running, the next (in order, once its ``start_s``
    has come) starting when one ends.
    """

    link: object
    members: tuple
    max_concurrent: int | None = None

    def __post_init__(self):
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError('max_concurrent must be >= 1: %r' % self)


@dataclasses.dataclass(frozen=True)
class Run:
    """How one member fared: when it started, and its :class:`Result`."""

    start_s: float
    result: runner.Result

    @property
    def end_s(self):
        return self.start_s + self.result.total_s


def shares_at_start(scenario):
    """Each member's fair share when it starts, fixed in advance.

    Members started at given times share what the background leaves at
    that time with those started no later; a queued member's start
    depends on when others end, so it is taken as starting into a full
    queue (``max_concurrent`` running, itself included) on an unloaded
    link. The benchmark scales workloads to it, so every policy migrates
    the same guests.

    :returns: a list of bytes/s, one per member

    Example: 1 GiB/s, four members started together, one capped at
    100 MiB/s: 100 MiB/s for it, 308 MiB/s for each of the others.
    """
    members = scenario.members
    out = []
    for i, member in enumerate(members):
        if scenario.max_concurrent is not None:
            others = [m for j, m in enumerate(members) if j != i]
            others = others[: scenario.max_concurrent - 1]
            available = scenario.link.capacity_bps
        else:
            others = [
                m
                for j, m in enumerate(members)
                if j != i and m.start_s <= member.start_s
            ]
            available = scenario.link.available_bps(member.start_s)
        caps = [member.cap_bps] + [m.cap_bps for m in others]
        out.append(sharing.fair_shares(available, caps)[0])
    return out


def drive(
    scenario,
    policies,
    hypervisor,
    max_s,
    poll_s=0.5,
    step_s=None,
    noises=None,
):
    """Run every migration of ``scenario`` to its end.

    :param policies: one fresh policy object per member, in order
    :param hypervisor: a :class:`model.Link` giving the fixed costs
        (switch-over, auto-converge); its bandwidth is replaced by shares
    :param max_s: per member, its own give-up time from its own start
        (a list, or one number for all)
    :param poll_s: the monitor's sampling interval
    :param step_s: ``f(mig)`` -> seconds to its next poll, as for
        :func:`.runner.drive`; None: ``poll_s``
    :param noises: one :class:`.noise.Noise` (or None) per member
    :returns: a list of :class:`Run`, one per member, in order
    """
    members = scenario.members
    count = len(members)
    if not isinstance(max_s, (list, tuple)):
        max_s = [max_s] * count
    noises = noises or [None] * count
    link = scenario.link
    queue = list(range(count))
    active = {}  # member index -> Migration
    events = [[] for _ in range(count)]
    throttle = [0] * count
    starts = [None] * count
    migs = [None] * count
    ends = {}  # member index -> end of its last poll's stop-and-copy
    freed = []  # when queue slots freed, oldest first
    lag = {}  # member index -> seconds it started before the step
    t = 0.0
    while queue or active:
        # NOTE: a migration that ended within the last step holds its
        # slot until its stop-and-copy is over, as nova's semaphore does
        busy = len(active) + len(_holding(ends, t))
        for i, at in _start_due(scenario, queue, busy, freed, t):
            bandwidth = members[i].cap_bps or link.capacity_bps
            migs[i] = active[i] = model.Migration(
                members[i].workload,
                dataclasses.replace(hypervisor, bandwidth_bps=bandwidth),
            )
            starts[i], lag[i] = at, t - at
        if not active:
            # nothing running: jump to the next start or freed slot
            t = _next_event(scenario, queue, t, ends)
            continue
        # NOTE: one still in its stop-and-copy keeps its share until done
        order = sorted(active) + _holding(ends, t)
        shares = link.shares(t, [members[i].cap_bps for i in order])
        step = min(
            poll_s if step_s is None else step_s(active[i]) for i in active
        )
        step = min(step, _next_event(scenario, queue, t, ends) - t)
        for i, share in zip(order, shares):
            if i not in active:
                continue
            mig = active[i]
            mig.share_bps = share
            # NOTE: one that started when a slot freed within the last
            # step catches up in its first poll
            first = step + lag.pop(i, 0.0)
            event = runner.poll(policies[i], mig, first, poll_s, noises[i])
            throttle[i] = max(throttle[i], mig.throttle_pct)
            if event is not None:
                events[i].append(event)
            if mig.done or mig.t >= max_s[i]:
                del active[i]
                ends[i] = starts[i] + mig.t
                freed.append(ends[i])
        t += step
    return [
        Run(starts[i], runner.result(migs[i], tuple(events[i]), throttle[i]))
        for i in range(count)
    ]


def _start_due(scenario, queue, busy, freed, t):
    """Who starts now, in queue order, and since when.

    A member waiting for a slot starts when the slot freed (the end of
    the migration that held it), which may be within the last step.

    :param busy: slots taken now
    :param freed: the times slots freed, oldest first (consumed)
    :returns: [(member index, start time)]
    """
    limit = scenario.max_concurrent
    out = []
    for i in list(queue):
        member = scenario.members[i]
        if member.start_s > t + _EPSILON_S:
            if limit is not None:
                break  # a queue keeps its order
            continue
        at = t
        if limit is not None:
            if busy >= limit:
                break
            busy += 1
            if freed and freed[0] <= t + _EPSILON_S:
                # the oldest slot freed by now, if the member was due
                at = max(member.start_s, freed.pop(0))
        queue.remove(i)
        out.append((i, at))
    return out


#: times closer than this are the same moment (sums of float steps)
_EPSILON_S = 1e-9


def _holding(ends, t):
    """Members whose stop-and-copy is still under way at ``t``."""
    return [i for i, end in ends.items() if end > t + _EPSILON_S]


def _next_event(scenario, queue, t, ends):
    """The next background change, planned start or freed slot after ``t``."""
    later = [c for c in scenario.link.changes() if c > t + _EPSILON_S]
    later += [ends[i] for i in _holding(ends, t)]
    later += [
        scenario.members[i].start_s
        for i in queue
        if scenario.members[i].start_s > t + _EPSILON_S
    ]
    return min(later, default=float('inf'))
