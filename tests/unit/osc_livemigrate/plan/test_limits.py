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
"""plan.limits: counting flights, what may start, where a server goes."""

import unittest

from osc_livemigrate.plan import limits as lim


def _load(*pairs):
    return lim.load(
        lim.Flight('s%d' % i, src, dst) for i, (src, dst) in enumerate(pairs)
    )


class TestLoad(unittest.TestCase):
    def test_counts_out_and_in(self):
        cur = _load(('c1', 'c3'), ('c2', 'c3'), ('c1', None))
        self.assertEqual(3, cur.total)
        self.assertEqual(2, cur.on('c1'))
        self.assertEqual(2, cur.on('c3'))
        self.assertEqual(0, cur.on('c3', inbound=False))

    def test_one_flight_per_server_later_wins(self):
        cur = lim.load(
            [lim.Flight('s1', 'c1', None), lim.Flight('s1', 'c1', 'c4')]
        )
        self.assertEqual(1, cur.total)
        self.assertEqual(1, cur.on('c4'))


class TestBlocked(unittest.TestCase):
    LIMITS = lim.Limits(max_parallel=4, max_per_host=2)

    def test_module_example(self):
        cur = _load(('c1', 'c3'), ('c2', 'c3'))
        self.assertIsNone(lim.blocked(cur, self.LIMITS, 'c1', 'c4'))
        self.assertIn(
            '2 migrations touch c3', lim.blocked(cur, self.LIMITS, 'c1', 'c3')
        )

    def test_cloud_limit_counts_foreign_migrations(self):
        cur = _load(('a', 'b'), ('c', 'd'), ('e', 'f'), ('g', 'h'))
        self.assertIn(
            '--max-parallel 4', lim.blocked(cur, self.LIMITS, 'c1', 'c9')
        )

    def test_inbound_needs_a_destination(self):
        self.assertIn(
            'no destination',
            lim.blocked(_load(), self.LIMITS, 'c1', None),
        )

    def test_outbound_only_lets_scheduler_choose(self):
        limits = lim.Limits(max_per_host=2, inbound=False)
        cur = _load(('c9', 'c1'), ('c9', 'c1'))
        self.assertIsNone(lim.blocked(cur, limits, 'c1', None))
        cur = _load(('c1', None), ('c1', None))
        self.assertIn('--max-per-host 2', lim.blocked(cur, limits, 'c1'))

    def test_no_limits(self):
        cur = _load(*[('c1', 'c2')] * 50)
        self.assertIsNone(lim.blocked(cur, lim.Limits(inbound=False), 'c1'))


class TestPickDestination(unittest.TestCase):
    def test_least_busy_under_limit(self):
        limits = lim.Limits(max_per_host=2)
        cur = _load(('x', 'c2'), ('x', 'c2'), ('y', 'c3'))
        self.assertEqual(
            'c3', lim.pick_destination(cur, limits, ['c2', 'c3', 'c4'][:2])
        )
        self.assertEqual(
            'c4', lim.pick_destination(cur, limits, ['c2', 'c3', 'c4'])
        )

    def test_none_when_all_full(self):
        limits = lim.Limits(max_per_host=1)
        cur = _load(('x', 'c2'))
        self.assertIsNone(lim.pick_destination(cur, limits, ['c2']))

    def test_ties_keep_preference_order(self):
        self.assertEqual(
            'c5', lim.pick_destination(_load(), lim.Limits(), ['c5', 'c2'])
        )


class TestNotes(unittest.TestCase):
    def test_nova_tighter(self):
        note = lim.nova_note(lim.Limits(max_parallel=6, max_per_host=2))
        self.assertIn('max_concurrent_live_migrations', note)
        self.assertIsNone(lim.nova_note(lim.Limits(max_per_host=1)))
        self.assertIsNone(lim.nova_note(lim.Limits(max_per_host=4), 4))

    def test_describe(self):
        self.assertEqual(
            'at most 6 in the cloud, 2 per host (out + in)',
            lim.Limits(6, 2).describe(),
        )
        self.assertEqual(
            '2 per host (outbound)',
            lim.Limits(None, 2, inbound=False).describe(),
        )
        self.assertEqual('no limit', lim.Limits().describe())


class TestSchedulerNote(unittest.TestCase):
    def test_only_for_several_hosts_without_inbound(self):
        out = lim.Limits(max_per_host=2, inbound=False)
        self.assertIn('move twice', lim.scheduler_note(out, 2))
        self.assertIsNone(lim.scheduler_note(out, 1))
        self.assertIsNone(lim.scheduler_note(lim.Limits(max_per_host=2), 3))
