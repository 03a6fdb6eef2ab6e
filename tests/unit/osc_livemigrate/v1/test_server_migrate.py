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
"""``server migrate`` without --wait: checks before nova, --policy, the
older microversions, cold migration.
"""

from osc_lib import exceptions

from tests.unit.osc_livemigrate.v1 import migrate_base as base


class TestMigrateServer(base.Base):
    def test_host_naming_the_current_host_is_refused_before_nova(self):
        for argv in (
            ['vm1', '--live-migration', '--host', 'compute1'],
            ['vm1', '--live-migration', '--host', 'compute1', '--wait'],
            [
                'vm1',
                '--host',
                'compute1',
                '--policy',
                'nova',
                '--live-migration',
            ],
            ['vm1', '--host', 'compute1'],
        ):
            with self.subTest(argv=argv):
                self.compute.calls.clear()
                with self.assertRaisesRegex(
                    exceptions.CommandError,
                    '^Server vm1 is already on host compute1: --host must '
                    'name another host$',
                ):
                    self.run_cmd(*argv)
                # only the lookup: nothing asked of nova, no metadata set
                self.assertEqual(
                    ['find_server'], [c[0] for c in self.compute.calls]
                )

    def test_host_check_skipped_when_the_host_is_not_visible(self):
        self.server.compute_host = None  # non-admin: nova hides the host
        self.run_cmd('vm1', '--live-migration', '--host', 'compute1')
        self.assertEqual(1, self.compute.count('live_migrate_server'))

    def test_live_migration_without_wait(self):
        # None, as core returns (cliff exits 0)
        self.assertIsNone(self.run_cmd('vm1', '--live-migration'))
        self.assertIn(
            (
                'live_migrate_server',
                's-1',
                {'block_migration': 'auto', 'host': None},
            ),
            self.compute.calls,
        )

    def test_unknown_server(self):
        with self.assertRaisesRegex(exceptions.CommandError, "'ghost' exists"):
            self.run_cmd('ghost', '--live-migration')

    def test_policy_sets_metadata_before_migrating(self):
        self.run_cmd('vm1', '--live-migration', '--policy', 'adaptive')
        names = [c[0] for c in self.compute.calls]
        self.assertLess(
            names.index('set_server_metadata'),
            names.index('live_migrate_server'),
        )
        self.assertEqual(
            'adaptive', self.server.metadata['livemigrate:policy']
        )

    def test_policy_needs_live_migration(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '--policy adaptive applies to live migrations only',
        ):
            self.run_cmd('vm1', '--policy', 'adaptive')

    def test_policy_name_checked(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, "--policy 'a b' is not"
        ):
            self.run_cmd('vm1', '--live-migration', '--policy', 'a b')

    def test_cold_block_migration_needs_live(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, '--live-migration must be'
        ):
            self.run_cmd('vm1', '--block-migration')


class TestMigrateServerV222(base.Base):
    """Before 2.23: no byte counters; the verdict comes from the record."""

    VERSION = '2.22'

    def test_wait_without_bytes(self):
        self.script()
        self.assertEqual(0, self.run_cmd('vm1', '--live-migration', '--wait'))
        self.assertEqual(0, self.compute.count('get_server_migration'))
        self.assertIsNone(self.json_lines()[0]['percent'])

    def test_host_needs_230(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.30 or greater is required for --host c2',
        ):
            self.run_cmd('vm1', '--live-migration', '--host', 'c2')

    def test_disk_overcommit_sent(self):
        self.run_cmd('vm1', '--live-migration', '--disk-overcommit')
        self.assertIn(
            (
                'live_migrate_server',
                's-1',
                {
                    'block_migration': False,
                    'host': None,
                    'disk_over_commit': True,
                },
            ),
            self.compute.calls,
        )


class TestMigrateServerCold(base.Base):
    def test_cold_wait_verify_resize_on_other_host(self):
        def tick(compute):
            self.server.status, self.server.task_state = 'VERIFY_RESIZE', None
            self.server.compute_host = 'compute2'

        self.compute.tick = tick
        self.assertEqual(0, self.run_cmd('vm1', '--wait'))
        self.assertIn('migration confirm vm1', self.app.stdout.getvalue())

    def test_cold_wait_back_active_fails(self):
        self.compute.tick = lambda c: None
        with self.assertRaisesRegex(
            exceptions.CommandError, 'ACTIVE on compute1'
        ):
            self.run_cmd('vm1', '--wait')

    def test_cold_host_needs_256(self):
        self.compute.default_microversion = '2.55'
        with self.assertRaisesRegex(
            exceptions.CommandError, '2.56 or greater'
        ):
            self.run_cmd('vm1', '--host', 'c2')
