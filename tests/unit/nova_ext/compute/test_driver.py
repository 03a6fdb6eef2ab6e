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
"""The driver glue: policy choice, outcomes, and what nova's manager sees.

The driver object is built without nova's __init__ (no libvirt connection);
the guest is the scripted fake of tests/fakes.py. nova's own live-migration
tests run against the same class in tests/contract/nova_unit, and real
guests in tests/e2e.
"""

import collections
import json
import logging
import types
import unittest
from unittest import mock

from nova.virt.libvirt import driver as libvirt_driver
import oslo_messaging

from nova_ext.compute import allocations
from nova_ext.compute import bus
from nova_ext.compute import driver
from nova_ext.compute import metrics as lm_metrics
from nova_ext.compute import monitor
from nova_ext.compute import outcome as lm_outcome
from nova_ext.compute import publisher
from nova_ext.compute import store as store_mod
from nova_ext.core.observation import GIB
from nova_ext.core.observation import Permits
from tests import fakes

COMPLETED, FAILED, CANCELLED = 3, 4, 5
UUID = '11111111-2222-3333-4444-555555555555'


class RecordingStore:
    def __init__(self, current=None):
        self.keys, self.events = [], []
        self.current = dict(current or {})

    def metadata(self, keys):
        if callable(keys):
            keys = keys(dict(self.current))
        self.current.update(keys)
        self.keys.append(keys)

    def event(self, name, failure):
        self.events.append(name)

    def stats(self, obs, progress):
        pass


def _instance(metadata=None, extra_specs=None):
    return types.SimpleNamespace(
        uuid=UUID,
        metadata=metadata or {},
        system_metadata={},
        power_state=1,
        flavor=types.SimpleNamespace(
            memory_mb=4096, extra_specs=extra_specs or {}
        ),
    )


def _driver(flags=0):
    drv = driver.LibvirtDriver.__new__(driver.LibvirtDriver)
    drv.active_migrations = {}
    drv._lm_monitors = {}
    drv._lm_deliberate_abort = set()
    drv._lm_moved = set()
    drv._lm_params = {}
    drv._lm_metrics = lm_metrics.Metrics()
    drv._host = mock.Mock()
    drv._get_migration_flags = lambda block: flags
    drv._get_vpmems = lambda instance: []
    return drv


def _stalled_script():
    # adaptive judges at T_obs = 120 s + 3 x RAM/bandwidth (132 s here)
    samples = fakes.sawtooth([4 * GIB] + [2 * GIB] * 70)
    return fakes.job_stats(samples)


