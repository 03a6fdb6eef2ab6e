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
"""Tests for the migration model's equations, one behaviour at a time."""

import unittest

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import NOTHING
from nova_ext.core.observation import Permits
from nova_ext.core.policies import base
from nova_ext.core.sim import model
from nova_ext.core.sim import runner


class Fixed(base.ConvergencePolicy):
    """Does one action at a given time, then nothing."""

    name = 'fixed'

    def __init__(self, context, at_s=None, decision=NOTHING):
        self.at_s, self.decision = at_s, decision
        super().__init__(context)

    def _decide(self, obs):
        if self.at_s is not None and obs.elapsed_s >= self.at_s:
            self.at_s = None
            return self.decision
        return NOTHING


def _run(
    workload,
    at_s=None,
    decision=NOTHING,
    link=None,
    permits=Permits(postcopy=True, pause=True),
):
    policy = Fixed(
        MigrationContext(workload.ram_bytes, permits), at_s, decision
    )
    return runner.simulate(
        policy, workload, link or model.Link(GIB), max_s=3600
    )


class TestPrecopy(unittest.TestCase):
    def test_idle_guest_takes_ram_over_bandwidth(self):
        result = _run(model.Workload(4 * GIB, 0, 0))
        self.assertEqual('completed', result.outcome)
        self.assertAlmostEqual(4.0, result.total_s, places=3)
        self.assertAlmostEqual(270.0, result.downtime_ms)  # overhead only
        self.assertEqual(4 * GIB, result.bytes_sent)

    def test_rounds_shrink_by_rho(self):
        # rho 0.5, working set = RAM: 4, 2, 1, 0.5, 0.25 GiB; 0.25 GiB fits
        # the default 300 ms at 1 GiB/s and is sent during the downtime.
        result = _run(model.Workload(4 * GIB, 0.5 * GIB, 4 * GIB))
        self.assertAlmostEqual(7.75, result.total_s, places=3)
        self.assertAlmostEqual(250.0 + 270.0, result.downtime_ms, places=1)
        self.assertEqual(4, result.iterations)

    def test_working_set_bigger_than_threshold_never_converges(self):
        result = _run(model.Workload(GIB, 4 * GIB, 512 * MIB))
        self.assertEqual('unfinished', result.outcome)

    def test_sawtooth_is_what_libvirt_shows(self):
        mig = model.Migration(
            model.Workload(2 * GIB, 2 * GIB, GIB), model.Link(GIB)
        )
        seen = []
        for _ in range(8):
            mig.advance(0.5)
            seen.append(mig.observe().memory_remaining_bytes / GIB)
        self.assertEqual([1.5, 1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 1.0], seen)


class TestEscalations(unittest.TestCase):
    def test_postcopy_moves_the_guest_at_once_then_pulls_the_rest(self):
        workload = model.Workload(4 * GIB, 4 * GIB, 2 * GIB)
        result = _run(workload, 9.0, Decision(Action.POSTCOPY, 'go'))
        self.assertEqual('completed', result.outcome)
        self.assertEqual(9.0, result.postcopy_s)
        self.assertEqual(10.0, result.downtime_ms)
        # at 9 s: round 4 (2 GiB) started at 8 s, 1 GiB unsent, 2 GiB dirty
        self.assertAlmostEqual(12.0, result.total_s, places=3)

    def test_pause_stops_dirtying_and_counts_as_downtime(self):
        workload = model.Workload(4 * GIB, 4 * GIB, 2 * GIB)
        result = _run(workload, 9.0, Decision(Action.PAUSE, 'go'))
        self.assertEqual('completed', result.outcome)
        # 1 GiB left of this round, then the 2 GiB dirtied before the pause
        self.assertAlmostEqual(12.0, result.total_s, places=3)
        self.assertAlmostEqual(3000.0 + 270.0, result.downtime_ms, places=1)

    def test_abort_ends_at_once(self):
        result = _run(
            model.Workload(4 * GIB, 4 * GIB, 2 * GIB),
            5.0,
            Decision(Action.ABORT, 'stop'),
        )
        self.assertEqual(
            ('aborted', 5.0, None),
            (result.outcome, result.total_s, result.downtime_ms),
        )

    def test_raised_downtime_switches_over_mid_round(self):
        workload = model.Workload(4 * GIB, 4 * GIB, 400 * MIB)
        result = _run(
            workload,
            6.25,
            Decision(Action.SET_DOWNTIME, 'up', downtime_ms=1000),
        )
        self.assertEqual('completed', result.outcome)
        self.assertLess(result.total_s, 7.5)


class TestAutoConverge(unittest.TestCase):
    def _throttle_run(self, cpu_need):
        link = model.Link(GIB, auto_converge=True)
        workload = model.Workload(4 * GIB, 2 * GIB, 2 * GIB, cpu_need=cpu_need)
        return _run(workload, link=link)

    def test_cpu_bound_dirtier_is_tamed(self):
        result = self._throttle_run(cpu_need=1.0)
        self.assertEqual('completed', result.outcome)
        self.assertGreaterEqual(result.max_throttle_pct, 50)

    def test_dirtier_needing_little_cpu_defeats_auto_converge(self):
        result = self._throttle_run(cpu_need=0.005)
        self.assertEqual('unfinished', result.outcome)
        self.assertEqual(99, result.max_throttle_pct)

    def test_throttle_steps_20_then_10_up_to_99(self):
        mig = model.Migration(
            model.Workload(GIB, 4 * GIB, 512 * MIB, 0.001),
            model.Link(GIB, auto_converge=True),
        )
        steps = []
        for _ in range(400):
            mig.advance(0.5)
            if not steps or steps[-1] != mig.throttle_pct:
                steps.append(mig.throttle_pct)
        self.assertEqual([0, 20, 30, 40, 50, 60, 70, 80, 90, 99], steps)

    def test_unknown_action_is_refused(self):
        mig = model.Migration(model.Workload(GIB, 0, 0), model.Link(GIB))
        with self.assertRaises(ValueError):
            mig.apply(type('D', (), {'action': 'teleport'})())
