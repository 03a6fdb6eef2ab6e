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
"""Tests for the KubeVirt legacy baseline."""

import unittest

from nova_ext.core.observation import GIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase
from nova_ext.core.policies import kubevirt
from tests import fakes


def _flat(until_s, remaining, phase=Phase.PRECOPY, step_s=0.5):
    out, t = [], step_s
    while t <= until_s:
        out.append(fakes.observation(t, remaining=remaining, phase=phase))
        t += step_s
    return out


class TestKubevirt(unittest.TestCase):
    def test_budget_counts_whole_decimal_gigabytes(self):
        policy = kubevirt.KubevirtPolicy(MigrationContext(4 * GIB))
        self.assertEqual(750, policy.budget_s)  # 4 GiB = 4.29 GB -> 5

    def test_stuck_migration_aborts_after_progress_timeout(self):
        policy = kubevirt.KubevirtPolicy(MigrationContext(4 * GIB))
        got = fakes.actions(policy, _flat(200, GIB))
        self.assertEqual('abort', got[0][1])
        self.assertEqual(151.0, got[0][0])

    def test_sawtooth_counts_as_progress(self):
        """Remaining falls within every round, so it is never 'stuck'."""
        policy = kubevirt.KubevirtPolicy(MigrationContext(4 * GIB))
        got = fakes.actions(
            policy, fakes.sawtooth([4 * GIB] + [2 * GIB] * 400)
        )
        self.assertEqual([(750.5, 'abort', None)], got)

    def test_budget_spent_postcopy_when_allowed(self):
        policy = kubevirt.KubevirtPolicy(
            MigrationContext(4 * GIB, Permits(postcopy=True))
        )
        got = fakes.actions(
            policy, fakes.sawtooth([4 * GIB] + [2 * GIB] * 400)
        )
        self.assertEqual((750.5, 'postcopy', None), got[0])

    def test_pause_doubles_budget_then_aborts(self):
        policy = kubevirt.KubevirtPolicy(
            MigrationContext(4 * GIB, Permits(pause=True)),
            {'progress_timeout': '0'},
        )
        before = fakes.sawtooth([4 * GIB] + [2 * GIB] * 374)
        paused = fakes.sawtooth(
            [2 * GIB] * 400, start_s=before[-1].elapsed_s, phase=Phase.PAUSED
        )
        got = fakes.actions(policy, before + paused)
        self.assertEqual('pause', got[0][1])
        self.assertEqual('abort', got[1][1])
        self.assertGreater(got[1][0], 1500)