class TestDriverMonitor(unittest.TestCase):
    def _monitor(
        self,
        drv,
        script,
        instance,
        policy='adaptive',
        post=None,
        status='running',
        window_s=None,
    ):
        guest = fakes.FakeGuest(script)
        store = RecordingStore()
        self.flags(default_policy=policy)
        post, recover = post or mock.Mock(), mock.Mock()
        migrate_data = types.SimpleNamespace(
            migration=types.SimpleNamespace(uuid='mig-1', status=status),
            block_migration=False,
        )
        finish = types.SimpleNamespace(done=lambda: False)
        self._ran = (guest, store, post, recover)
        clock = fakes.FakeClock()
        drv._lm_monitor_config = monitor.MonitorConfig(
            clock=clock, sleep=clock.sleep, postcopy_window_s=window_s
        )
        # NOTE: the bus answers (nova-conductor's ping) unless a test says
        with (
            mock.patch.object(store_mod, 'NovaStore', return_value=store),
            mock.patch.object(
                bus, 'services_ping', return_value=getattr(self, 'ping', int)
            ),
        ):
            drv._live_migration_monitor(
                'ctx',
                instance,
                guest,
                'dest',
                post,
                recover,
                False,
                migrate_data,
                finish,
                [],
            )
        return guest, store, post, recover

    def flags(self, **kw):
        for name, value in kw.items():
            driver.CONF.set_override(name, value, group='livemigrate')
            self.addCleanup(
                driver.CONF.clear_override, name, group='livemigrate'
            )

    def test_policy_abort_recovers_with_error_and_marks_it_deliberate(self):
        drv = _driver()
        self.flags(permit_pause=False)
        guest, store, post, recover = self._monitor(
            drv, _stalled_script() + [FAILED], _instance()
        )
        self.assertIn(('abort',), guest.calls)
        post.assert_not_called()
        recover.assert_called_once_with('ctx', mock.ANY, 'dest', mock.ANY)
        self.assertIn(UUID, drv._lm_deliberate_abort)
        self.assertEqual('aborted', store.keys[-1]['livemigrate:phase'])
        self.assertIn('livemigrate_abort', store.events)
        self.assertNotIn(UUID, drv.active_migrations)

    def test_lost_postcopy_raises_with_a_fault_and_rolls_nothing_back(self):
        drv = _driver()
        broken = [
            (stats, fakes.POSTCOPY_FAILED) for stats in _stalled_script()
        ]
        with (
            mock.patch.object(driver.CONF, 'host', 'src-host'),
            mock.patch.object(
                lm_outcome.compute_utils, 'add_instance_fault_from_exc'
            ) as fault,
            self.assertRaisesRegex(
                lm_outcome.exception.MigrationError, 'lost dest for 30 s'
            ),
        ):
            self._monitor(
                drv,
                broken + [FAILED],
                _instance(),
                status='running (post-copy)',
                window_s=30,
            )
        guest, store, post, recover = self._ran
        post.assert_not_called()
        recover.assert_not_called()
        self.assertEqual([], guest.calls)
        message = fault.call_args.kwargs['fault_message']
        self.assertIn(
            'newest memory is on dest, the rest on src-host', message
        )
        self.assertEqual(
            ('post-copy failed', message),
            (
                store.keys[-1]['livemigrate:phase'],
                store.keys[-1]['livemigrate:reason'],
            ),
        )
        self.assertIn('livemigrate_postcopy-failed', store.events)

    def test_recovery_window_option_defaults_past_tcps_timeout(self):
        # tcp_retries2=15 gives up a silent connection after ~15 minutes
        self.assertEqual(
            1200, driver.CONF.livemigrate.postcopy_recovery_window_s
        )

    def test_completion_calls_post_method(self):
        drv = _driver()
        _, store, post, recover = self._monitor(
            drv, _stalled_script()[:3] + [COMPLETED], _instance()
        )
        post.assert_called_once()
        recover.assert_not_called()
        self.assertEqual('completed', store.keys[-1]['livemigrate:phase'])

    def test_the_move_counts_once_post_method_returned(self):
        drv = _driver()
        self._monitor(drv, _stalled_script()[:2] + [COMPLETED], _instance())
        self.assertIn(UUID, drv._lm_moved)
        drv = _driver()
        with self.assertRaisesRegex(RuntimeError, '401'):
            self._monitor(
                drv,
                _stalled_script()[:2] + [COMPLETED],
                _instance(),
                post=mock.Mock(side_effect=RuntimeError('401 from neutron')),
            )
        self.assertNotIn(UUID, drv._lm_moved)

    def test_novas_steps_run_once_even_after_a_bus_timeout(self):
        # NOTE: nova's own wrapper has set the destination as the host after
        # a failure; a second run would fail on the destination's save
        drv = _driver()
        post = mock.Mock(side_effect=oslo_messaging.MessagingTimeout('save'))
        with self.assertRaises(oslo_messaging.MessagingTimeout):
            self._monitor(
                drv,
                _stalled_script()[:2] + [COMPLETED],
                _instance(),
                post=post,
            )
        self.assertEqual(1, post.call_count)
        self.assertNotIn(UUID, drv._lm_moved)

    def test_a_bus_down_at_the_end_delays_the_final_status_and_steps(self):
        seen = []

        def ping():
            _, store, post, _ = self._ran
            phases = [k.get('livemigrate:phase') for k in store.keys]
            seen.append(('completed' in phases, post.called))
            if len(seen) < 3:
                raise oslo_messaging.MessagingTimeout('ping')

        self.ping = ping
        with (
            mock.patch.object(bus, 'PING_EVERY_S', 0),
            mock.patch.object(bus, 'BUS_SETTLE_S', 0),
        ):
            _, store, post, _ = self._monitor(
                _driver(), _stalled_script()[:2] + [COMPLETED], _instance()
            )
        # nothing was written or run until the third ping was answered
        self.assertEqual([(False, False)] * 3, seen)
        self.assertEqual('completed', store.keys[-1]['livemigrate:phase'])
        post.assert_called_once()
        self.assertIn('livemigrate_post-steps-waited', store.events)

    def test_a_move_nova_did_not_finish_releases_the_source_allocation(self):
        client = mock.Mock()
        client.delete_allocation_for_instance.return_value = True
        drv = _driver()
        with mock.patch.object(
            allocations.report, 'report_client_singleton', return_value=client
        ):
            with self.assertRaisesRegex(RuntimeError, '401'):
                self._monitor(
                    drv,
                    _stalled_script()[:2] + [COMPLETED],
                    _instance(),
                    post=mock.Mock(side_effect=RuntimeError('401 neutron')),
                )
            self._monitor(
                drv, _stalled_script()[:2] + [COMPLETED], _instance()
            )
        # once, for the failed post: nova's own steps release it otherwise
        client.delete_allocation_for_instance.assert_called_once_with(
            'ctx', 'mig-1', consumer_type='migration', force=False
        )

    def test_a_failed_release_never_hides_novas_error(self):
        client = mock.Mock()
        client.delete_allocation_for_instance.side_effect = OSError('503')
        with mock.patch.object(
            allocations.report, 'report_client_singleton', return_value=client
        ):
            with self.assertRaisesRegex(RuntimeError, '401'):
                self._monitor(
                    _driver(),
                    _stalled_script()[:2] + [COMPLETED],
                    _instance(),
                    post=mock.Mock(side_effect=RuntimeError('401 neutron')),
                )

    def test_forbidden_user_policy_is_refused_and_published(self):
        drv = _driver()
        instance = _instance(metadata={'livemigrate:policy': 'kubevirt'})
        _, store, _, _ = self._monitor(
            drv, _stalled_script()[:2] + [COMPLETED], instance, policy='nova'
        )
        self.assertIn('livemigrate_policy-refused', store.events)
        self.assertEqual('nova', store.keys[0]['livemigrate:policy_used'])
        self.assertIn(
            'does not let users choose', store.keys[0]['livemigrate:reason']
        )

    def test_refusal_key_names_asked_used_and_reason(self):
        drv = _driver()
        instance = _instance(metadata={'livemigrate:policy': 'turbo'})
        _, store, _, _ = self._monitor(
            drv, _stalled_script()[:2] + [COMPLETED], instance, policy='nova'
        )
        refusal = json.loads(store.keys[0]['livemigrate:policy_refused'])
        self.assertEqual(
            ('turbo', 'nova'), (refusal['asked'], refusal['used'])
        )
        self.assertIn("'turbo', which is not installed", refusal['reason'])

    def test_outcome_lines_are_novas_with_our_figures(self):
        drv = _driver()
        self.flags(permit_pause=False)
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO') as logs:
            self._monitor(
                drv, _stalled_script()[:3] + [COMPLETED], _instance()
            )
        (done,) = [r for r in logs.records if 'Migration operation' in r.msg]
        self.assertEqual(logging.INFO, done.levelno)
        self.assertRegex(
            done.getMessage(),
            r'^Migration operation has completed: policy adaptive, '
            r'last action .*, [1-9][0-9]* bytes moved, measured downtime ',
        )
        drv = _driver()
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO') as logs:
            self._monitor(drv, _stalled_script() + [FAILED], _instance())
        (aborted,) = [
            r for r in logs.records if 'Migration operation' in r.msg
        ]
        self.assertEqual(logging.ERROR, aborted.levelno)
        self.assertIn(
            'Migration operation has aborted: policy adaptive, last action '
            'abort (',
            aborted.getMessage(),
        )
        self.assertIn('measured downtime none', aborted.getMessage())

    def _last(self, store):
        """The final figures the driver wrote, parsed."""
        (value,) = [
            k['livemigrate:last_migration']
            for k in store.keys
            if 'livemigrate:last_migration' in k
        ]
        self.assertLessEqual(len(value), 255)
        return json.loads(value)

    def test_a_completed_migration_leaves_its_final_figures(self):
        drv = _driver()
        script = _stalled_script()[:3]
        script[-1] = dict(script[-1], disk_processed=3 * GIB)
        _, store, _, _ = self._monitor(drv, script + [COMPLETED], _instance())
        last = self._last(store)
        self.assertEqual(
            ('mig-1', 'completed', 'adaptive', 'set-downtime', 3 * GIB),
            (
                last['migration'],
                last['outcome'],
                last['policy'],
                last['action'],
                last['disk_bytes'],
            ),
        )
        self.assertEqual(script[-1]['memory_processed'], last['memory_bytes'])
        # three reads of a running job, 0.5 s apart, then the end
        self.assertEqual(1.5, last['duration_s'])
        self.assertIsNone(last['downtime_ms'])  # the destination adds it
        self.assertEqual('completed', store.keys[-1]['livemigrate:phase'])

    def test_a_policy_abort_leaves_figures_with_outcome_error(self):
        drv = _driver()
        self.flags(permit_pause=False)
        _, store, _, _ = self._monitor(
            drv, _stalled_script() + [FAILED], _instance()
        )
        last = self._last(store)
        self.assertEqual(('error', 'abort'), (last['outcome'], last['action']))
        self.assertGreater(last['memory_bytes'], 0)

    def test_an_api_abort_leaves_figures_with_outcome_cancelled(self):
        drv = _driver()
        drv.active_migrations[UUID] = collections.deque([monitor.API_ABORT])
        _, store, _, recover = self._monitor(
            drv, _stalled_script()[:2] + [CANCELLED], _instance()
        )
        last = self._last(store)
        self.assertEqual(
            ('cancelled', 'abort'), (last['outcome'], last['action'])
        )

    def test_a_shadow_policy_is_recorded_and_never_acts(self):
        drv = _driver()
        self.flags(permit_pause=False, shadow_policies=['adaptive'])
        guest, store, post, _ = self._monitor(
            drv, _stalled_script() + [COMPLETED], _instance(), policy='nova'
        )
        # adaptive alone aborts this migration (see the policy abort test)
        self.assertIn('livemigrate_shadow:adaptive:abort', store.events)
        self.assertNotIn(('abort',), guest.calls)
        self.assertEqual({'downtime'}, {c[0] for c in guest.calls})
        self.assertEqual('adaptive', store.keys[0]['livemigrate:shadows'])
        self.assertEqual('nova', store.keys[0]['livemigrate:policy_used'])
        post.assert_called_once()

    def test_an_api_abort_is_the_last_action_of_the_cancelled_line(self):
        """Seen on the mini-cloud: the line said "last action set-downtime
        (abort requested through the API)".
        """
        ended = monitor.Outcome(
            job='cancelled',
            job_type=CANCELLED,
            bytes_moved=7,
            aborted_by='api',
            reason='abort requested through the API',
        )
        pub = publisher.Publisher(RecordingStore(), 'mig-1', 'nova')
        pub.last = ('set-downtime', 'step after 300 s')
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO') as logs:
            lm_outcome.report(ended, pub, 'aborted')
        (record,) = logs.records
        self.assertEqual(logging.WARNING, record.levelno)
        self.assertEqual(
            'Migration operation was cancelled: policy nova, last action '
            'abort (abort requested through the API), 7 bytes moved, '
            'measured downtime none',
            record.getMessage(),
        )

    def test_allowed_user_policy_is_used(self):
        drv = _driver()
        self.flags(user_selectable_policies=['kubevirt'])
        instance = _instance(metadata={'livemigrate:policy': 'kubevirt'})
        _, store, _, _ = self._monitor(
            drv, _stalled_script()[:2] + [COMPLETED], instance, policy='nova'
        )
        self.assertEqual('kubevirt', store.keys[0]['livemigrate:policy_used'])

    def test_api_force_complete_uses_novas_queue(self):
        drv = _driver()
        self.flags(permit_pause=True)
        drv.active_migrations[UUID] = collections.deque(['force-complete'])
        guest, _, _, _ = self._monitor(
            drv, _stalled_script()[:2] + [COMPLETED], _instance()
        )
        self.assertIn(('pause',), guest.calls)

    def test_ports_move_once_at_the_switch_to_postcopy(self):
        drv = _driver()
        drv._permits = lambda instance, flags: Permits.named('postcopy')
        drv._activate_destination_ports = mock.Mock()
        guest, store, _, _ = self._monitor(
            drv, _stalled_script() + [COMPLETED], _instance()
        )
        self.assertEqual(1, guest.calls.count(('postcopy',)))
        drv._activate_destination_ports.assert_called_once_with(
            'ctx', mock.ANY, mock.ANY
        )
        self.assertIn('livemigrate_postcopy', store.events)


