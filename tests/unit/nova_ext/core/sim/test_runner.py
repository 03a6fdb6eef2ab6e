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
"""The one drive loop, and the simulators that run it."""

import unittest

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.sim import calibrated
from nova_ext.core.sim import model
from nova_ext.core.sim import oracle
from nova_ext.core.sim import runner
from nova_ext.core.sim import workload as workloads


class Watch(oracle.OraclePrecopy):
    """The oracle, remembering when it was asked; aborts at ``abort_s``."""

    def __init__(self, context, abort_s=None):
        super().__init__(context)
        self.seen, self.abort_s = [], abort_s

    def _decide(self, obs):
        self.seen.append(obs.elapsed_s)
        if self.abort_s is not None and obs.elapsed_s >= self.abort_s:
            return Decision(Action.ABORT, 'enough')
        return super()._decide(obs)


def _hopeless():
    # 1 GiB set dirtied at twice the link: pre-copy never ends
    return workloads.constant(4 * GIB, 2 * GIB, GIB)


class TestDrive(unittest.TestCase):
    def test_fixed_polls_without_a_step_function(self):
        policy = Watch(MigrationContext(4 * GIB, Permits()), abort_s=10)
        mig = model.Migration(_hopeless(), model.Link(GIB))
        events, _ = runner.drive(policy, mig, max_s=100, poll_s=0.5)
        self.assertEqual([0.5 * i for i in range(1, 21)], policy.seen)
        # the oracle's downtime, then the abort that ended it
        self.assertEqual(['set-downtime', 'abort'], [e.action for e in events])
        self.assertEqual('aborted', mig.outcome)

    def test_growing_steps_space_polls_out(self):
        policy = Watch(MigrationContext(4 * GIB, Permits()))
        mig = model.Migration(_hopeless(), model.Link(GIB))
        runner.drive(policy, mig, 1000, 0.5, runner.growing_steps(0.5, 0.01))
        gaps = [b - a for a, b in zip(policy.seen, policy.seen[1:])]
        self.assertAlmostEqual(0.5, gaps[0])
        self.assertGreater(gaps[-1], 9.0)
        self.assertGreaterEqual(mig.t, 1000)

    def test_max_s_leaves_the_migration_unfinished(self):
        policy = Watch(MigrationContext(4 * GIB, Permits()))
        result = runner.simulate(policy, _hopeless(), model.Link(GIB), max_s=5)
        self.assertEqual('unfinished', result.outcome)
        self.assertEqual(10, len(policy.seen))


class TestCalibrated(unittest.TestCase):
    def test_simulate_is_run_on_the_constant_guest(self):
        def policy():
            return Watch(MigrationContext(256 * MIB, Permits()))

        self.assertEqual(
            calibrated.run(policy(), calibrated.workload(256, 32, 16, 4), 20),
            calibrated.simulate(policy(), 256, 32, 16, 4, 20),
        )

    def test_setup_time_is_added_to_the_total(self):
        cal = calibrated.FITTED
        load = calibrated.workload(256, 0, 4, 1)
        outcome, total, downtime = calibrated.run(
            Watch(MigrationContext(256 * MIB, Permits())), load, 40
        )
        self.assertEqual('completed', outcome)
        self.assertGreater(total, cal.setup_s)
        self.assertGreater(downtime, cal.switchover_ms)
