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
"""Tests for the schedule-as-data policy."""

import unittest

from nova_ext.core.observation import Action
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.policies import base
from nova_ext.core.policies import schedule
from tests import fakes


def _policy(permits=Permits(), **params):
    return schedule.SchedulePolicy(MigrationContext(4 * GIB, permits), params)


class TestParse(unittest.TestCase):
    def test_presets_parse(self):
        for name, text in schedule.PRESETS.items():
            with self.subTest(preset=name):
                self.assertTrue(schedule.parse_steps(text))

    def test_parse_steps(self):
        steps = schedule.parse_steps('i1:dt100; t60:pause s2:postcopy')
        self.assertEqual(
            [
                ('i', 1, Action.SET_DOWNTIME, 100),
                ('t', 60, Action.PAUSE, None),
                ('s', 2, Action.POSTCOPY, None),
            ],
            [(s.trigger, s.limit, s.action, s.downtime_ms) for s in steps],
        )

    def test_bad_steps_name_the_token(self):
        for text in ('x3:dt100', 'i3:explode', 'i3', 'i1:dt0', ''):
            with self.subTest(text=text):
                with self.assertRaises(base.PolicyError) as ctx:
                    _policy(steps=text) if text else schedule.parse_steps(text)
                self.assertIn('policy schedule', str(ctx.exception))


class TestSchedule(unittest.TestCase):
    def test_iteration_steps_fire_in_order(self):
        policy = _policy(steps='i1:dt100 i3:dt250 i4:dt400')
        rounds = [4 * GIB, 2 * GIB, GIB, 512 * MIB]
        got = fakes.actions(policy, fakes.sawtooth(rounds))
        self.assertEqual(
            [
                (0.5, 'set-downtime', 100),
                (6.0, 'set-downtime', 250),
                (7.0, 'set-downtime', 400),
            ],
            got,
        )

    def test_stall_counts_rounds_not_raw_minima(self):
        policy = _policy(
            Permits.named('postcopy'), steps='s2:postcopy s2:abort'
        )
        converging = fakes.sawtooth(
            [4 * GIB, 2 * GIB, GIB, 512 * MIB, 256 * MIB]
        )
        self.assertEqual([], fakes.actions(policy, converging))
        policy = _policy(
            Permits.named('postcopy'), steps='s2:postcopy s2:abort'
        )
        stalled = fakes.sawtooth([4 * GIB] + [GIB] * 5)
        got = fakes.actions(policy, stalled)
        self.assertEqual([(6.0, 'postcopy', None)], got)

    def test_forbidden_steps_are_skipped_to_the_next_alternative(self):
        policy = _policy(
            Permits.named('pause'), steps='s1:postcopy s1:pause s1:abort'
        )
        got = fakes.actions(policy, fakes.sawtooth([4 * GIB] + [GIB] * 5))
        self.assertEqual(['pause'], [a[1] for a in got])

    def test_time_trigger(self):
        policy = _policy(Permits(), steps='t3:abort')
        got = fakes.actions(policy, fakes.sawtooth([8 * GIB]))
        self.assertEqual([(3.0, 'abort', None)], got)
