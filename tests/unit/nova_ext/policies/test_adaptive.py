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
"""Tests for the adaptive policy on hand-built sample sequences."""

import math
import unittest

from nova_ext.observation import GIB
from nova_ext.observation import MIB
from nova_ext.observation import MigrationContext
from nova_ext.observation import Permits
from nova_ext.observation import Phase
from nova_ext.policies import adaptive
from tests import fakes


def _policy(permits, ram=4 * GIB, **params):
    return adaptive.AdaptivePolicy(MigrationContext(ram, permits), params)


class TestPrecopyTimeLeft(unittest.TestCase):
    def test_docstring_example(self):
        self.assertAlmostEqual(
            1.5, adaptive.precopy_time_left(2 * GIB, 0.5, GIB, 300)
        )

    def test_never_fits_when_not_shrinking(self):
        self.assertEqual(
            math.inf, adaptive.precopy_time_left(GIB, 1.0, GIB, 300)
        )


class TestAdaptive(unittest.TestCase):
    def test_starts_at_qemu_default_downtime(self):
        got = fakes.actions(_policy(Permits()), fakes.sawtooth([4 * GIB]))
        self.assertEqual([(0.5, 'set-downtime', 300)], got)

    def test_sawtooth_of_a_converging_guest_is_not_a_stall(self):
        """Raw remaining bytes bottom out every round; rounds still shrink."""
        rounds = [
            4 * GIB,
            2 * GIB,
            1600 * MIB,
            1300 * MIB,
            1100 * MIB,
            900 * MIB,
            800 * MIB,
            700 * MIB,
        ]
        got = fakes.actions(
            _policy(Permits.named('postcopy')), fakes.sawtooth(rounds)
        )
        self.assertTrue(all(a[1] == 'set-downtime' for a in got), got)

    def test_plateau_that_fits_gets_just_enough_downtime(self):
        rounds = [4 * GIB] + [400 * MIB] * 4
        got = fakes.actions(
            _policy(Permits.named('none')), fakes.sawtooth(rounds)
        )
        # 400 MiB at 1 GiB/s = 390.6 ms, plus 10 % margin
        self.assertEqual(
            [(0.5, 'set-downtime', 300), (4.5, 'set-downtime', 430)], got
        )

    def test_stall_escalates_to_postcopy_at_a_local_minimum(self):
        rounds = [4 * GIB] + [2 * GIB] * 6
        policy = _policy(Permits.named('postcopy'))
        got = fakes.actions(policy, fakes.sawtooth(rounds))
        self.assertEqual(
            [
                (0.5, 'set-downtime', 300),
                (6.0, 'set-downtime', 500),
                (8.0, 'postcopy', None),
            ],
            got,
        )

    def test_stall_escalates_to_pause_then_abort_without_postcopy(self):
        rounds = [4 * GIB] + [2 * GIB] * 6
        for permits, action in (('pause', 'pause'), ('none', 'abort')):
            with self.subTest(permits=permits):
                got = fakes.actions(
                    _policy(Permits.named(permits)), fakes.sawtooth(rounds)
                )
                self.assertEqual(action, got[-1][1])
                self.assertEqual(8.0, got[-1][0])

    def test_nothing_permitted_means_nothing_done(self):
        rounds = [4 * GIB] + [2 * GIB] * 6
        got = fakes.actions(
            _policy(Permits(abort=False)), fakes.sawtooth(rounds)
        )
        self.assertEqual(['set-downtime', 'set-downtime'], [a[1] for a in got])

    def test_postcopy_migration_is_never_aborted(self):
        """Once post-copy runs, nothing happens, however long it takes."""
        policy = _policy(
            Permits(postcopy=True, pause=True, abort=True),
            backstop_s_per_gib=1,
        )
        pre = fakes.sawtooth([4 * GIB] + [2 * GIB] * 6)
        post = [
            fakes.observation(
                pre[-1].elapsed_s + i, remaining=GIB, phase=Phase.POSTCOPY
            )
            for i in range(1000)
        ]
        got = fakes.actions(policy, pre + post)
        self.assertEqual('postcopy', got[-1][1])
        self.assertLess(got[-1][0], pre[-1].elapsed_s + 0.1)

    def test_paused_without_progress_aborts(self):
        policy = _policy(Permits(pause=True), pause_stall_s=10)
        pre = fakes.sawtooth([4 * GIB] + [2 * GIB] * 5)
        paused = [
            fakes.observation(
                pre[-1].elapsed_s + i, remaining=GIB, phase=Phase.PAUSED
            )
            for i in range(30)
        ]
        got = fakes.actions(policy, pre + paused)
        self.assertEqual(['pause', 'abort'], [a[1] for a in got][-2:])

    def test_auto_converge_throttle_steps_reset_the_stall(self):
        rounds = [4 * GIB] + [2 * GIB] * 8
        throttles = [0, 0, 0, 20, 30, 40, 50, 60, 70]
        got = fakes.actions(
            _policy(Permits(auto_converge=True)),
            fakes.sawtooth(rounds, throttles=throttles),
        )
        self.assertNotIn('abort', [a[1] for a in got])

    def test_never_exceeds_permitted_downtime(self):
        rounds = [4 * GIB] + [int(GIB * 0.45)] * 4
        got = fakes.actions(
            _policy(Permits(max_downtime_ms=200)), fakes.sawtooth(rounds)
        )
        self.assertTrue(all(a[2] is None or a[2] <= 200 for a in got), got)
