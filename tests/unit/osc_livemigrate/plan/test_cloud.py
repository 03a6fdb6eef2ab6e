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
"""plan.cloud: reading nova and placement into a ledger; host actions."""

import types
import unittest

from osc_lib import exceptions

from osc_livemigrate.plan import cloud
from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate.plan import sim


class TestReadLedger(unittest.TestCase):
    def setUp(self):
        self.nova = sim.SimNova(['c1', 'c2', 'c3'], {'c1': 2, 'c2': 1})
        self.compute = self.nova.compute
        self.services = cloud.compute_services(self.compute)

    def test_free_needs_and_disabled_hosts_left_out(self):
        self.services['c3'].status = 'disabled'
        self.nova.placement.vcpu = 8
        ledger = cloud.read_ledger(
            self.compute, self.nova.placement, self.services, ['c1']
        )
        self.assertEqual({'c1': {'VCPU': 6}, 'c2': {'VCPU': 7}}, ledger.free)
        self.assertEqual({'c1-s00', 'c1-s01'}, set(ledger.needs))
        self.assertEqual({'VCPU': 1}, ledger.needs['c1-s00'].resources)
        # allocations are read only on the drained host
        self.assertEqual(
            [('resource_provider_allocations', 'c1')],
            [
                c
                for c in self.nova.placement.calls
                if c[0] == 'resource_provider_allocations'
            ],
        )

    def test_anti_affinity_peers_located(self):
        self.compute.groups = [
            fakes.Obj(
                policy='anti-affinity',
                policies=None,
                member_ids=['c1-s00', 'c2-s00'],
            ),
            fakes.Obj(
                policy=None, policies=['anti-affinity'], member_ids=['x', 'y']
            ),
        ]
        ledger = cloud.read_ledger(
            self.compute, self.nova.placement, self.services, ['c1']
        )
        self.assertEqual({'c2-s00'}, ledger.needs['c1-s00'].apart_from)
        self.assertEqual('c2', ledger.where['c2-s00'])
        self.assertEqual(['c3', 'c2', 'c1'], ledger.destinations('c1-s01'))
        ledger.close(['c1'])
        self.assertEqual(['c3'], ledger.destinations('c1-s00'))


class TestHosts(unittest.TestCase):
    def test_aggregate_zone_and_unknown(self):
        nova = sim.SimNova(['c1', 'c2'], {})
        nova.compute.aggregates['a'] = ['c2']
        nova.compute.services_list[0].availability_zone = 'z1'
        services = cloud.compute_services(nova.compute)
        self.assertEqual(['c2'], cloud.aggregate_hosts(nova.compute, 'a'))
        self.assertEqual(['c1'], cloud.zone_hosts(services, 'z1'))
        with self.assertRaisesRegex(exceptions.CommandError, 'c9 runs no'):
            cloud.check_hosts(['c1', 'c9'], services)


class TestServiceActions(unittest.TestCase):
    def test_disable_once_and_enable(self):
        nova = sim.SimNova(['c1'], {})
        svc = nova.compute.services_list[0]
        said = []
        cloud.disable(nova.compute, svc, 'patch', said.append)
        cloud.disable(nova.compute, svc, 'patch', said.append)
        cloud.enable(nova.compute, svc, said.append)
        self.assertEqual(
            ['disable_service', 'enable_service'],
            [c[0] for c in nova.compute.calls],
        )
        self.assertEqual(
            [
                'Disabled nova-compute on c1 (patch)',
                'nova-compute on c1 already disabled (patch)',
                'Enabled nova-compute on c1',
            ],
            said,
        )

    def test_wait_for(self):
        seen = []

        def run(argv, check=False):
            seen.append(argv)
            return types.SimpleNamespace(returncode=len(seen) - 1)

        self.assertEqual(
            (True, ''), cloud.wait_for('probe --ok "a b"', 'c1', run)
        )
        self.assertEqual(
            (False, 'probe exited 1'), cloud.wait_for('probe', 'c2', run)
        )
        self.assertEqual(
            [['probe', '--ok', 'a b', 'c1'], ['probe', 'c2']], seen
        )

        def missing(argv, check=False):
            raise FileNotFoundError('no such file')

        ok, message = cloud.wait_for('nope', 'c1', missing)
        self.assertFalse(ok)
        self.assertIn('could not run nope', message)
