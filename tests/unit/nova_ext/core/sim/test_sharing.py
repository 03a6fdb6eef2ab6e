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
"""Max-min fair shares of one link, background traffic, clipped noise."""

import statistics
import unittest

from nova_ext.core.sim import noise
from nova_ext.core.sim import sharing

MIB = 1024 * 1024


class TestFairShares(unittest.TestCase):
    def test_equal_shares_without_caps(self):
        self.assertEqual([100.0] * 3, sharing.fair_shares(300, [None] * 3))

    def test_a_capped_flow_leaves_its_rest_to_the_others(self):
        self.assertEqual(
            [125.0, 50.0, 125.0], sharing.fair_shares(300, [None, 50, None])
        )

    def test_a_cap_above_the_equal_share_does_not_bind(self):
        self.assertEqual([100.0, 100.0], sharing.fair_shares(200, [150, None]))

    def test_every_flow_capped_below_the_link_leaves_it_idle(self):
        self.assertEqual([20.0, 30.0], sharing.fair_shares(1000, [20, 30]))

    def test_caps_fill_in_order_of_size(self):
        # 600 for four: 50 fits, then 550/3 = 183 > 100 fits, then
        # 450/2 = 225 < 300: the last two share it
        self.assertEqual(
            [225.0, 100.0, 50.0, 225.0],
            sharing.fair_shares(600, [300, 100, 50, None]),
        )

    def test_shares_are_max_min_fair(self):
        caps = [None, 40, 10, 500, None, 90]
        shares = sharing.fair_shares(700, caps)
        self.assertAlmostEqual(700, sum(shares))
        top = max(shares)
        for share, cap in zip(shares, caps):
            self.assertLessEqual(share, cap if cap is not None else top)
            # a flow below the top share is held there by its own cap
            if share < top - 1e-9:
                self.assertEqual(cap, share)

    def test_no_capacity_no_flows(self):
        self.assertEqual([0.0, 0.0], sharing.fair_shares(0, [None, 5]))
        self.assertEqual([], sharing.fair_shares(100, []))


class TestSharedLink(unittest.TestCase):
    def test_background_takes_its_part_first(self):
        link = sharing.SharedLink(1000 * MIB, (sharing.Burst(30, 60, 0.5),))
        self.assertEqual([500 * MIB, 500 * MIB], link.shares(10, [None] * 2))
        self.assertEqual(
            [200 * MIB, 100 * MIB, 200 * MIB],
            link.shares(30, [None, 100 * MIB, None]),
        )
        self.assertEqual(1000 * MIB, link.available_bps(90))
        self.assertEqual([30, 90], link.changes())

    def test_overlapping_bursts_never_take_more_than_the_link(self):
        link = sharing.SharedLink(
            100, (sharing.Burst(0, 10, 0.7), sharing.Burst(5, 10, 0.6))
        )
        self.assertAlmostEqual(30, link.available_bps(1))
        self.assertEqual(0, link.available_bps(6))

    def test_bad_bursts_are_refused(self):
        with self.assertRaises(ValueError):
            sharing.Burst(0, 10, 1.5)
        with self.assertRaises(ValueError):
            sharing.Burst(-1, 10, 0.5)


class TestEffectiveSigma(unittest.TestCase):
    def test_clipping_shrinks_only_large_sigmas(self):
        got = {
            s: sharing.effective_sigma(noise.Noise(1, s))
            for s in (0.0, 0.1, 0.2, 0.4)
        }
        self.assertEqual(0.0, got[0.0])
        self.assertAlmostEqual(0.100, got[0.1], places=3)
        self.assertAlmostEqual(0.198, got[0.2], places=3)
        self.assertAlmostEqual(0.326, got[0.4], places=3)

    def test_agrees_with_the_generator(self):
        gen = noise.Noise(7, 0.4)
        sampled = statistics.pstdev(gen.factor() for _ in range(50000))
        self.assertAlmostEqual(
            sharing.effective_sigma(gen), sampled, delta=0.005
        )
