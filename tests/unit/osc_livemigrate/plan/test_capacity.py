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
"""plan.capacity: free amounts, the paper placement, anti-affinity."""

import unittest

from osc_livemigrate.plan import capacity as cap


def host(name, vcpu, ram=1 << 20, used_vcpu=0, ratio=1.0, reserved=0):
    return cap.Host(
        name,
        {
            'VCPU': {
                'total': vcpu,
                'reserved': reserved,
                'allocation_ratio': ratio,
            },
            'MEMORY_MB': {'total': ram, 'reserved': 0, 'allocation_ratio': 1},
        },
        {'VCPU': used_vcpu},
    )


def need(sid, vcpu, ram=512, apart=()):
    return cap.Need(sid, 'vm-' + sid, {'VCPU': vcpu, 'MEMORY_MB': ram}, apart)


class TestFree(unittest.TestCase):
    def test_placement_sum(self):
        h = host('c1', 8, used_vcpu=10, ratio=4.0, reserved=2)
        self.assertEqual(14, h.free()['VCPU'])  # (8 - 2) * 4 - 10


class TestPlace(unittest.TestCase):
    def test_module_example(self):
        fit = cap.place(
            [need('a', 4), need('b', 4), need('c', 2)],
            [host('c2', 8), host('c3', 4)],
        )
        self.assertTrue(fit.ok)
        self.assertEqual({'a': 'c2', 'b': 'c2', 'c': 'c3'}, fit.placed)

    def test_short_names_server_and_resource(self):
        fit = cap.place([need('a', 4), need('b', 4)], [host('c2', 6)])
        self.assertFalse(fit.ok)
        self.assertEqual(
            'server vm-b needs 4 VCPU; the most any host has free is 2 VCPU',
            fit.short,
        )

    def test_no_host_left(self):
        fit = cap.place([need('a', 1)], [])
        self.assertIn('no enabled host is left', fit.short)

    def test_anti_affinity_keeps_members_apart(self):
        fit = cap.place(
            [need('a', 1, apart={'b'}), need('b', 1, apart={'a'})],
            [host('c2', 8), host('c3', 8)],
        )
        self.assertTrue(fit.ok)
        self.assertNotEqual(fit.placed['a'], fit.placed['b'])

    def test_anti_affinity_member_elsewhere_rules_host_out(self):
        fit = cap.place(
            [need('a', 1, apart={'z'})],
            [host('c2', 8)],
            where={'z': 'c2'},
        )
        self.assertIn('anti-affinity group', fit.short)

    def test_anti_affinity_short_on_the_hosts_left(self):
        fit = cap.place(
            [need('a', 4, apart={'z'})],
            [host('c2', 8), host('c3', 2)],
            where={'z': 'c2'},
        )
        self.assertIn(
            'the most any host it may go to has free is 2', fit.short
        )

    def test_soft_anti_affinity_ignored(self):
        groups = cap.anti_affinity(
            [('anti-affinity', ['a', 'b', 'c']), ('soft-anti-affinity', 'de')]
        )
        self.assertEqual({'b', 'c'}, groups['a'])
        self.assertNotIn('d', groups)


class TestLive(unittest.TestCase):
    def test_destinations_and_take(self):
        free = {'c2': {'VCPU': 2}, 'c3': {'VCPU': 6}}
        n = cap.Need('a', 'vm-a', {'VCPU': 2})
        self.assertEqual(['c3', 'c2'], cap.destinations(n, free))
        cap.take(free, 'c3', {'VCPU': 6})
        self.assertEqual(['c2'], cap.destinations(n, free))
        apart = cap.Need('a', 'vm-a', {'VCPU': 2}, frozenset({'x'}))
        self.assertEqual([], cap.destinations(apart, free, {'x': 'c2'}))
        cap.take(free, 'c3', {'VCPU': 6}, sign=-1)
        self.assertEqual(6, free['c3']['VCPU'])
