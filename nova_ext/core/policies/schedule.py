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
"""Convergence as data: an ordered list of ``trigger:action`` steps.

A schedule is a string of steps separated by spaces (or ``;``)::

    i1:dt100 i3:dt250 s2:dt500 s4:postcopy s4:abort

Triggers:

- ``i<N>``: pre-copy iteration N has started;
- ``t<N>``: N seconds have elapsed (times ``time_scale``: ``t60`` is
  6 s at ``time_scale=0.1``);
- ``s<N>``: N rounds in a row brought no new minimum round size (a stall,
  measured per round, not on the raw saw-tooth of remaining bytes).

Actions: ``dt<ms>`` sets the max downtime; ``postcopy``, ``pause`` and
``abort`` escalate. Steps run in order with a cursor; a step waits until
its trigger holds. A step whose action the deployment does not permit is
skipped, so ``s4:postcopy s4:pause s4:abort`` means "the first of these
that is permitted". The schedule itself is never modified.

Presets (``preset=NAME``):

- ``stepped`` (default): ``i1:dt100 i3:dt200 i5:dt300 i7:dt400 i9:dt500
  s3:postcopy s3:pause s3:abort``; the downtime climbs per iteration.
- ``gentle``: ``i1:dt50 s1:dt100 s2:dt200 s3:dt350 s4:dt500 s6:postcopy
  s6:pause s6:abort``; downtime climbs only while stalled.
- ``fast``: ``i1:dt500 s2:postcopy s2:pause s2:abort``; the largest
  permitted downtime at once, then escalate quickly.
"""

import dataclasses
import re

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import NOTHING
from nova_ext.core.observation import Phase
from nova_ext.core.policies import base
from nova_ext.core.policies import signals

PRESETS = {
    'stepped': 'i1:dt100 i3:dt200 i5:dt300 i7:dt400 i9:dt500 '
    's3:postcopy s3:pause s3:abort',
    'gentle': 'i1:dt50 s1:dt100 s2:dt200 s3:dt350 s4:dt500 '
    's6:postcopy s6:pause s6:abort',
    'fast': 'i1:dt500 s2:postcopy s2:pause s2:abort',
}

_STEP = re.compile(
    r'^(?P<trigger>[its])(?P<limit>\d+):'
    r'(?:dt(?P<downtime>\d+)|(?P<action>postcopy|pause|abort))$'
)
_ACTIONS = {
    'postcopy': Action.POSTCOPY,
    'pause': Action.PAUSE,
    'abort': Action.ABORT,
}


@dataclasses.dataclass(frozen=True)
class Step:
    """One schedule entry: when (``trigger``, ``limit``) and what."""

    trigger: str
    limit: float
    action: Action
    downtime_ms: int | None = None
    text: str = ''

    def holds(self, iteration, elapsed_s, stalled_rounds):
        """:returns: True once this step's trigger is met."""
        value = {'i': iteration, 't': elapsed_s, 's': stalled_rounds}
        return value[self.trigger] >= self.limit


def parse_steps(text):
    """Parse a schedule string into a tuple of :class:`Step`.

    :raises base.PolicyError: naming the first step that does not parse
    """
    steps = []
    for token in re.split(r'[\s;]+', text.strip()):
        if not token:
            continue
        match = _STEP.match(token)
        if not match:
            raise base.PolicyError(
                'policy schedule: step %r must look like i3:dt200, t60:pause '
                'or s2:postcopy (trigger i/t/s + number, action dt<ms>, '
                'postcopy, pause or abort)' % token
            )
        downtime = match.group('downtime')
        if downtime is not None:
            if int(downtime) < 1:
                raise base.PolicyError(
                    'policy schedule: step %r: downtime '
                    'must be >= 1 ms' % token
                )
            step = Step(
                match.group('trigger'),
                int(match.group('limit')),
                Action.SET_DOWNTIME,
                int(downtime),
                token,
            )
        else:
            step = Step(
                match.group('trigger'),
                int(match.group('limit')),
                _ACTIONS[match.group('action')],
                None,
                token,
            )
        steps.append(step)
    if not steps:
        raise base.PolicyError('policy schedule: the schedule has no steps')
    return tuple(steps)


class SchedulePolicy(base.ConvergencePolicy):
    """Runs an operator-written schedule of downtime steps and escalations."""

    name = 'schedule'
    PARAMS = (
        base.Param(
            'preset',
            str,
            'stepped',
            'a named schedule (see the module documentation)',
            choices=tuple(sorted(PRESETS)),
        ),
        base.Param('steps', str, '', 'a schedule string; overrides preset'),
        base.Param(
            'min_progress_pct',
            float,
            2.0,
            'how much smaller a round must be to count as progress',
            minimum=0,
            maximum=50,
        ),
    )

    def validate(self):
        steps = parse_steps(
            self.params['steps'] or PRESETS[self.params['preset']]
        )
        scale = self.params['time_scale']
        self.steps = tuple(
            dataclasses.replace(step, limit=step.limit * scale)
            if step.trigger == 't' and scale != 1.0
            else step
            for step in steps
        )
        self.cursor = 0
        self.rounds = signals.RoundTracker()
        self.best_round_bytes = None
        self.stalled_rounds = 0

    def _track(self, obs):
        rnd = self.rounds.update(obs)
        if rnd is None or rnd.iteration < 2:
            return
        keep = 1 - self.params['min_progress_pct'] / 100.0
        if (
            self.best_round_bytes is None
            or rnd.size_bytes < self.best_round_bytes * keep
        ):
            self.best_round_bytes = rnd.size_bytes
            self.stalled_rounds = 0
        else:
            self.stalled_rounds += 1

    def _skip_alternatives(self, taken):
        """Skip escalations sharing ``taken``'s trigger: they were fallbacks.

        ``s4:postcopy s4:pause s4:abort`` lists alternatives; once one is
        taken the others must not follow it on the next sample.
        """
        while self.cursor < len(self.steps):
            step = self.steps[self.cursor]
            if (step.trigger, step.limit) != (
                taken.trigger,
                taken.limit,
            ) or step.action is Action.SET_DOWNTIME:
                break
            self.cursor += 1

    def _decide(self, obs):
        self._track(obs)
        if obs.phase is Phase.POSTCOPY:
            return NOTHING
        permits = self.context.permits
        while self.cursor < len(self.steps):
            step = self.steps[self.cursor]
            if not step.holds(
                obs.iteration, obs.elapsed_s, self.stalled_rounds
            ):
                return NOTHING
            self.cursor += 1
            number = self.cursor
            if not permits.allows(step.action) or (
                obs.phase is Phase.PAUSED
                and step.action is not Action.ABORT
                and step.action is not Action.SET_DOWNTIME
            ):
                continue
            if step.action is not Action.SET_DOWNTIME:
                self._skip_alternatives(step)
            return Decision(
                step.action,
                'schedule step %d (%s)' % (number, step.text),
                downtime_ms=step.downtime_ms,
            )
        return NOTHING