class TestDeliberateAbort(unittest.TestCase):
    def test_deliberate_abort_does_not_reach_the_manager(self):
        drv = _driver()
        drv._lm_deliberate_abort.add(UUID)
        boom = RuntimeError('operation aborted: migration out job')
        with mock.patch.object(
            libvirt_driver.LibvirtDriver, '_live_migration', side_effect=boom
        ):
            drv._live_migration(
                'ctx', _instance(), 'dest', None, None, False, None
            )
        self.assertNotIn(UUID, drv._lm_deliberate_abort)

    def test_error_after_a_completed_move_does_not_reach_the_manager(self):
        drv = _driver()

        def monitor_then_thread_error(*args):
            drv._lm_moved.add(UUID)  # post_method ran
            raise RuntimeError(
                'operation failed: job migration out failed: '
                'Lost connection to destination host'
            )

        with mock.patch.object(
            libvirt_driver.LibvirtDriver,
            '_live_migration',
            side_effect=monitor_then_thread_error,
        ):
            drv._live_migration(
                'ctx', _instance(), 'dest', None, None, False, None
            )
        self.assertNotIn(UUID, drv._lm_moved)

    def test_other_failures_still_raise(self):
        drv = _driver()
        with mock.patch.object(
            libvirt_driver.LibvirtDriver,
            '_live_migration',
            side_effect=RuntimeError('disk gone'),
        ):
            with self.assertRaisesRegex(RuntimeError, 'disk gone'):
                drv._live_migration(
                    'ctx', _instance(), 'dest', None, None, False, None
                )

    def test_api_abort_in_postcopy_is_refused(self):
        drv = _driver()
        mon = mock.Mock()
        mon.outcome.phase = driver.observation.Phase.POSTCOPY
        drv._lm_monitors[UUID] = mon
        with mock.patch.object(
            libvirt_driver.LibvirtDriver, 'live_migration_abort'
        ) as base_abort:
            drv.live_migration_abort(_instance())
        base_abort.assert_not_called()
        mon.note_api_abort.assert_not_called()

    def test_api_abort_in_precopy_is_noted_then_done(self):
        drv = _driver()
        mon = mock.Mock()
        mon.outcome.phase = driver.observation.Phase.PRECOPY
        drv._lm_monitors[UUID] = mon
        with mock.patch.object(
            libvirt_driver.LibvirtDriver, 'live_migration_abort'
        ) as base_abort:
            drv.live_migration_abort(_instance())
        mon.note_api_abort.assert_called_once()
        base_abort.assert_called_once()


