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
"""Workloads as data, seeded noise and the model's use of them."""

import statistics
import unittest
from unittest import mock

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase
from nova_ext.core.sim import model
from nova_ext.core.sim import noise
from nova_ext.core.sim import oracle
from nova_ext.core.sim import runner
from nova_ext.core.sim import workload as workloads


class TestSchedules(unittest.TestCase):
    def test_bursts_keep_the_mean_and_repeat(self):
        load = workloads.bursts(4 * GIB, GIB, GIB, period_s=60, duty=0.25)
        self.assertAlmostEqual(GIB, load.mean_rate_bps())
        sched = load.schedule()
        self.assertEqual(((4.0 * GIB,), 15.0), sched.at(0.0))
        self.assertEqual(((0.0,), 40.0), sched.at(20.0))
        self.assertEqual(((4.0 * GIB,), 10.0), sched.at(65.0))

    def test_sawtooth_climbs_to_twice_the_mean(self):
        load = workloads.sawtooth(4 * GIB, GIB, GIB, period_s=80)
        self.assertAlmostEqual(GIB, load.mean_rate_bps())
        first = load.schedule().at(1.0)[0][0]
        last = load.schedule().at(79.0)[0][0]
        self.assertLess(first, 0.2 * GIB)
        self.assertGreater(last, 1.8 * GIB)

    def test_step_holds_its_last_rate_for_ever(self):
        sched = workloads.step(4 * GIB, GIB, GIB).schedule()
        self.assertEqual(((GIB / 4.0,), 20.0), sched.at(0.0))
        self.assertEqual(((GIB,), float('inf')), sched.at(1e6))

    def test_three_sets_split_the_rate(self):
        load = workloads.three_sets(100 * GIB, GIB)
        self.assertEqual((1.0 * GIB, 10.0 * GIB, 89.0 * GIB), load.sets)
        self.assertAlmostEqual(GIB, load.mean_rate_bps())

    def test_at_most_three_sets(self):
        with self.assertRaises(ValueError):
            workloads.Workload(GIB, sets=(1, 2, 3, 4), stages=())


class TestNoise(unittest.TestCase):
    def test_same_seed_and_key_same_numbers(self):
        a = [noise.Noise(1, key='x').draw() for _ in range(3)]
        b = [noise.Noise(1, key='x').draw() for _ in range(3)]
        self.assertEqual(a, b)
        self.assertNotEqual(
            noise.Noise(1, key='x').draw(), noise.Noise(2, key='x').draw()
        )

    def test_ten_percent_around_one(self):
        gen = noise.Noise(1)
        values = [gen.factor() for _ in range(4000)]
        self.assertAlmostEqual(1.0, statistics.mean(values), delta=0.01)
        self.assertAlmostEqual(0.1, statistics.stdev(values), delta=0.01)
        self.assertTrue(all(0.5 <= v <= 1.5 for v in values))

    def test_a_step_of_25_polls_draws_their_mean(self):
        """sigma / sqrt(25): a 12.5 s step is as noisy as 25 real polls."""
        gen = noise.Noise(1)
        values = [gen.factor(polls=25) for _ in range(4000)]
        self.assertAlmostEqual(0.02, statistics.stdev(values), delta=0.003)


class TestModelWithSets(unittest.TestCase):
    def test_round_is_the_sum_of_what_each_set_got(self):
        # 2 s first round: the 0.25 GiB set fills, the other gets 1 GiB
        load = workloads.Workload(
            4 * GIB,
            sets=(GIB / 4.0, 2.0 * GIB),
            stages=(workloads.Stage(1e9, (GIB, GIB / 2.0)),),
        )
        mig = model.Migration(load, model.Link(2 * GIB))
        mig.advance(2.0)
        self.assertEqual(2, mig.iteration)
        self.assertAlmostEqual(1.25 * GIB, mig.round_bytes)

    def test_idle_phase_lets_pre_copy_end(self):
        load = workloads.bursts(2 * GIB, GIB, GIB, period_s=60, duty=0.5)
        policy = oracle.OraclePrecopy(
            MigrationContext(2 * GIB, Permits(max_downtime_ms=500))
        )
        result = runner.simulate(policy, load, model.Link(GIB), max_s=600)
        self.assertEqual('completed', result.outcome)
        self.assertAlmostEqual(31.0, result.total_s, delta=0.6)

    def test_phase_after_an_action_comes_from_the_table(self):
        mig = model.Migration(
            workloads.constant(GIB, GIB, GIB), model.Link(GIB)
        )
        with mock.patch(
            'nova_ext.core.phases.phase_after', return_value=Phase.PAUSED
        ) as table:
            mig.apply(Decision(Action.POSTCOPY, 'go'))
        table.assert_called_once_with(Phase.PRECOPY, Action.POSTCOPY)
        self.assertIs(Phase.PAUSED, mig.phase)

    def test_cpu_lost_to_throttling_is_counted(self):
        load = workloads.constant(4 * GIB, 2 * GIB, 2 * GIB)
        policy = oracle.OraclePrecopy(MigrationContext(4 * GIB, Permits()))
        result = runner.simulate(
            policy, load, model.Link(GIB, auto_converge=True), max_s=600
        )
        self.assertGreater(result.max_throttle_pct, 0)
        self.assertGreater(result.cpu_lost_s, 0.0)


