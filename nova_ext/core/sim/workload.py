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
"""Workloads as data: working sets and a schedule of dirtying phases.

A guest has up to three working sets (hot, warm, cold), each a number of
bytes it keeps rewriting. A schedule is a list of stages; a stage lasts
``duration_s`` and dirties each set at its own rate. The schedule repeats
(bursts, saw-tooth) or its last stage lasts forever (a step).

Example: 8 GiB guest, a 4 GiB set written at 2 GiB/s for 30 s and left
alone for 30 s, repeating::

    Workload(8 * GIB, sets=(4 * GIB,),
             stages=(Stage(30, (2 * GIB,)), Stage(30, (0.0,))))

``Workload(ram, rate, wws)`` without stages is the old constant workload:
one set of ``wws`` bytes dirtied at ``rate`` for ever.
"""

import bisect
import dataclasses


@dataclasses.dataclass(frozen=True)
class Stage:
    """One phase of a schedule: how long, and a dirty rate per set."""

    duration_s: float
    rates_bps: tuple


@dataclasses.dataclass(frozen=True)
class Workload:
    """What the guest does: RAM, its working sets and when it dirties them.

    ``cpu_need`` is the share of a vCPU the guest needs to dirty at the
    scheduled rate (auto-converge slows it only beyond that share).
    """

    ram_bytes: int
    dirty_rate_bps: float = 0.0
    wws_bytes: int = 0
    cpu_need: float = 1.0
    sets: tuple = ()
    stages: tuple = ()
    repeat: bool = True

    def __post_init__(self):
        if len(self.sets) > 3:
            raise ValueError('at most three working sets (hot/warm/cold)')
        for stage in self.stages:
            if len(stage.rates_bps) != len(self.sets):
                raise ValueError(
                    'stage %r: one rate per working set (%d sets)'
                    % (stage, len(self.sets))
                )

    def set_sizes(self):
        """:returns: the working-set sizes in bytes, as a tuple."""
        if self.stages:
            return tuple(float(s) for s in self.sets)
        return (float(self.wws_bytes),)

    def mean_rate_bps(self):
        """The time-averaged dirty rate over one period of the schedule."""
        if not self.stages:
            return self.dirty_rate_bps
        period = sum(s.duration_s for s in self.stages)
        return (
            sum(s.duration_s * sum(s.rates_bps) for s in self.stages) / period
        )

    def schedule(self):
        """:returns: a :class:`Schedule` that answers rates at a time."""
        if not self.stages:
            return Schedule((Stage(float('inf'), (self.dirty_rate_bps,)),))
        return Schedule(self.stages, self.repeat)


class Schedule:
    """Look up the rates in force at ``t`` and how long they stay."""

    def __init__(self, stages, repeat=False):
        self.stages = tuple(stages)
        self.repeat = repeat
        self.starts = []
        t = 0.0
        for stage in self.stages:
            self.starts.append(t)
            t += stage.duration_s
        self.period = t

    def at(self, t):
        """:returns: (rates tuple, seconds until they change) at ``t``."""
        if self.repeat:
            base = (t // self.period) * self.period
            offset = t - base
        else:
            offset = t
        index = bisect.bisect_right(self.starts, offset) - 1
        if not self.repeat and index == len(self.stages) - 1:
            return self.stages[index].rates_bps, float('inf')
        index = max(0, min(index, len(self.stages) - 1))
        end = self.starts[index] + self.stages[index].duration_s
        return self.stages[index].rates_bps, max(end - offset, 1e-9)


def constant(ram_bytes, rate_bps, wws_bytes):
    """One set dirtied at one rate for ever."""
    return Workload(ram_bytes, rate_bps, int(wws_bytes))


def bursts(ram_bytes, mean_bps, wws_bytes, period_s, duty):
    """On/off: ``mean / duty`` for ``duty * period``, then idle."""
    on = period_s * duty
    return Workload(
        ram_bytes,
        sets=(float(wws_bytes),),
        stages=(
            Stage(on, (mean_bps / duty,)),
            Stage(period_s - on, (0.0,)),
        ),
    )


def sawtooth(ram_bytes, mean_bps, wws_bytes, period_s, steps=8):
    """The rate climbs from 0 to twice the mean over a period, then drops.

    Approximated by ``steps`` flat stages (mean preserved exactly).
    """
    width = period_s / steps
    return Workload(
        ram_bytes,
        sets=(float(wws_bytes),),
        stages=tuple(
            Stage(width, (2.0 * mean_bps * (i + 0.5) / steps,))
            for i in range(steps)
        ),
    )


def step(ram_bytes, rate_bps, wws_bytes, at_s=20.0, factor=4.0):
    """``rate / factor`` until ``at_s``, then ``rate`` for ever."""
    return Workload(
        ram_bytes,
        sets=(float(wws_bytes),),
        stages=(
            Stage(at_s, (rate_bps / factor,)),
            Stage(float('inf'), (rate_bps,)),
        ),
        repeat=False,
    )


def three_sets(
    ram_bytes,
    mean_bps,
    period_s=60.0,
    duty=0.5,
    fractions=(0.01, 0.10),
    shares=(0.5, 0.3, 0.2),
):
    """Hot (1 %), warm (10 %, bursty) and cold (the rest) working sets.

    ``shares`` split the mean rate between them; the warm share is
    written at ``share / duty`` while on.
    """
    hot = ram_bytes * fractions[0]
    warm = ram_bytes * fractions[1]
    cold = ram_bytes - hot - warm
    rates = [mean_bps * s for s in shares]
    on = period_s * duty
    return Workload(
        ram_bytes,
        sets=(hot, warm, cold),
        stages=(
            Stage(on, (rates[0], rates[1] / duty, rates[2])),
            Stage(period_s - on, (rates[0], 0.0, rates[2])),
        ),
    )


def _three_sets_family(ram_bytes, mean_bps, wws_bytes, period_s, duty):
    """:func:`three_sets` as a family: its sets are fractions of the RAM,
    so a working-set size does not apply (pass None).
    """
    return three_sets(ram_bytes, mean_bps, period_s, duty)


#: the workload families by name, each a builder called as
#: ``builder(ram_bytes, mean_bps, wws_bytes, **params)`` (see :func:`build`)
FAMILIES = {
    'constant': constant,
    'bursts': bursts,
    'sawtooth': sawtooth,
    'step': step,
    'three-sets': _three_sets_family,
}


def build(family, ram_bytes, mean_bps, wws_bytes, **params):
    """The workload of one family, e.g. ``build('bursts', 8 * GIB, MIB,
    GIB, period_s=60, duty=0.5)``.

    :param family: a name in :data:`FAMILIES`
    :param params: the family's own parameters (``period_s``, ``duty``)
    :raises ValueError: for an unknown family
    """
    try:
        builder = FAMILIES[family]
    except KeyError:
        raise ValueError(
            'unknown family %r (known: %s)'
            % (family, ', '.join(sorted(FAMILIES)))
        ) from None
    return builder(ram_bytes, mean_bps, wws_bytes, **params)
