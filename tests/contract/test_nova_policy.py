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
"""Our ``nova`` policy decides as nova 34 does, checked against nova itself.

This imports the installed nova (34.0.0) and feeds the same inputs to
nova's own ``downtime_steps``, ``update_downtime``,
``should_trigger_timeout_action`` and ``_live_migration_data_gb`` as to
our policy. It lives apart from the unit tests because it imports nova.
"""

import os
import tempfile
import types
import unittest

from nova import conf as nova_conf
from nova.virt.libvirt import driver as nova_driver
from nova.virt.libvirt import migration as nova_migration

from nova_ext.core.observation import Action
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase
from nova_ext.core.policies import nova as our_nova
from tests import fakes

CONF = nova_conf.CONF

CONFIGS = [
    # downtime ms, steps, delay s/GiB, completion timeout s/GiB
    (500, 10, 75, 800),
    (400, 10, 30, 800),
    (100, 3, 3, 0),
    (1000, 7, 11, 120),
]
RAM_MB = [256, 512, 2048, 3000, 4096, 16384]


class RecordingGuest:
    """What nova's update_downtime calls; it records the values set."""

    def __init__(self):
        self.downtimes = []

    def migrate_configure_max_downtime(self, ms):
        self.downtimes.append(ms)


class NovaContract(unittest.TestCase):
    def setUp(self):
        self.addCleanup(CONF.reset)

    def _configure(self, downtime, steps, delay, timeout):
        for name, value in (
            ('live_migration_downtime', downtime),
            ('live_migration_downtime_steps', steps),
            ('live_migration_downtime_delay', delay),
            ('live_migration_completion_timeout', timeout),
        ):
            CONF.set_override(name, value, group='libvirt')
        return {
            'downtime_ms': str(downtime),
            'downtime_steps': str(steps),
            'downtime_delay_s': str(delay),
            'completion_timeout_s': str(timeout),
        }

    def _nova_data_gb(self, ram_mb, disk_sizes):
        instance = types.SimpleNamespace(
            flavor=types.SimpleNamespace(memory_mb=ram_mb)
        )
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for n, size in enumerate(disk_sizes):
                path = os.path.join(tmp, 'disk%d' % n)
                with open(path, 'wb') as fh:
                    fh.truncate(size)
                paths.append(path)
            return nova_driver.LibvirtDriver._live_migration_data_gb(
                None, instance, paths
            )

    def test_data_gb_matches_nova(self):
        for ram_mb in RAM_MB:
            for disks in ([], [GIB], [3 * GIB, 512 * MIB]):
                with self.subTest(ram_mb=ram_mb, disks=disks):
                    self.assertAlmostEqual(
                        self._nova_data_gb(ram_mb, disks),
                        our_nova.data_gib(ram_mb * MIB, disks),
                    )

    def test_downtime_steps_match_nova(self):
        for config in CONFIGS:
            self._configure(*config)
            for ram_mb in RAM_MB:
                data_gb = max(ram_mb / 1024, 2)
                with self.subTest(config=config, ram_mb=ram_mb):
                    self.assertEqual(
                        list(nova_migration.downtime_steps(data_gb)),
                        our_nova.downtime_steps(
                            config[0], config[1], config[2], data_gb
                        ),
                    )

    def test_downtime_sequence_matches_update_downtime(self):
        """Poll every 0.5 s; both must set the same values at the same time."""
        for config in CONFIGS:
            params = self._configure(*config)
            for ram_mb in (512, 4096):
                with self.subTest(config=config, ram_mb=ram_mb):
                    data_gb = max(ram_mb / 1024, 2)
                    steps = list(nova_migration.downtime_steps(data_gb))
                    # the deployment's cap is nova's own downtime option
                    ours = our_nova.NovaPolicy(
                        MigrationContext(
                            ram_mb * MIB, Permits(max_downtime_ms=config[0])
                        ),
                        dict(params, completion_timeout_s='0'),
                    )
                    guest, current = RecordingGuest(), None
                    theirs, mine = [], []
                    t = 0.0
                    while t <= steps[-1][0] + 5:
                        before = len(guest.downtimes)
                        current = nova_migration.update_downtime(
                            guest, None, current, steps, t
                        )
                        if len(guest.downtimes) > before:
                            theirs.append((t, guest.downtimes[-1]))
                        decision = ours.decide(fakes.observation(t))
                        if decision.action is Action.SET_DOWNTIME:
                            mine.append((t, decision.downtime_ms))
                        t += 0.5
                    self.assertEqual(theirs, mine)
                    self.assertEqual(config[0], mine[-1][1])

    def test_timeout_fires_when_nova_would(self):
        for config in CONFIGS:
            params = self._configure(*config)
            for ram_mb in RAM_MB:
                data_gb = max(ram_mb / 1024, 2)
                completion = int(config[3] * data_gb)
                with self.subTest(config=config, ram_mb=ram_mb):
                    ours = our_nova.NovaPolicy(
                        MigrationContext(ram_mb * MIB), params
                    )
                    first_nova = first_ours = None
                    t = 0.0
                    while t <= completion + 2 and t < 20000:
                        if (
                            first_nova is None
                            and nova_migration.should_trigger_timeout_action(
                                None, t, completion, 'running'
                            )
                        ):
                            first_nova = t
                        if first_ours is None and ours.timeout_reached(
                            fakes.observation(t)
                        ):
                            first_ours = t
                        t += 0.5
                    self.assertEqual(first_nova, first_ours)
                    if not config[3]:
                        self.assertIsNone(first_ours)

    def test_no_timeout_in_postcopy_like_nova(self):
        params = self._configure(500, 10, 75, 10)
        self.assertFalse(
            nova_migration.should_trigger_timeout_action(
                None, 10000, 20, 'running (post-copy)'
            )
        )
        ours = our_nova.NovaPolicy(
            MigrationContext(GIB, Permits(postcopy=True)), params
        )
        self.assertFalse(
            ours.timeout_reached(
                fakes.observation(10000, phase=Phase.POSTCOPY)
            )
        )

    def test_timeout_action_matches_run_tasks(self):
        """force_complete: post-copy if enabled, else pause (run_tasks)."""
        params = self._configure(500, 10, 75, 1)
        params['timeout_action'] = 'force_complete'
        for postcopy, want in ((True, Action.POSTCOPY), (False, Action.PAUSE)):
            with self.subTest(postcopy=postcopy):
                ours = our_nova.NovaPolicy(
                    MigrationContext(
                        GIB, Permits(postcopy=postcopy, pause=True)
                    ),
                    params,
                )
                decisions = [
                    ours.decide(fakes.observation(t / 2)) for t in range(1, 10)
                ]
                self.assertIn(want, [d.action for d in decisions])
