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
"""What the driver feeds the migration metrics: the active policy's and
the shadows' decisions, the end of a migration, the destination's
measured downtime.
"""

import unittest
from unittest import mock

from nova.virt.libvirt import driver as libvirt_driver

from nova_ext.compute import store as store_mod
from tests.unit.nova_ext.compute import driver_runs as td
from tests.unit.nova_ext.compute.metric_samples import samples
from tests.unit.nova_ext.compute.metric_samples import value
from tests.unit.nova_ext.compute.stores import RecordingStore


class TestDriverMetrics(td.MonitorRuns, unittest.TestCase):
    def test_a_completed_migration_is_counted_and_leaves_no_gauge(self):
        drv = td.make_driver()
        self._monitor(
            drv, td.stalled_script()[:3] + [td.COMPLETED], td.make_instance()
        )
        m = drv._lm_metrics
        assert (
            value(
                m,
                'livemigrate_decisions_total',
                policy='adaptive',
                action='set-downtime',
                role='active',
            )
            == 1
        )
        assert (
            value(
                m,
                'livemigrate_duration_seconds_sum',
                policy='adaptive',
                outcome='completed',
            )
            == 1.5
        )
        assert not [
            k for k in samples(m) if ('instance_uuid', td.UUID) in k[1]
        ]

    def test_a_policy_abort_ends_as_error(self):
        drv = td.make_driver()
        self.flags(permit_pause=False)
        self._monitor(
            drv, td.stalled_script() + [td.FAILED], td.make_instance()
        )
        m = drv._lm_metrics
        assert (
            value(
                m,
                'livemigrate_duration_seconds_count',
                policy='adaptive',
                outcome='error',
            )
            == 1
        )
        assert (
            value(
                m,
                'livemigrate_decisions_total',
                policy='adaptive',
                action='abort',
                role='active',
            )
            == 1
        )

    def test_shadow_decisions_are_counted_as_shadow(self):
        drv = td.make_driver()
        self.flags(permit_pause=False, shadow_policies=['adaptive'])
        self._monitor(
            drv,
            td.stalled_script() + [td.COMPLETED],
            td.make_instance(),
            policy='nova',
        )
        m = drv._lm_metrics
        assert (
            value(
                m,
                'livemigrate_decisions_total',
                policy='adaptive',
                action='abort',
                role='shadow',
            )
            == 1
        )
        assert (
            value(
                m,
                'livemigrate_decisions_total',
                policy='adaptive',
                action='abort',
                role='active',
            )
            is None
        )


class TestDestinationDowntime(unittest.TestCase):
    def test_the_destination_observes_the_downtime_by_policy(self):
        drv = td.make_driver()
        self._publish_with(
            drv, {'type': 3, 'downtime': 187}, {'livemigrate:policy_used': 'x'}
        )
        assert (
            value(
                drv._lm_metrics,
                'livemigrate_downtime_seconds_sum',
                policy='x',
                outcome='completed',
            )
            == 0.187
        )

    def test_no_downtime_measured_no_observation(self):
        drv = td.make_driver()
        self._publish_with(drv, {'type': 0}, {})
        assert not [
            k
            for k in samples(drv._lm_metrics)
            if k[0].startswith('livemigrate_downtime_seconds_count')
        ]

    def _publish_with(self, drv, stats, metadata):
        drv._host.get_guest.return_value._domain.jobStats.return_value = stats
        store = RecordingStore(metadata)
        libvirt = mock.Mock(VIR_DOMAIN_JOB_STATS_COMPLETED=1)
        with (
            mock.patch.object(store_mod, 'NovaStore', return_value=store),
            mock.patch.object(libvirt_driver, 'libvirt', libvirt),
        ):
            drv._publish_measured_downtime('ctx', td.make_instance())
