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
"""The shared-link scenarios and the claims made per migration on them."""

import types
import unittest

from benchmarks import cost_claims
from benchmarks import policies as bench
from benchmarks import policy_claims
from benchmarks import policy_rows
from benchmarks import shared_runs
from nova_ext.core.observation import MIB
from nova_ext.core.sim import fleet
from nova_ext.core.sim import sharing


class TestScenarios(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.todo = shared_runs.quick_scenarios()
        cls.rows = bench.run_all(cls.todo, 1, shared_runs.run_scenario)

    def test_the_set_is_the_issues(self):
        every = shared_runs.scenarios()
        # 3 links x 4 arrangements x (2 families x 3 rho + the mix) x 3
        # permit sets x 2 backgrounds x 2 seeds
        self.assertEqual(3 * 4 * 7 * 3 * 2 * 2, len(every))
        self.assertEqual(len(every), len({str(s) for s in every}))

    def test_rho_is_relative_to_the_share_at_the_start(self):
        for sc in self.todo:
            kinds, shares, scenario = shared_runs._members(sc)
            for (family, rho), share, member in zip(
                kinds, shares, scenario.members
            ):
                self.assertAlmostEqual(
                    rho * share, member.workload.mean_rate_bps()
                )
        together = [s for s in self.todo if s['arrangement'] == 'together-8']
        _, shares, _ = shared_runs._members(together[0])
        self.assertEqual([128 * MIB] * 8, shares)

    def test_every_policy_runs_every_migration(self):
        count = {
            sc: shared_runs.ARRANGEMENTS[sc][0]
            for sc in shared_runs.ARRANGEMENTS
        }
        want = sum(count[s['arrangement']] for s in self.todo)
        self.assertEqual(want * len(bench.POLICIES), len(self.rows))
        oracle = [r for r in self.rows if r['policy'] == 'oracle-precopy']
        self.assertTrue(all(r['actions'] == '-' for r in oracle))
        for row in self.rows:
            self.assertGreaterEqual(row['end_s'], row['start_s'])

    def test_a_queue_runs_one_at_a_time(self):
        rows = [
            r
            for r in self.rows
            if r['arrangement'] == 'queue-8-c1'
            and r['policy'] == 'oracle-precopy'
            and r['guests'] == 'constant'
            and r['rho'] == 0.3
        ]
        for before, after in zip(rows, rows[1:]):
            self.assertGreaterEqual(after['start_s'], before['end_s'])

    def test_claims_hold_on_the_slice(self):
        claims = policy_claims.check(self.rows, 'shared')
        claims.append(cost_claims.fleet(self.rows))
        for claim in claims:
            with self.subTest(claim=claim['claim']):
                self.assertTrue(claim['passed'], claim['examples'])

    def test_c6_catches_a_late_queue(self):
        rows = [dict(r) for r in self.rows]
        self.assertTrue(cost_claims.fleet(rows)['passed'])
        last = max(
            (
                r
                for r in rows
                if r['policy'] == 'adaptive'
                and r['arrangement'] == 'queue-8-c1'
                and r['guests'] == 'constant'
                and r['rho'] == 0.3
            ),
            key=lambda r: r['end_s'],
        )
        last['end_s'] *= 1.2
        self.assertFalse(cost_claims.fleet(rows)['passed'])


class TestShareAtStart(unittest.TestCase):
    def test_b_is_the_share_the_run_gave_it(self):
        link = sharing.SharedLink(1024 * MIB, (sharing.Burst(30, 60, 0.5),))
        scenario = fleet.Scenario(link, (), 1)

        def run(start, end):
            return types.SimpleNamespace(start_s=start, end_s=end)

        # a queue of one slot: the second starts as the first ends,
        # inside the burst; a third overlaps the second after it
        runs = [run(0.0, 35.0), run(35.0, 100.0), run(95.0, 200.0)]
        got = [shared_runs.share_at_start(scenario, runs, i) for i in range(3)]
        self.assertEqual([1024 * MIB, 512 * MIB, 512 * MIB], got)


class TestCells(unittest.TestCase):
    def _rows(self, seeds_done):
        rows = []
        for seed, done in enumerate(seeds_done, 1):
            for policy in ('oracle-precopy', 'adaptive', 'nova'):
                rows.append(
                    {
                        'family': 'constant',
                        'variant': '-',
                        'wws': 0.5,
                        'link_mib_s': 40,
                        'ram_gib': 2,
                        'rho': 1.5,
                        'permits': 'none',
                        'sigma': 0.4,
                        'seed': seed,
                        'policy': policy,
                        'outcome': 'completed' if done else 'aborted',
                        'total_s': 500.0,
                        'nova_budget_s': 1600.0,
                        'auto_converge': False,
                        'actions': '-',
                    }
                )
        return rows

    def test_a_cell_is_every_seed(self):
        def kind(seeds_done):
            cells = policy_rows.by_cell(self._rows(seeds_done))
            got = policy_claims.classify(cells, lambda r: 1000.0)
            (value,) = got.values()
            return value

        self.assertEqual('finishable', kind([True, True, True]))
        self.assertEqual('hopeless', kind([False, False, False]))
        self.assertEqual('mixed', kind([True, False, True]))

    def test_c3c_catches_a_needless_post_copy(self):
        rows = bench.run_cell(
            next(
                c
                for c in bench.quick_cells()
                if c['family'] == 'constant'
                and c['link_mib_s'] == 1024
                and c['rho'] == 0.3
                and c['permits'] == 'postcopy'
            )
        )
        c3c = [
            c for c in policy_claims.check(rows, 'main') if c['claim'] == 'C3c'
        ][0]
        self.assertEqual((1, True), (c3c['cases'], c3c['passed']))
        for row in rows:
            if row['policy'] == 'adaptive':
                row['actions'] = 'postcopy'
        c3c = [
            c for c in policy_claims.check(rows, 'main') if c['claim'] == 'C3c'
        ][0]
        self.assertFalse(c3c['passed'])
