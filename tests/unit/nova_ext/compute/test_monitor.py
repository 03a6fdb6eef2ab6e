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
"""Tests for the monitor loop with a scripted fake guest.

The same behaviour runs against real libvirt hosts in tests/e2e.
"""

import unittest
from unittest import mock

from nova_ext.compute import monitor
from nova_ext.core.observation import Action
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase
from nova_ext.core.policies import adaptive
from nova_ext.core.policies import nova
from nova_ext.core.policies import schedule
from tests import fakes
from tests.unit.nova_ext.compute.monitor_runs import config as _config
from tests.unit.nova_ext.compute.monitor_runs import Recorder
from tests.unit.nova_ext.compute.monitor_runs import run as _run

COMPLETED, FAILED, CANCELLED = 3, 4, 5


def _stalled(permits):
    # adaptive judges at T_obs = 120 s + 3 x RAM/bandwidth (132 s here)
    samples = fakes.sawtooth([4 * GIB] + [2 * GIB] * 70)
    return adaptive.AdaptivePolicy(
        MigrationContext(4 * GIB, permits)
    ), fakes.job_stats(samples)


class TestMonitor(unittest.TestCase):
    def test_completed_job_returns_completed(self):
        policy, script = _stalled(Permits.named('none'))
        outcome, guest, _, _ = _run(policy, script[:3] + [COMPLETED])
        self.assertEqual('completed', outcome.job)
        self.assertEqual([('downtime', 500)], guest.calls)

    def test_policy_abort_is_applied_and_reported_as_failure(self):
        policy, script = _stalled(Permits.named('none'))
        outcome, guest, decisions, _ = _run(policy, script + [FAILED])
        self.assertEqual(
            ('failed', 'policy'), (outcome.job, outcome.aborted_by)
        )
        self.assertEqual(('abort',), guest.calls[-1])
        self.assertIn('pre-copy ends never', outcome.reason)
        self.assertIs(Action.ABORT, decisions[-1].action)

    def test_postcopy_changes_phase_and_is_not_repeated(self):
        policy, script = _stalled(Permits.named('postcopy'))
        outcome, guest, _, _ = _run(policy, script + script[-4:] + [COMPLETED])
        self.assertEqual(1, guest.calls.count(('postcopy',)))
        self.assertIs(Phase.POSTCOPY, outcome.phase)

    def test_pause_adds_unpause_recovery(self):
        policy, script = _stalled(Permits.named('pause'))
        outcome, guest, _, _ = _run(policy, script + [FAILED])
        self.assertEqual(['unpause'], outcome.recover_tasks)
        self.assertEqual(1, guest.calls.count(('pause',)))

    def test_failed_tuning_call_warns_and_continues(self):
        policy, script = _stalled(Permits.named('postcopy'))
        outcome, guest, _, _ = _run(
            policy, script + [COMPLETED], fail={'downtime'}
        )
        self.assertEqual('completed', outcome.job)
        self.assertIn(('postcopy',), guest.calls)

    def test_failed_abort_raises(self):
        policy, script = _stalled(Permits.named('none'))
        with self.assertRaises(RuntimeError):
            _run(policy, script + [FAILED], fail={'abort'})

    def test_api_abort_is_cancelled(self):
        policy, script = _stalled(Permits.named('none'))
        outcome, guest, _, _ = _run(
            policy, script[:2] + [CANCELLED], requests=[monitor.API_ABORT]
        )
        self.assertEqual(
            ('cancelled', 'api'), (outcome.job, outcome.aborted_by)
        )
        self.assertEqual([('abort',)], guest.calls)

    def test_force_complete_prefers_postcopy_else_pauses(self):
        for enabled, call in ((True, 'postcopy'), (False, 'pause')):
            with self.subTest(postcopy=enabled):
                policy, script = _stalled(
                    Permits(postcopy=enabled, pause=True)
                )
                _, guest, _, _ = _run(
                    policy,
                    script[:2] + [COMPLETED],
                    requests=[monitor.FORCE_COMPLETE],
                    postcopy_enabled=enabled,
                )
                self.assertEqual((call,), guest.calls[0])

    def test_stats_every_interval_and_zero_interval_means_every_poll(self):
        policy, script = _stalled(Permits(abort=False))
        _, _, _, stats = _run(
            policy, script[:20] + [COMPLETED], stats_interval_s=5
        )
        self.assertEqual(2, len(stats))  # at 0 s and 5 s of 10 s
        policy, script = _stalled(Permits(abort=False))
        _, _, _, stats = _run(
            policy, script[:20] + [COMPLETED], stats_interval_s=0
        )
        self.assertEqual(20, len(stats))

    def test_job_not_started_yet_then_settled_by_find_job_type(self):
        policy = nova.NovaPolicy(MigrationContext(GIB))
        ends = iter([None, COMPLETED])
        outcome, guest, _, _ = _run(policy, [0, 0], job_end=lambda: next(ends))
        self.assertEqual('completed', outcome.job)
        self.assertEqual(2, guest.reads)

    def test_job_stats_are_read_once_per_poll(self):
        policy, script = _stalled(Permits.named('postcopy'))
        outcome, guest, decisions, _ = _run(policy, script + [COMPLETED])
        self.assertEqual('completed', outcome.job)
        self.assertIn(('postcopy',), guest.calls)
        self.assertEqual(len(script) + 1, guest.reads)

    def test_no_bytes_when_novas_job_info_read_no_stats(self):
        # NOTE: nova's get_job_info reads nothing after some libvirt
        # errors or on an old libvirt (and nova's tests mock it): the job
        # type still counts, and the policy sees no bytes.
        policy = nova.NovaPolicy(MigrationContext(GIB))
        guest = fakes.FakeGuest([])
        guest.get_job_info = mock.Mock(
            side_effect=[fakes.FakeJobInfo(2), fakes.FakeJobInfo(COMPLETED)]
        )
        clock = fakes.FakeClock()
        listener = Recorder()
        mon = monitor.Monitor(guest, policy, _config(clock, 0), listener)
        self.assertEqual('completed', mon.run().job)
        self.assertEqual(0, listener.samples[0].memory_total_bytes)
        self.assertEqual((2, 0), (guest.get_job_info.call_count, guest.reads))

    def test_the_guest_nova_migrates_with_keeps_its_domain(self):
        policy, script = _stalled(Permits.named('none'))
        guest = fakes.FakeGuest(script[:2] + [COMPLETED])
        domain = guest._domain
        clock = fakes.FakeClock()
        monitor.Monitor(guest, policy, _config(clock)).run()
        self.assertIs(domain, guest._domain)

    def test_broken_postcopy_is_reported_once_each_way_and_not_steered(self):
        policy, script = _stalled(Permits.named('postcopy'))
        asked = []
        decide = policy.decide
        policy.decide = lambda obs: asked.append(obs.elapsed_s) or decide(obs)
        broken = [(stats, fakes.POSTCOPY_FAILED) for stats in script[2:5]]
        outcome, _, _, _ = _run(
            policy,
            script[:2] + broken + script[5:7] + [COMPLETED],
            phase=Phase.POSTCOPY,
        )
        self.assertEqual('completed', outcome.job)
        self.assertEqual([(True, 1.0), (False, 2.5)], outcome.link)
        self.assertEqual([0.0, 0.5, 2.5, 3.0], asked)

    def test_broken_postcopy_is_given_up_when_its_window_ends(self):
        policy, script = _stalled(Permits.named('postcopy'))
        broken = [(stats, fakes.POSTCOPY_FAILED) for stats in script[2:60]]
        guest = fakes.FakeGuest(script[:2] + broken + [COMPLETED])
        clock = fakes.FakeClock()
        listener = Recorder()
        config = monitor.MonitorConfig(
            clock=clock, sleep=clock.sleep, postcopy_window_s=10
        )
        mon = monitor.Monitor(
            guest, policy, config, listener, phase=Phase.POSTCOPY
        )
        outcome = mon.run()
        self.assertEqual(monitor.POSTCOPY_LOST, outcome.job)
        # broken at 1.0 s, given up 10 s later; nothing was asked of libvirt
        self.assertEqual((10.0, 11.0), (outcome.broken_s, clock.now))
        self.assertEqual([(True, 1.0)], listener.link)
        self.assertEqual([], guest.calls)
        self.assertIn('broken for 10 s', outcome.reason)

    def test_failed_job_in_broken_postcopy_is_held_not_failed(self):
        # nova's find_job_type calls a vanished job on an active source
        # "failed"; rolling that back would destroy the destination's half
        policy, script = _stalled(Permits.named('postcopy'))
        held = [(FAILED, fakes.POSTCOPY_FAILED)] * 40
        for window_s, expected in ((None, 'completed'), (5, 'postcopy-lost')):
            with self.subTest(window_s=window_s):
                guest = fakes.FakeGuest(script[:2] + held + [COMPLETED])
                clock = fakes.FakeClock()
                config = monitor.MonitorConfig(
                    clock=clock, sleep=clock.sleep, postcopy_window_s=window_s
                )
                outcome = monitor.Monitor(
                    guest, policy, config, phase=Phase.POSTCOPY
                ).run()
                self.assertEqual(expected, outcome.job)

    def test_failed_job_without_broken_postcopy_still_fails(self):
        policy, script = _stalled(Permits.named('postcopy'))
        config_clock = fakes.FakeClock()
        config = monitor.MonitorConfig(
            clock=config_clock,
            sleep=config_clock.sleep,
            postcopy_window_s=5,
        )
        guest = fakes.FakeGuest(script[:2] + [FAILED])
        outcome = monitor.Monitor(
            guest, policy, config, phase=Phase.POSTCOPY
        ).run()
        self.assertEqual('failed', outcome.job)

    def test_domain_state_is_read_only_in_postcopy(self):
        policy, script = _stalled(Permits.named('none'))
        paused = [(stats, fakes.POSTCOPY_FAILED) for stats in script[:3]]
        outcome, _, _, _ = _run(policy, paused + [COMPLETED])
        self.assertEqual([], outcome.link)

    def test_unreadable_domain_state_counts_as_not_broken(self):
        policy, script = _stalled(Permits.named('postcopy'))
        guest = fakes.FakeGuest(script[:3] + [COMPLETED])

        def gone():
            raise RuntimeError('Domain not found')

        guest._domain.state = gone
        clock = fakes.FakeClock()
        listener = Recorder()
        mon = monitor.Monitor(
            guest, policy, _config(clock), listener, phase=Phase.POSTCOPY
        )
        self.assertEqual('completed', mon.run().job)
        self.assertEqual([], listener.link)

    def test_unknown_request_is_refused(self):
        policy, script = _stalled(Permits())
        with self.assertRaises(ValueError):
            _run(policy, script[:2], requests=['teleport'])


