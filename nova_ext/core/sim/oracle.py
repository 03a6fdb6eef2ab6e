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
"""The benchmark's reference row: plain pre-copy at the permitted downtime.

``oracle-precopy`` sets the permitted maximum downtime on the first sample
and never escalates. Whatever it completes, pre-copy alone could complete;
the claims measure the other policies against it. Not an entry point: an
operator gains nothing from a policy that never gives up.
"""

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import NOTHING
from nova_ext.core.policies import base


class OraclePrecopy(base.ConvergencePolicy):
    """Downtime at the permitted maximum from the start; nothing else."""

    name = 'oracle-precopy'

    def _decide(self, obs):
        if self.downtime_ms is None:
            return Decision(
                Action.SET_DOWNTIME,
                'the permitted maximum at once',
                downtime_ms=self.context.permits.max_downtime_ms,
            )
        return NOTHING
