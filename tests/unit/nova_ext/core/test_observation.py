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
"""Tests for the values crossing the policy border."""

import unittest

from nova_ext.core import observation as obs_mod
from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase


class TestFromJobInfo(unittest.TestCase):
    def test_from_job_info_converts_dirty_pages_to_bytes(self):
        stats = {
            'memory_total': 100,
            'memory_processed': 40,
            'memory_remaining': 60,
            'data_remaining': 70,
            'memory_dirty_rate': 1000,
            'memory_page_size': 4096,
            'memory_bps': 5000,
            'memory_iteration': 3,
            'auto_converge_throttle': 30,
        }
        obs = obs_mod.from_job_info(stats, 2.5, Phase.PAUSED, 300)
        self.assertEqual(4096000.0, obs.dirty_rate_bps)
        self.assertEqual(
            (100, 40, 60, 70),
            (
                obs.memory_total_bytes,
                obs.memory_processed_bytes,
                obs.memory_remaining_bytes,
                obs.data_remaining_bytes,
            ),
        )
        self.assertEqual(
            (3, 30, 5000.0),
            (obs.iteration, obs.throttle_pct, obs.bandwidth_bps),
        )
        self.assertEqual(
            (2.5, Phase.PAUSED, 300),
            (obs.elapsed_s, obs.phase, obs.downtime_ms),
        )

    def test_from_job_info_keeps_the_disk_figures_of_a_block_migration(self):
        stats = {'disk_total': 2 << 30, 'disk_processed': 3 << 28}
        stats['disk_remaining'] = stats['disk_total'] - (3 << 28)
        obs = obs_mod.from_job_info(stats, 1)
        self.assertEqual(
            (2 << 30, 3 << 28, (2 << 30) - (3 << 28)),
            (
                obs.disk_total_bytes,
                obs.disk_processed_bytes,
                obs.disk_remaining_bytes,
            ),
        )

    def test_from_job_info_missing_keys_default_to_zero(self):
        obs = obs_mod.from_job_info({}, 0)
        self.assertEqual(0, obs.memory_remaining_bytes)
        self.assertEqual(0, obs.disk_total_bytes)
        self.assertEqual(0.0, obs.dirty_rate_bps)
        self.assertIs(Phase.PRECOPY, obs.phase)


class TestDecision(unittest.TestCase):
    def test_decision_downtime_only_with_set_downtime(self):
        with self.assertRaises(ValueError):
            Decision(Action.ABORT, 'x', downtime_ms=100)
        with self.assertRaises(ValueError):
            Decision(Action.SET_DOWNTIME, 'x')
        self.assertEqual(
            100, Decision(Action.SET_DOWNTIME, 'x', 100).downtime_ms
        )


class TestPermits(unittest.TestCase):
    def test_permits_named_sets(self):
        self.assertFalse(Permits.named('none').allows(Action.POSTCOPY))
        self.assertFalse(Permits.named('none').allows(Action.PAUSE))
        self.assertTrue(Permits.named('none').allows(Action.ABORT))
        self.assertTrue(Permits.named('postcopy').allows(Action.POSTCOPY))
        self.assertTrue(Permits.named('pause').allows(Action.PAUSE))
        self.assertEqual(700, Permits.named('pause', 700).max_downtime_ms)

    def test_permits_named_unknown_is_refused(self):
        with self.assertRaisesRegex(ValueError, 'unknown permits'):
            Permits.named('everything')
