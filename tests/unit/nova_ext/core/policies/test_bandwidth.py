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
"""The measured bandwidth: robust to noise, quick to follow a step."""

import unittest

from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.policies import bandwidth
from nova_ext.core.policies import bounds
from nova_ext.core.policies import projection
from nova_ext.core.sim import noise


def _feed(est, rates_bps, poll_s=0.5, start=(0.0, 0.0)):
    t, sent = start
    for rate in rates_bps:
        t += poll_s
        sent += rate * poll_s
        est.update(t, sent)
    return t, sent


class TestBandwidth(unittest.TestCase):
    def test_steady_link(self):
        est = bandwidth.Bandwidth()
        self.assertEqual(0.0, est.bps)
        _feed(est, [GIB] * 10)
        self.assertAlmostEqual(1.0, est.bps / GIB)
        self.assertEqual(0.0, est.sigma)

    def test_noise_does_not_move_it(self):
        sigmas = []
        for nominal in (0.1, 0.4):
            gen = noise.Noise(1, nominal)
            est = bandwidth.Bandwidth()
            _feed(est, [GIB * gen.factor() for _ in range(400)])
            self.assertAlmostEqual(1.0, est.bps / GIB, delta=0.1)
            self.assertLessEqual(est.steps, 2)
            sigmas.append(est.sigma)
        self.assertLess(sigmas[0], 0.2)
        self.assertGreater(sigmas[1], 0.3)

    def test_a_halving_is_followed_within_the_recent_samples(self):
        # the docstring's case: another migration starts on the link
        gen = noise.Noise(2, 0.1)
        est = bandwidth.Bandwidth()
        at = _feed(est, [GIB * gen.factor() for _ in range(40)])
        _feed(est, [GIB / 2 * gen.factor() for _ in range(5)], start=at)
        self.assertEqual(1, est.steps)
        self.assertAlmostEqual(0.5, est.bps / GIB, delta=0.06)

    def test_a_doubling_too(self):
        est = bandwidth.Bandwidth()
        at = _feed(est, [40 * MIB] * 20)
        _feed(est, [80 * MIB] * 5, start=at)
        self.assertAlmostEqual(80.0, est.bps / MIB)

    def test_samples_without_progress_are_skipped(self):
        est = bandwidth.Bandwidth()
        est.update(0.5, GIB / 2)
        est.update(1.0, GIB / 2)  # paused: nothing sent
        est.update(1.0, GIB)  # no time passed
        self.assertAlmostEqual(1.0, est.bps / GIB)


class TestPauseMargin(unittest.TestCase):
    def test_docstring_examples(self):
        got = [
            round(projection.pause_margin(s), 2)
            for s in (0.0, 0.1, 0.198, 0.326)
        ]
        self.assertEqual([1.2, 1.71, 2.96, 4.8], got)
        self.assertEqual(1.71, round(projection.pause_margin(0.198, 4), 2))

    def test_the_margin_covers_a_slow_link(self):
        # a 3-sigma slow sample of a 20 % link still fits the prediction
        sent_s = 3.0
        slow = 1 - 3 * 0.2
        predicted = projection.pause_ms(3 * GIB, GIB, sigma=0.2)
        self.assertGreater(predicted, (sent_s / slow) * 1000.0)
        # the old fixed +20 % did not
        self.assertLess(projection.pause_ms(3 * GIB, GIB), sent_s / slow * 1e3)


class TestBounds(unittest.TestCase):
    PARAMS = {
        'observe_s': 120.0,
        'observe_ram_times': 3.0,
        'postcopy_observe_s': 2.0,
    }

    def _context(self):
        return MigrationContext(2 * GIB, Permits())

    def test_t_obs_follows_a_slower_link_not_a_faster_one(self):
        ctx = self._context()
        at_start = bounds.horizon_s(self.PARAMS, ctx, 40 * MIB)
        self.assertAlmostEqual(120 + 3 * 51.2, at_start)
        # others on the link ended: rounds so far ran at 40 MiB/s
        faster = bounds.horizon_s(self.PARAMS, ctx, 80 * MIB, 40 * MIB)
        self.assertAlmostEqual(at_start, faster)
        slower = bounds.horizon_s(self.PARAMS, ctx, 20 * MIB, 40 * MIB)
        self.assertAlmostEqual(120 + 3 * 102.4, slower)

    def test_first_estimate_is_kept(self):
        est = bandwidth.Bandwidth()
        at = _feed(est, [40 * MIB] * 16)
        self.assertAlmostEqual(40.0, est.first_bps / MIB)
        _feed(est, [80 * MIB] * 16, start=at)
        self.assertAlmostEqual(40.0, est.first_bps / MIB)
        self.assertAlmostEqual(80.0, est.bps / MIB)
        self.assertGreater(est.stepped_at_s, at[0])


class TestLuckySync(unittest.TestCase):
    def test_an_overdue_lucky_sync_is_not_coming(self):
        # the docstring's 0.7 % chance: 90 s on average, but 1,500
        # rounds of that size passed without one
        wait = projection.lucky_sync_s(655 * MIB, GIB, 500, 0.1, 0.64, 100)
        self.assertAlmostEqual(90.0, wait, delta=5.0)
        self.assertEqual(
            float('inf'),
            projection.lucky_sync_s(655 * MIB, GIB, 500, 0.1, 0.64, 1500),
        )
