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
"""What nova's manager sees once a migration ended, what the destination
publishes, and the permits and options a policy gets.

The driver object is built without nova's __init__ (no libvirt connection,
:mod:`tests.unit.nova_ext.compute.driver_runs`); how a watched migration
ends is in test_driver_monitor.py, the policy in charge in
test_driver_policy.py.
"""

import json
import unittest
from unittest import mock

from nova.virt.libvirt import driver as libvirt_driver

from nova_ext.compute import driver
from nova_ext.compute import store as store_mod
from tests.unit.nova_ext.compute.driver_runs import make_driver as _driver
from tests.unit.nova_ext.compute.driver_runs import make_instance as _instance
from tests.unit.nova_ext.compute.driver_runs import UUID
from tests.unit.nova_ext.compute.stores import RecordingStore


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
