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
"""KubeVirt's legacy migration monitor, re-implemented as a baseline.

Rules, from KubeVirt's documented behaviour (virt-launcher's monitor):

- the completion budget is ``completion_timeout_per_gib`` (150 s) times the
  migration data size counted in whole decimal gigabytes, rounded up
  (Kubernetes ``ScaledValue(Giga)``): a 4 GiB guest gets 150 x 5 = 750 s;
- "progress" means the remaining bytes went down since the previous sample;
  no such progress for ``progress_timeout`` (150 s) aborts;
- past the budget, when workload disruption is allowed, switch to post-copy
  if allowed, else pause the guest and double the budget; otherwise abort;
- nothing is done once post-copy has started;
- max downtime is never tuned, so QEMU's default of 300 ms applies.
"""

import math

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import NOTHING
from nova_ext.core.observation import Phase
from nova_ext.core.policies import base

#: QEMU's own default max downtime, which KubeVirt leaves in place
QEMU_DEFAULT_DOWNTIME_MS = 300


class KubevirtPolicy(base.ConvergencePolicy):
    """KubeVirt's legacy timeouts: a baseline, selectable by operators too."""

    name = 'kubevirt'
    PARAMS = (
        base.Param(
            'completion_timeout_per_gib',
            int,
            150,
            'seconds per '
            'GB of migration data before the budget is spent; 0 '
            'disables',
            minimum=0,
            seconds=True,
        ),
        base.Param(
            'progress_timeout',
            int,
            150,
            'seconds without the '
            'remaining bytes going down before aborting; 0 '
            'disables',
            minimum=0,
            seconds=True,
        ),
        base.Param(
            'allow_workload_disruption',
            bool,
            True,
            'past the '
            'budget, post-copy or pause (if permitted) instead of '
            'abort',
        ),
    )

    def validate(self):
        ctx = self.context
        data_gb = math.ceil((ctx.ram_bytes + ctx.disk_bytes) / 1e9)
        self.budget_s = self.params['completion_timeout_per_gib'] * data_gb
        self._previous_remaining = None
        self._last_progress_s = 0.0

    def _decide(self, obs):
        remaining = obs.data_remaining_bytes or obs.memory_remaining_bytes
        if (
            self._previous_remaining is None
            or remaining < self._previous_remaining
        ):
            self._last_progress_s = obs.elapsed_s
        self._previous_remaining = remaining

        if obs.phase is Phase.POSTCOPY:
            return NOTHING
        permits = self.context.permits
        over_budget = bool(self.budget_s) and obs.elapsed_s > self.budget_s
        disruptive = self.params['allow_workload_disruption'] and (
            permits.postcopy or permits.pause
        )
        if over_budget and disruptive and obs.phase is not Phase.PAUSED:
            reason = 'not complete within %d s' % self.budget_s
            self.budget_s *= 2
            if permits.postcopy:
                return Decision(Action.POSTCOPY, reason + '; post-copy')
            return Decision(
                Action.PAUSE,
                reason + '; pausing, budget doubled to %d s' % self.budget_s,
            )
        stuck_s = obs.elapsed_s - self._last_progress_s
        timeout = self.params['progress_timeout']
        if timeout and stuck_s > timeout:
            return Decision(Action.ABORT, 'no progress for %d s' % stuck_s)
        if over_budget:
            return Decision(
                Action.ABORT, 'not complete within %d s' % self.budget_s
            )
        return NOTHING