class TestFlags(unittest.TestCase):
    def test_auto_converge_kept_with_postcopy(self):
        drv = _driver()
        driver.CONF.set_override(
            'live_migration_permit_auto_converge', True, group='libvirt'
        )
        driver.CONF.set_override(
            'live_migration_permit_post_copy', True, group='libvirt'
        )
        self.addCleanup(
            driver.CONF.clear_override,
            'live_migration_permit_auto_converge',
            group='libvirt',
        )
        self.addCleanup(
            driver.CONF.clear_override,
            'live_migration_permit_post_copy',
            group='libvirt',
        )
        libvirt = mock.Mock(
            VIR_MIGRATE_AUTO_CONVERGE=8192, VIR_MIGRATE_POSTCOPY=32768
        )
        with mock.patch.object(libvirt_driver, 'libvirt', libvirt):
            flags = drv._handle_live_migration_auto_converge(32768)
        self.assertEqual(32768 | 8192, flags)


class TestMeasuredDowntime(unittest.TestCase):
    def _publish(self, stats, metadata=None):
        drv = _driver()
        drv._host.get_guest.return_value._domain.jobStats.return_value = stats
        store = RecordingStore(metadata)
        libvirt = mock.Mock(VIR_DOMAIN_JOB_STATS_COMPLETED=1)
        with (
            mock.patch.object(store_mod, 'NovaStore', return_value=store),
            mock.patch.object(libvirt_driver, 'libvirt', libvirt),
        ):
            drv._publish_measured_downtime('ctx', _instance())
        return store.keys[-1]

    def test_destination_publishes_libvirts_measured_downtime(self):
        keys = self._publish({'type': 3, 'downtime': 187})
        self.assertEqual(
            {
                'livemigrate:phase': 'completed',
                'livemigrate:downtime_ms': '187',
                'livemigrate:downtime_measured': 'true',
            },
            keys,
        )

    def test_the_measured_downtime_completes_the_final_figures(self):
        last = {
            'migration': 'mig-1',
            'outcome': 'completed',
            'downtime_ms': None,
        }
        metadata = {
            'livemigrate:migration': 'mig-1',
            'livemigrate:last_migration': json.dumps(last),
        }
        keys = self._publish({'type': 3, 'downtime': 187}, metadata)
        self.assertEqual(
            dict(last, downtime_ms=187),
            json.loads(keys['livemigrate:last_migration']),
        )

    def test_figures_of_another_migration_are_left_alone(self):
        metadata = {
            'livemigrate:migration': 'mig-2',
            'livemigrate:last_migration': json.dumps(
                {'migration': 'mig-1', 'downtime_ms': None}
            ),
        }
        keys = self._publish({'type': 3, 'downtime': 187}, metadata)
        self.assertNotIn('livemigrate:last_migration', keys)

    def test_no_measurement_after_postcopy_keeps_the_expected_value(self):
        keys = self._publish({'type': 0})
        self.assertEqual({'livemigrate:phase': 'completed'}, keys)


