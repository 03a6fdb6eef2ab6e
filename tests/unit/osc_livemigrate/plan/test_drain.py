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
"""drain_plan: which servers move, follow, or are skipped; what is retried."""

import unittest

from osc_livemigrate.plan import drain as dp
from tests.unit.osc_livemigrate import fakes


class TestBuildPlan(unittest.TestCase):
    def test_table(self):
        servers = [
            fakes.server('b', 'vm-b'),
            fakes.server('a', 'vm-a', status='PAUSED'),
            fakes.server('c', 'vm-c', status='SHUTOFF'),
            fakes.server(
                'd', 'vm-d', status='MIGRATING', task_state='migrating'
            ),
            fakes.server('e', 'vm-e', task_state='rebooting'),
        ]
        plan = dp.build_plan(servers)
        self.assertEqual(
            [
                ('vm-a', dp.MIGRATE),
                ('vm-b', dp.MIGRATE),
                ('vm-c', dp.SKIP),
                ('vm-d', dp.FOLLOW),
                ('vm-e', dp.SKIP),
            ],
            [(i.name, i.action) for i in plan],
        )
        self.assertIn('openstack server migrate c', plan[2].reason)
        self.assertIn('rebooting', plan[4].reason)

    def test_policies_only_where_not_already_set(self):
        servers = [
            fakes.server('a', 'vm-a'),
            fakes.server(
                'b', 'vm-b', metadata={'livemigrate:policy': 'adaptive'}
            ),
            fakes.server('c', 'vm-c'),
        ]
        plan = dp.build_plan(servers, 'adaptive', {'c': 'nova'})
        self.assertEqual(['adaptive', None, 'nova'], [i.policy for i in plan])

    def test_dict_servers(self):
        plan = dp.build_plan([{'id': 'x', 'name': None, 'status': 'active'}])
        self.assertEqual(('x', dp.MIGRATE), (plan[0].name, plan[0].action))

    def test_parse_server_policies(self):
        self.assertEqual({'vm1': 'a'}, dp.parse_server_policies(['vm1=a']))
        for bad in ('vm1', '=a', 'vm1='):
            with (
                self.subTest(bad=bad),
                self.assertRaisesRegex(ValueError, 'SERVER=POLICY'),
            ):
                dp.parse_server_policies([bad])


class TestRetry(unittest.TestCase):
    def test_start_errors(self):
        for code, retry in (
            (409, True),
            (503, True),
            (None, True),
            (400, False),
            (403, False),
            (404, False),
        ):
            with self.subTest(code=code):
                self.assertEqual(retry, dp.retry_start_error(code))

    def test_outcomes(self):
        for status, retry in (
            ('error', True),
            ('failed', True),
            ('cancelled', False),
            ('completed', False),
        ):
            with self.subTest(status=status):
                self.assertEqual(retry, dp.retry_outcome(status))

    def test_failed(self):
        self.assertFalse(dp.failed([dp.Result('a', dp.MIGRATED)]))
        self.assertTrue(
            dp.failed(
                [dp.Result('a', dp.MIGRATED), dp.Result('b', dp.SKIPPED)]
            )
        )