class TestRunner(unittest.TestCase):
    def test_escalation_time_and_sparse_polls(self):
        load = workloads.constant(GIB, 4 * GIB, GIB)

        class AbortAt(oracle.OraclePrecopy):
            def _decide(self, obs):
                if obs.elapsed_s >= 1000:
                    return Decision(Action.ABORT, 'enough')
                return super()._decide(obs)

        policy = AbortAt(MigrationContext(GIB, Permits()))
        seen = []
        real = policy.decide

        def decide(obs):
            seen.append(obs.elapsed_s)
            return real(obs)

        policy.decide = decide
        result = runner.simulate(
            policy, load, model.Link(GIB), poll_growth=0.01, max_s=5000
        )
        self.assertEqual(('abort',), result.actions)
        self.assertAlmostEqual(1000, result.escalation_s, delta=10.5)
        self.assertLess(len(seen), 600)

    def test_polls_follow_short_rounds(self):
        """1 s rounds: 0.5 s polls even late, where 1 % would be 10 s."""
        # 8 GiB at 1 GiB/s, a 0.8 GiB set at 3 GiB/s: rounds of 0.8 s
        load = workloads.constant(8 * GIB, 3 * GIB, GIB * 4 // 5)
        seen = []

        class Watch(oracle.OraclePrecopy):
            def _decide(self, obs):
                seen.append(obs.elapsed_s)
                return super()._decide(obs)

        policy = Watch(MigrationContext(8 * GIB, Permits()))
        runner.simulate(
            policy,
            load,
            model.Link(GIB),
            poll_growth=0.01,
            max_s=1000,
            polls_per_round=4,
        )
        late = [b - a for a, b in zip(seen, seen[1:]) if a > 500]
        self.assertAlmostEqual(0.5, max(late), delta=1e-6)


class TestFamilies(unittest.TestCase):
    def test_each_family_builds_the_mean_it_is_given(self):
        params = {
            'bursts': {'period_s': 60, 'duty': 0.25},
            'sawtooth': {'period_s': 120},
            'three-sets': {'period_s': 60, 'duty': 0.5},
        }
        for family in sorted(workloads.FAMILIES):
            if family == 'step':
                continue
            with self.subTest(family=family):
                load = workloads.build(
                    family, 4 * GIB, GIB, GIB, **params.get(family, {})
                )
                self.assertAlmostEqual(GIB, load.mean_rate_bps())

    def test_build_is_the_builder(self):
        self.assertEqual(
            workloads.bursts(4 * GIB, GIB, GIB, 30, 0.5),
            workloads.build(
                'bursts', 4 * GIB, GIB, GIB, period_s=30, duty=0.5
            ),
        )
        self.assertEqual(
            workloads.step(4 * GIB, GIB, GIB),
            workloads.build('step', 4 * GIB, GIB, GIB),
        )

    def test_three_sets_take_no_working_set(self):
        self.assertEqual(
            workloads.three_sets(4 * GIB, GIB, 60, 0.5),
            workloads.build(
                'three-sets', 4 * GIB, GIB, None, period_s=60, duty=0.5
            ),
        )

    def test_unknown_family_names_the_known_ones(self):
        with self.assertRaisesRegex(ValueError, "'nope'.*bursts, constant"):
            workloads.build('nope', GIB, GIB, GIB)
