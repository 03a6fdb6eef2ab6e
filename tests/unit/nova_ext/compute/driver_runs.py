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
"""The driver as its tests build and run it.

The driver object is built without nova's __init__ (no libvirt connection);
the guest is the scripted fake of tests/fakes.py, the store a recorder
(:mod:`tests.unit.nova_ext.compute.stores`).
"""

import types
from unittest import mock

from nova_ext.compute import bus
from nova_ext.compute import driver
from nova_ext.compute import metrics as lm_metrics
from nova_ext.compute import monitor
from nova_ext.compute import store as store_mod
from nova_ext.core.observation import GIB
from tests import fakes
from tests.unit.nova_ext.compute.stores import RecordingStore

COMPLETED, FAILED, CANCELLED = 3, 4, 5
UUID = '11111111-2222-3333-4444-555555555555'


def make_instance(metadata=None, extra_specs=None):
    return types.SimpleNamespace(
        uuid=UUID,
        metadata=metadata or {},
        system_metadata={},
        power_state=1,
        flavor=types.SimpleNamespace(
            memory_mb=4096, extra_specs=extra_specs or {}
        ),
    )


def make_driver(flags=0):
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


def stalled_script():
    # adaptive judges at T_obs = 120 s + 3 x RAM/bandwidth (132 s here)
    samples = fakes.sawtooth([4 * GIB] + [2 * GIB] * 70)
    return fakes.job_stats(samples)


class MonitorRuns:
    """For a ``unittest.TestCase``: run the driver's monitor hook as
    nova's migration thread calls it, and set ``[livemigrate]`` options
    for one test.
    """

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
