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
"""How a migration the driver watched ends, as nova's migration thread
sees it: nova's callbacks, the published end, nova's log line.

The driver's monitor hook runs one
:class:`nova_ext.compute.outgoing.OutgoingMigration`; nova's own
live-migration tests run against the same class in
tests/contract/nova_unit, and real guests in tests/e2e.
"""

import collections
import json
import logging
import unittest
from unittest import mock

import oslo_messaging

from nova_ext.compute import allocations
from nova_ext.compute import bus
from nova_ext.compute import driver
from nova_ext.compute import monitor
from nova_ext.compute import outcome as lm_outcome
from nova_ext.compute import publisher
from nova_ext.core.observation import GIB
from tests import fakes
from tests.unit.nova_ext.compute.driver_runs import CANCELLED
from tests.unit.nova_ext.compute.driver_runs import COMPLETED
from tests.unit.nova_ext.compute.driver_runs import FAILED
from tests.unit.nova_ext.compute.driver_runs import make_driver
from tests.unit.nova_ext.compute.driver_runs import make_instance
from tests.unit.nova_ext.compute.driver_runs import MonitorRuns
from tests.unit.nova_ext.compute.driver_runs import stalled_script
from tests.unit.nova_ext.compute.driver_runs import UUID
from tests.unit.nova_ext.compute.stores import RecordingStore


class TestDriverMonitor(MonitorRuns, unittest.TestCase):
    def test_policy_abort_recovers_with_error_and_marks_it_deliberate(self):
        drv = make_driver()
        self.flags(permit_pause=False)
        guest, store, post, recover = self._monitor(
            drv, stalled_script() + [FAILED], make_instance()
        )
        self.assertIn(('abort',), guest.calls)
        post.assert_not_called()
        recover.assert_called_once_with('ctx', mock.ANY, 'dest', mock.ANY)
        self.assertIn(UUID, drv._lm_deliberate_abort)
        self.assertEqual('aborted', store.keys[-1]['livemigrate:phase'])
        self.assertIn('livemigrate_abort', store.events)
        self.assertNotIn(UUID, drv.active_migrations)

    def test_lost_postcopy_raises_with_a_fault_and_rolls_nothing_back(self):
        drv = make_driver()
        broken = [(stats, fakes.POSTCOPY_FAILED) for stats in stalled_script()]
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
                make_instance(),
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
        drv = make_driver()
        _, store, post, recover = self._monitor(
            drv, stalled_script()[:3] + [COMPLETED], make_instance()
        )
        post.assert_called_once()
        recover.assert_not_called()
        self.assertEqual('completed', store.keys[-1]['livemigrate:phase'])

    def test_the_move_counts_once_post_method_returned(self):
        drv = make_driver()
        self._monitor(drv, stalled_script()[:2] + [COMPLETED], make_instance())
        self.assertIn(UUID, drv._lm_moved)
        drv = make_driver()
        with self.assertRaisesRegex(RuntimeError, '401'):
            self._monitor(
                drv,
                stalled_script()[:2] + [COMPLETED],
                make_instance(),
                post=mock.Mock(side_effect=RuntimeError('401 from neutron')),
            )
        self.assertNotIn(UUID, drv._lm_moved)

    def test_novas_steps_run_once_even_after_a_bus_timeout(self):
        # NOTE: nova's own wrapper has set the destination as the host after
        # a failure; a second run would fail on the destination's save
        drv = make_driver()
        post = mock.Mock(side_effect=oslo_messaging.MessagingTimeout('save'))
        with self.assertRaises(oslo_messaging.MessagingTimeout):
            self._monitor(
                drv,
                stalled_script()[:2] + [COMPLETED],
                make_instance(),
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
                make_driver(),
                stalled_script()[:2] + [COMPLETED],
                make_instance(),
            )
        # nothing was written or run until the third ping was answered
        self.assertEqual([(False, False)] * 3, seen)
        self.assertEqual('completed', store.keys[-1]['livemigrate:phase'])
        post.assert_called_once()
        self.assertIn('livemigrate_post-steps-waited', store.events)

    def test_a_move_nova_did_not_finish_releases_the_source_allocation(self):
        client = mock.Mock()
        client.delete_allocation_for_instance.return_value = True
        drv = make_driver()
        with mock.patch.object(
            allocations.report, 'report_client_singleton', return_value=client
        ):
            with self.assertRaisesRegex(RuntimeError, '401'):
                self._monitor(
                    drv,
                    stalled_script()[:2] + [COMPLETED],
                    make_instance(),
                    post=mock.Mock(side_effect=RuntimeError('401 neutron')),
                )
            self._monitor(
                drv, stalled_script()[:2] + [COMPLETED], make_instance()
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
                    make_driver(),
                    stalled_script()[:2] + [COMPLETED],
                    make_instance(),
                    post=mock.Mock(side_effect=RuntimeError('401 neutron')),
                )

    def test_outcome_lines_are_novas_with_our_figures(self):
        drv = make_driver()
        self.flags(permit_pause=False)
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO') as logs:
            self._monitor(
                drv, stalled_script()[:3] + [COMPLETED], make_instance()
            )
        (done,) = [r for r in logs.records if 'Migration operation' in r.msg]
        self.assertEqual(logging.INFO, done.levelno)
        self.assertRegex(
            done.getMessage(),
            r'^Migration operation has completed: policy adaptive, '
            r'last action .*, [1-9][0-9]* bytes moved, measured downtime ',
        )
        drv = make_driver()
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO') as logs:
            self._monitor(drv, stalled_script() + [FAILED], make_instance())
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
        drv = make_driver()
        script = stalled_script()[:3]
        script[-1] = dict(script[-1], disk_processed=3 * GIB)
        _, store, _, _ = self._monitor(
            drv, script + [COMPLETED], make_instance()
        )
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
        drv = make_driver()
        self.flags(permit_pause=False)
        _, store, _, _ = self._monitor(
            drv, stalled_script() + [FAILED], make_instance()
        )
        last = self._last(store)
        self.assertEqual(('error', 'abort'), (last['outcome'], last['action']))
        self.assertGreater(last['memory_bytes'], 0)

    def test_an_api_abort_leaves_figures_with_outcome_cancelled(self):
        drv = make_driver()
        drv.active_migrations[UUID] = collections.deque([monitor.API_ABORT])
        _, store, _, recover = self._monitor(
            drv, stalled_script()[:2] + [CANCELLED], make_instance()
        )
        last = self._last(store)
        self.assertEqual(
            ('cancelled', 'abort'), (last['outcome'], last['action'])
        )

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
