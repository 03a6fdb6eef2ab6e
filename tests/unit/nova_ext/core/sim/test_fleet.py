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
"""Several migrations on one shared link, stepped as a lone one is."""

import unittest

from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.sim import fleet
from nova_ext.core.sim import model
from nova_ext.core.sim import noise as noises
from nova_ext.core.sim import oracle
from nova_ext.core.sim import runner
from nova_ext.core.sim import sharing
from nova_ext.core.sim import workload as workloads

IDLE = workloads.constant(2 * GIB, 0.0, 0)


def _oracles(n, ram=2 * GIB):
    return [
        oracle.OraclePrecopy(MigrationContext(ram, Permits()))
        for _ in range(n)
    ]


def _run(members, capacity=GIB, background=(), c=None, **kw):
    scenario = fleet.Scenario(
        sharing.SharedLink(capacity, background), tuple(members), c
    )
    return fleet.drive(
        scenario, _oracles(len(members)), model.Link(capacity), 10000, **kw
    )


class TestDrive(unittest.TestCase):
    def test_one_member_is_a_lone_migration(self):
        # the same stepping, the same noise: the very same result
        load = workloads.bursts(2 * GIB, 300 * MIB, GIB, 60, 0.5)
        steps = runner.growing_steps(0.5, 0.01, 2.0, 4)
        lone = runner.simulate(
            _oracles(1)[0],
            load,
            model.Link(GIB),
            max_s=10000,
            noise=noises.Noise(1, key='x'),
            poll_growth=0.01,
            max_poll_s=2.0,
            polls_per_round=4,
        )
        (run,) = _run(
            [fleet.Member(load)],
            step_s=steps,
            noises=[noises.Noise(1, key='x')],
        )
        self.assertEqual('completed', lone.outcome)
        self.assertEqual(lone, run.result)
        self.assertEqual(0.0, run.start_s)

    def test_migrations_started_together_share_equally(self):
        runs = _run([fleet.Member(IDLE)] * 2)
        # 2 GiB each at 512 MiB/s
        self.assertEqual([4.0, 4.0], [r.end_s for r in runs])

    def test_the_survivor_speeds_up_when_one_ends(self):
        small = workloads.constant(GIB, 0.0, 0)
        runs = _run([fleet.Member(small), fleet.Member(IDLE)])
        # 1 GiB each at 512 MiB/s by 2 s, then the last 1 GiB at 1 GiB/s
        self.assertEqual([2.0, 3.0], [r.end_s for r in runs])

    def test_a_queue_starts_the_next_when_one_ends(self):
        runs = _run([fleet.Member(IDLE)] * 3, c=1)
        self.assertEqual([0.0, 2.0, 4.0], [r.start_s for r in runs])
        self.assertEqual(6.0, runs[-1].end_s)

    def test_the_next_starts_when_the_slot_frees_not_at_the_next_poll(self):
        # 1.3 GiB at 1 GiB/s, 10 ms permitted: the first round ends at
        # 1.3 s, within the poll from 1.0 s to 1.5 s; the 8 MiB dirtied
        # by then fit 10 ms, so the first is done at 1.308 s
        short = workloads.constant(int(1.3 * GIB), GIB, 8 * MIB)
        policies = [
            oracle.OraclePrecopy(
                MigrationContext(short.ram_bytes, Permits(max_downtime_ms=10))
            )
            for _ in range(2)
        ]
        scenario = fleet.Scenario(
            sharing.SharedLink(GIB), (fleet.Member(short),) * 2, 1
        )
        runs = fleet.drive(scenario, policies, model.Link(GIB), 100)
        self.assertAlmostEqual(1.308, runs[0].end_s, places=3)
        # before: at the next poll, 1.5 s
        self.assertAlmostEqual(runs[0].end_s, runs[1].start_s, places=3)

    def test_a_queue_of_two_slots(self):
        runs = _run([fleet.Member(IDLE)] * 4, c=2)
        self.assertEqual([0.0, 0.0, 4.0, 4.0], [r.start_s for r in runs])

    def test_members_start_at_their_times(self):
        runs = _run([fleet.Member(IDLE), fleet.Member(IDLE, start_s=1.0)])
        self.assertEqual([0.0, 1.0], [r.start_s for r in runs])
        # alone for 1 s (1 GiB), then shared: the first is done at 3 s
        self.assertEqual(3.0, runs[0].end_s)

    def test_background_slows_the_migrations(self):
        quiet = _run([fleet.Member(IDLE)])
        busy = _run(
            [fleet.Member(IDLE)], background=(sharing.Burst(1, 10, 0.5),)
        )
        self.assertEqual(2.0, quiet[0].end_s)
        # 1 GiB in the first second, the other at 512 MiB/s
        self.assertEqual(3.0, busy[0].end_s)

    def test_a_capped_member_leaves_the_rest_to_the_others(self):
        capped = fleet.Member(
            workloads.constant(GIB // 4, 0.0, 0), cap_bps=128 * MIB
        )
        runs = _run([capped, fleet.Member(IDLE)])
        # the capped one sends at 128 MiB/s (2 s), the other at 896
        self.assertEqual(2.0, runs[0].end_s)
        self.assertLess(runs[1].end_s, 2.5)

    def test_a_hopeless_member_stops_at_its_own_max_s(self):
        hot = workloads.constant(2 * GIB, 2 * GIB, GIB)
        scenario = fleet.Scenario(
            sharing.SharedLink(GIB), (fleet.Member(hot), fleet.Member(IDLE))
        )
        runs = fleet.drive(scenario, _oracles(2), model.Link(GIB), [50, 50])
        self.assertEqual('unfinished', runs[0].result.outcome)
        self.assertEqual(50.0, runs[0].end_s)
        self.assertEqual('completed', runs[1].result.outcome)

    def test_bad_concurrency_is_refused(self):
        with self.assertRaises(ValueError):
            fleet.Scenario(sharing.SharedLink(GIB), (), 0)


class TestSharesAtStart(unittest.TestCase):
    def test_together_queued_and_capped(self):
        link = sharing.SharedLink(GIB, (sharing.Burst(30, 60, 0.5),))
        members = (fleet.Member(IDLE),) * 4
        self.assertEqual(
            [256 * MIB] * 4,
            fleet.shares_at_start(fleet.Scenario(link, members)),
        )
        self.assertEqual(
            [512 * MIB] * 4,
            fleet.shares_at_start(fleet.Scenario(link, members, 2)),
        )
        late = (fleet.Member(IDLE), fleet.Member(IDLE, start_s=40))
        self.assertEqual(
            [GIB, 256 * MIB],
            fleet.shares_at_start(fleet.Scenario(link, late)),
        )
        capped = (fleet.Member(IDLE, cap_bps=100 * MIB),) + members[:3]
        shares = fleet.shares_at_start(fleet.Scenario(link, capped))
        self.assertEqual(100 * MIB, shares[0])
        self.assertAlmostEqual((GIB - 100 * MIB) / 3, shares[1])


class TestQueueOfHopeless(unittest.TestCase):
    def test_each_waits_for_the_last_to_give_up(self):
        # before: the float sum of steps fell a hair short of the first
        # one's end, and the rest of the queue started at infinity
        hot = workloads.constant(2 * GIB, 3 * GIB, GIB)
        scenario = fleet.Scenario(
            sharing.SharedLink(GIB), (fleet.Member(hot),) * 3, 1
        )
        runs = fleet.drive(
            scenario,
            _oracles(3),
            model.Link(GIB),
            1600.0,
            step_s=runner.growing_steps(0.5, 0.01, 0.125, 4),
            noises=[noises.Noise(1, key=str(i)) for i in range(3)],
        )
        self.assertEqual(['unfinished'] * 3, [r.result.outcome for r in runs])
        for before, after in zip(runs, runs[1:]):
            self.assertAlmostEqual(before.end_s, after.start_s, delta=1.0)
        self.assertAlmostEqual(4800, runs[-1].end_s, delta=3.0)
