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
"""plan.fleet: host selection, waves, the dry-run rows."""

import unittest

from osc_livemigrate.plan import drain as dp
from osc_livemigrate.plan import fleet


class TestHosts(unittest.TestCase):
    def test_select_each_once_named_first(self):
        self.assertEqual(
            ['c9', 'c1', 'c2', 'c3'],
            fleet.select_hosts(['c9', 'c1'], ['c2', 'c1'], ['c3', 'c9']),
        )

    def test_waves(self):
        hosts = ['c1', 'c2', 'c3', 'c4', 'c5']
        self.assertEqual(
            [['c1', 'c2'], ['c3', 'c4'], ['c5']], fleet.waves(hosts, 2)
        )
        self.assertEqual([hosts], fleet.waves(hosts, 9))
        with self.assertRaises(ValueError):
            fleet.waves(hosts, 0)


class TestPlanRows(unittest.TestCase):
    def test_rows_and_summary(self):
        plans = [
            fleet.HostPlan(
                1,
                'c1',
                (
                    dp.Item('a', 'vm-a', dp.MIGRATE, 'adaptive'),
                    dp.Item('b', 'vm-b', dp.SKIP, None, 'status SHUTOFF'),
                ),
            ),
            fleet.HostPlan(1, 'c2', ()),
            fleet.HostPlan(2, 'c3', (), stop='capacity: short'),
        ]
        rows = fleet.plan_rows(plans, {'a': 'c4'})
        self.assertEqual(
            [
                (1, 'c1', 'vm-a', 'migrate', 'adaptive', 'fits on c4'),
                (1, 'c1', 'vm-b', 'skip', '', 'status SHUTOFF'),
                (1, 'c2', None, 'disable', None, 'no servers'),
                (2, 'c3', None, 'stop', None, 'capacity: short'),
            ],
            rows,
        )
        lines = fleet.summary(plans, 'no limit', ['n1', None])
        self.assertEqual(
            'Plan: 3 host(s) in 2 wave(s); 1 server(s) to move, 1 skipped; '
            'limits: no limit',
            lines[0],
        )
        self.assertEqual(['Note: n1'], lines[1:])