class SettingUpGuest(fakes.FakeGuest):
    """QEMU before the copy: no memory figures, and a post-copy switch
    refused, as libvirt has not set the capability yet.
    """

    def next_stats(self):
        stats = super().next_stats()
        if stats.get('memory_total'):
            self.fail.discard('postcopy')
        else:
            self.fail.add('postcopy')
        return stats


class TestBeforeTheCopyBegins(unittest.TestCase):
    """libvirt's job exists before QEMU copies anything (the destination
    is still starting); a post-copy switch then is refused, and must be
    carried out once the copy has begun.
    """

    def _run(self, script):
        policy = schedule.SchedulePolicy(
            MigrationContext(GIB, Permits.named('postcopy')),
            {'steps': 't1:postcopy'},
        )
        guest = SettingUpGuest(script)
        listener = Recorder()
        outcome = monitor.Monitor(
            guest, policy, _config(fakes.FakeClock()), listener
        ).run()
        return outcome, guest, listener.decisions

    def test_a_switch_refused_in_set_up_is_made_once_the_copy_begins(self):
        _, copying = _stalled(Permits.named('postcopy'))
        # 0.5 s polls: the step's time comes during the set-up
        setting_up = [{}, {'memory_total': 0}, {}, {}]
        outcome, guest, decisions = self._run(
            setting_up + copying[:3] + [COMPLETED]
        )
        # refused in set-up, made with the first sample that had memory
        self.assertEqual([('postcopy',), ('postcopy',)], guest.calls)
        self.assertEqual(
            ['schedule step 1 (t1:postcopy)'], [d.reason for d in decisions]
        )
        self.assertIs(Phase.POSTCOPY, outcome.phase)

    def test_a_switch_refused_while_copying_is_not_repeated(self):
        _, copying = _stalled(Permits.named('postcopy'))
        guest_script = copying[:6] + [COMPLETED]
        policy = schedule.SchedulePolicy(
            MigrationContext(GIB, Permits.named('postcopy')),
            {'steps': 't1:postcopy'},
        )
        guest = fakes.FakeGuest(guest_script, fail={'postcopy'})
        outcome = monitor.Monitor(
            guest, policy, _config(fakes.FakeClock()), Recorder()
        ).run()
        self.assertEqual(1, guest.calls.count(('postcopy',)))
        self.assertIs(Phase.PRECOPY, outcome.phase)
