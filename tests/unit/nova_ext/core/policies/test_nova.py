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
"""Tests for the nova policy (nova 34's ramp and completion timeout)."""

import unittest

from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase
from nova_ext.core.policies import nova
from tests import fakes


def _policy(ram=4 * GIB, permits=Permits(), **params):
    return nova.NovaPolicy(MigrationContext(ram, permits), params)


def _ticks(until_s, step_s=0.5, phase=Phase.PRECOPY):
    t, out = step_s, []
    while t <= until_s:
        out.append(fakes.observation(t, phase=phase))
        t += step_s
    return out


class TestDataGib(unittest.TestCase):
    def test_data_gib_counts_ram_and_disks_at_least_2_each(self):
        self.assertEqual(2.0, nova.data_gib(512 * MIB))
        self.assertEqual(4.0, nova.data_gib(4 * GIB))
        self.assertEqual(7.0, nova.data_gib(GIB, [GIB, 3 * GIB]))


class TestDowntimeSteps(unittest.TestCase):
    def test_downtime_steps_docstring_example(self):
        steps = nova.downtime_steps(400, 10, 30, 3)
        self.assertEqual((0, 40), steps[0])
        self.assertEqual((90, 76), steps[1])
        self.assertEqual((900, 400), steps[-1])
        self.assertEqual(11, len(steps))

    def test_nova_policy_ramps_downtime_linearly(self):
        policy = _policy()  # 4 GiB: a step every 300 s
        got = fakes.actions(policy, _ticks(3100))
        self.assertEqual((0.5, 'set-downtime', 50), got[0])
        self.assertEqual((300.5, 'set-downtime', 95), got[1])
        self.assertEqual((3000.5, 'set-downtime', 500), got[-1])
        self.assertEqual(11, len(got))


class TestTimeout(unittest.TestCase):
    def test_timeout_abort_after_800_s_per_gib(self):
        policy = _policy(ram=GIB)  # counts as 2 GiB: 1600 s
        got = [
            a
            for a in fakes.actions(policy, _ticks(1700))
            if a[1] != 'set-downtime'
        ]
        self.assertEqual([(1600.5, 'abort', None)], got)

    def test_force_complete_pauses_once_not_every_poll(self):
        """nova re-pauses every 0.5 s; we pause once."""
        policy = _policy(
            ram=GIB,
            permits=Permits(pause=True),
            timeout_action='force_complete',
        )
        samples = _ticks(1600.5) + _ticks(1700, phase=Phase.PAUSED)[3201:]
        got = [
            a for a in fakes.actions(policy, samples) if a[1] != 'set-downtime'
        ]
        self.assertEqual([(1600.5, 'pause', None)], got)

    def test_force_complete_prefers_postcopy_when_permitted(self):
        policy = _policy(
            ram=GIB,
            permits=Permits(postcopy=True, pause=True),
            timeout_action='force_complete',
        )
        got = [
            a
            for a in fakes.actions(policy, _ticks(1601))
            if a[1] != 'set-downtime'
        ]
        self.assertEqual([(1600.5, 'postcopy', None)], got)

    def test_timeout_zero_disables(self):
        policy = _policy(ram=GIB, completion_timeout_s=0)
        got = [
            a
            for a in fakes.actions(policy, _ticks(5000, step_s=5))
            if a[1] != 'set-downtime'
        ]
        self.assertEqual([], got)

    def test_no_timeout_during_postcopy(self):
        policy = _policy(ram=GIB)
        got = fakes.actions(
            policy, _ticks(2000, step_s=5, phase=Phase.POSTCOPY)
        )
        self.assertEqual([], got)

    def test_sawtooth_does_not_trigger_anything_early(self):
        """nova bug 1644248: the saw-tooth fooled a progress timeout."""
        rounds = [4 * GIB] + [1 * GIB, 1 * GIB, 512 * MIB] * 40
        got = fakes.actions(_policy(), fakes.sawtooth(rounds))
        self.assertTrue(all(a[1] == 'set-downtime' for a in got), got)