class TestPermits(unittest.TestCase):
    def _permits(self, power_state, flags):
        drv = _driver()
        drv._is_post_copy_enabled = lambda f: bool(f & 32768)
        instance = _instance()
        instance.power_state = power_state
        libvirt = mock.Mock(VIR_MIGRATE_AUTO_CONVERGE=8192)
        with mock.patch.object(libvirt_driver, 'libvirt', libvirt):
            return drv._permits(instance, flags)

    def test_running_guest_gets_postcopy_and_auto_converge(self):
        permits = self._permits(1, 32768 | 8192)
        self.assertTrue(permits.postcopy)
        self.assertTrue(permits.auto_converge)

    def test_paused_guest_never_gets_postcopy(self):
        from nova.compute import power_state

        permits = self._permits(power_state.PAUSED, 32768)
        self.assertFalse(permits.postcopy)


class TestPolicyParams(unittest.TestCase):
    """[livemigrate] max_pause_ms reaches the adaptive policy, and a value
    in policy_params still wins over it.
    """

    def test_max_pause_ms_option_reaches_adaptive(self):
        drv = _driver()
        with mock.patch.object(driver.CONF.livemigrate, 'max_pause_ms', 1234):
            self.assertEqual(1234, drv._params_for('adaptive')['max_pause_ms'])
            self.assertNotIn('max_pause_ms', drv._params_for('kubevirt'))

    def test_policy_params_win_over_the_option(self):
        drv = _driver()
        drv._lm_params = {'adaptive': {'max_pause_ms': '99'}}
        with mock.patch.object(driver.CONF.livemigrate, 'max_pause_ms', 1234):
            self.assertEqual('99', drv._params_for('adaptive')['max_pause_ms'])
