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
"""Tests for round reconstruction from the saw-tooth."""

import unittest

from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.policies import signals
from tests import fakes


class TestRoundTracker(unittest.TestCase):
    def test_round_sizes_recovered_from_sawtooth(self):
        sizes = [4 * GIB, 1 * GIB, 768 * MIB, 1280 * MIB, 640 * MIB]
        tracker = signals.RoundTracker()
        for sample in fakes.sawtooth(sizes, poll_s=0.3):
            tracker.update(sample)
        self.assertEqual(
            [1, 2, 3, 4, 5], [r.iteration for r in tracker.rounds]
        )
        for want, got in zip(sizes[1:], tracker.rounds[1:]):
            self.assertAlmostEqual(want / MIB, got.size_bytes / MIB, places=0)
        self.assertAlmostEqual(GIB, tracker.bandwidth_bps, delta=1)
        self.assertAlmostEqual(0.5, tracker.shrink_ratio(), places=3)

    def test_dirty_rate_is_next_round_over_duration(self):
        tracker = signals.RoundTracker()
        for sample in fakes.sawtooth([2 * GIB, GIB, GIB]):
            tracker.update(sample)
        # round 3 (1 GiB) was dirtied during round 2 (1 s)
        self.assertAlmostEqual(GIB, tracker.dirty_rate_bps(), delta=GIB / 100)

    def test_no_rounds_before_data(self):
        tracker = signals.RoundTracker()
        self.assertIsNone(tracker.shrink_ratio())
        self.assertIsNone(tracker.dirty_rate_bps())
        self.assertEqual(0.0, tracker.bandwidth_bps)


class TestLocalMinimum(unittest.TestCase):
    def test_local_minimum_on_first_rise_after_fall(self):
        detector = signals.LocalMinimum()
        seen = [detector.update(v) for v in (9, 7, 5, 3, 8, 6, 6, 7)]
        self.assertEqual(
            [False, False, False, False, True, False, False, True], seen
        )

    def test_rising_from_the_start_is_no_minimum(self):
        detector = signals.LocalMinimum()
        self.assertEqual(
            [False, False, False], [detector.update(v) for v in (1, 2, 3)]
        )
