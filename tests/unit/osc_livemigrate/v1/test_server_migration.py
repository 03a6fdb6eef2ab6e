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
"""``server migration list|show|abort|force complete``: supersets, bytes,
errors.
"""

import sys
import unittest
from unittest import mock

from openstackclient.compute.v2 import server_migration as core
from osc_lib import exceptions

from osc_livemigrate.follow import final
from osc_livemigrate.v1 import server_migration
from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate import parsers

UUID = '11111111-1111-1111-1111-111111111111'
#: openstackclient 10.5's list columns at 2.59 to 2.79
CORE_LIST_HEADERS = [
    'Id',
    'UUID',
    'Source Node',
    'Dest Node',
    'Source Compute',
    'Dest Compute',
    'Dest Host',
    'Status',
    'Server UUID',
    'Old Flavor',
    'New Flavor',
    'Type',
    'Created At',
    'Updated At',
]


class _Base(unittest.TestCase):
    VERSION = '2.95'
    CMD = None
    PROG = None

    def setUp(self):
        self.compute = fakes.FakeCompute(self.VERSION)
        self.server = self.compute.add_server(fakes.server())
        self.app = fakes.FakeApp(self.compute)
        self.cmd = self.CMD(self.app, None)

    def run_cmd(self, *argv):
        return self.cmd.take_action(
            self.cmd.get_parser(self.PROG).parse_args(list(argv))
        )


class TestParsersAreSupersets(unittest.TestCase):
    def test_each_command(self):
        app = fakes.FakeApp(fakes.FakeCompute())
        pairs = (
            (core.ListMigration, server_migration.ListMigration),
            (core.ShowMigration, server_migration.ShowMigration),
            (core.AbortMigration, server_migration.AbortMigration),
            (
                core.ForceCompleteMigration,
                server_migration.ForceCompleteMigration,
            ),
        )
        for theirs, ours in pairs:
            core_actions = parsers.actions(theirs(app, None).get_parser('x'))
            our_actions = parsers.actions(ours(app, None).get_parser('x'))
            for name, action in core_actions.items():
                with self.subTest(command=ours.__name__, option=name):
                    self.assertIn(name, our_actions)
                    mine = our_actions[name]
                    for attr in (
                        'dest',
                        'default',
                        'choices',
                        'type',
                        'nargs',
                        'required',
                    ):
                        self.assertEqual(
                            getattr(action, attr), getattr(mine, attr), attr
                        )


class TestListMigration(_Base):
    CMD = server_migration.ListMigration
    PROG = 'openstack server migration list'

    def setUp(self):
        super().setUp()
        self.compute.records = [
            fakes.migration(mid=2, uuid='u2', status='running'),
            fakes.migration(mid=3, uuid='u3', status='running (post-copy)'),
            fakes.migration(mid=1, uuid='u1', status='completed'),
        ]
        self.compute.live[('s-1', 2)] = fakes.migration(
            mid=2,
            memory_total_bytes=100,
            memory_processed_bytes=60,
            memory_remaining_bytes=40,
            disk_total_bytes=100,
            disk_processed_bytes=20,
            disk_remaining_bytes=80,
        )

    def test_long_adds_progress_of_memory_and_disk_in_flight_only(self):
        headers, rows = self.run_cmd('--long')
        rows = [dict(zip(headers, r)) for r in rows]
        # (200 - 120) / 200: memory and disk together
        self.assertEqual(40.0, rows[0]['Progress'])
        self.assertEqual(40, rows[0]['Memory Remaining Bytes'])
        self.assertEqual(80, rows[0]['Disk Remaining Bytes'])
        self.assertEqual(100, rows[0]['Disk Total Bytes'])
        self.assertEqual('running (post-copy)', rows[1]['Status'])
        self.assertIsNone(rows[1]['Progress'])
        self.assertIsNone(rows[2]['Memory Processed Bytes'])
        # one listing plus one call per in-flight live migration
        self.assertEqual(1, self.compute.count('migrations'))
        self.assertEqual(2, self.compute.count('get_server_migration'))

    def test_default_is_core_columns_in_core_order_no_extra_calls(self):
        headers, rows = self.run_cmd()
        self.assertEqual(CORE_LIST_HEADERS, headers)
        self.assertEqual(0, self.compute.count('get_server_migration'))
        self.assertEqual(len(CORE_LIST_HEADERS), len(rows[0]))

    def test_long_appends_ours_after_core_and_byte_names_end_in_bytes(self):
        headers, _ = self.run_cmd('--long')
        self.assertEqual(CORE_LIST_HEADERS, headers[: len(CORE_LIST_HEADERS)])
        added = headers[len(CORE_LIST_HEADERS) :]
        self.assertEqual('Progress', added[0])
        self.assertEqual(6 + len(final.ROWS), len(added[1:]))
        for header in added[1:7]:
            self.assertTrue(header.endswith(' Bytes'), header)
        # then the final figures of ended migrations, bytes first, each
        # marked as read from owner-writable server metadata
        self.assertEqual([h for h, _ in final.ROWS], added[7:])
        self.assertTrue(added[7].endswith(' Bytes [owner-writable]'))
        self.assertTrue(added[8].endswith(' Bytes [owner-writable]'))
        for header in added[7:]:
            self.assertTrue(header.endswith(' [owner-writable]'), header)

    def test_sort_on_an_added_column_with_missing_values(self):
        self.compute.records.append(
            fakes.migration(mid=4, uuid='u4', status='running')
        )
        self.compute.live[('s-1', 4)] = fakes.migration(
            mid=4, memory_total_bytes=100, memory_remaining_bytes=10
        )
        parser = self.cmd.get_parser(self.PROG)
        args = parser.parse_args(
            [
                '--long',
                '-f',
                'value',
                '-c',
                'Id',
                '--sort-column',
                'Memory Remaining Bytes',
            ]
        )
        self.assertEqual(0, self.cmd.run(args))
        # known values ascending, unknown (None) last, as cliff sorts them
        self.assertEqual(['4', '2'], self.app.stdout.getvalue().split()[:2])
        self.assertEqual(
            {'1', '3'}, set(self.app.stdout.getvalue().split()[2:])
        )

    def test_filters(self):
        self.run_cmd(
            '--server',
            'vm1',
            '--type',
            'cold-migration',
            '--status',
            'x',
            '--host',
            'h',
            '--limit',
            '5',
            '--changes-since',
            '2025-01-01',
        )
        query = [c for c in self.compute.calls if c[0] == 'migrations'][0][1]
        self.assertEqual(
            {
                'instance_uuid': 's-1',
                'migration_type': 'migration',
                'status': 'x',
                'host': 'h',
                'limit': 5,
                'paginated': False,
                'changes_since': '2025-01-01',
            },
            query,
        )


class TestListMigrationV258(_Base):
    VERSION = '2.58'
    CMD = server_migration.ListMigration
    PROG = 'openstack server migration list'

    def test_limit_needs_259(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.59 or greater is required for --limit 5',
        ):
            self.run_cmd('--limit', '5')


class TestListMigrationWithoutOpenstackclient(_Base):
    CMD = server_migration.ListMigration
    PROG = 'openstack server migration list'

    def test_project_says_what_to_install(self):
        # NOTE: python-openstackclient comes with the cli extra only
        hidden = {'openstackclient.identity': None}
        with mock.patch.dict(sys.modules, hidden):
            with self.assertRaisesRegex(
                exceptions.CommandError, r'osc-livemigrate\[cli\]'
            ):
                self.run_cmd('--project', 'demo')


class TestListMigrationV222(_Base):
    VERSION = '2.22'
    CMD = server_migration.ListMigration
    PROG = 'openstack server migration list'

    def test_no_progress_columns_and_no_extra_calls(self):
        self.compute.records = [fakes.migration(status='running')]
        headers, rows = self.run_cmd()
        self.assertNotIn('Progress', headers)
        self.assertNotIn('Id', headers)
        self.assertEqual(0, self.compute.count('get_server_migration'))


class TestShowMigration(_Base):
    CMD = server_migration.ShowMigration
    PROG = 'openstack server migration show'

    def test_show_by_id_with_progress(self):
        self.compute.live[('s-1', 1)] = fakes.migration(
            memory_total_bytes=200,
            memory_processed_bytes=50,
            memory_remaining_bytes=150,
        )
        headers, values = self.run_cmd('vm1', '1')
        data = dict(zip(headers, values))
        self.assertEqual(25.0, data['Progress'])
        self.assertEqual(UUID, data['UUID'])
        self.assertEqual(150, data['Memory Remaining Bytes'])
        self.assertEqual('Progress', headers[-1])  # ours after core's

    def test_show_by_uuid(self):
        self.compute.live[('s-1', 1)] = fakes.migration()
        headers, values = self.run_cmd('vm1', UUID)
        self.assertEqual(1, dict(zip(headers, values))['ID'])

    def test_no_migration_in_progress(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, 'Server vm1 has no migration 5'
        ):
            self.run_cmd('vm1', '5')

    def test_unknown_server(self):
        with self.assertRaisesRegex(exceptions.CommandError, "'nope' exists"):
            self.run_cmd('nope', '5')


class TestShowMigrationV222(_Base):
    VERSION = '2.22'
    CMD = server_migration.ShowMigration
    PROG = 'openstack server migration show'

    def test_needs_223_not_224(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.23 or greater is required for server migration show',
        ):
            self.run_cmd('vm1', '1')


class TestShowMigrationV258(_Base):
    VERSION = '2.58'
    CMD = server_migration.ShowMigration
    PROG = 'openstack server migration show'

    def test_uuid_needs_259(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.59 or greater is required for '
            'server migration show with a migration UUID',
        ):
            self.run_cmd('vm1', UUID)


class TestAbortMigration(_Base):
    CMD = server_migration.AbortMigration
    PROG = 'openstack server migration abort'

    def test_abort_by_id_is_one_call_after_lookup(self):
        self.compute.live[('s-1', 1)] = fakes.migration()
        self.run_cmd('vm1', '1')
        # the user's ID as typed, as core sends it
        self.assertIn(
            ('abort_server_migration', '1', 's-1'), self.compute.calls
        )

    def test_abort_by_uuid(self):
        self.compute.live[('s-1', 1)] = fakes.migration()
        self.run_cmd('vm1', UUID)
        self.assertIn(('abort_server_migration', 1, 's-1'), self.compute.calls)

    def test_finished_migration_explained(self):
        self.compute.records.append(fakes.migration(status='completed'))
        with self.assertRaisesRegex(
            exceptions.CommandError,
            'is completed, not in progress: server migration abort',
        ):
            self.run_cmd('vm1', '1')

    def test_post_copy_hidden_explained(self):
        self.compute.records.append(
            fakes.migration(status='running (post-copy)')
        )
        with self.assertRaisesRegex(
            exceptions.CommandError, 'hides migrations in post-copy'
        ):
            self.run_cmd('vm1', '1')

    def test_bad_ref(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, 'must be an ID or UUID'
        ):
            self.run_cmd('vm1', 'abc')


class TestAbortMigrationV224(_Base):
    VERSION = '2.24'
    CMD = server_migration.AbortMigration
    PROG = 'openstack server migration abort'

    def test_conflict_hints_265(self):
        self.compute.live[('s-1', 1)] = fakes.migration(status='queued')
        self.compute.errors['abort_server_migration'] = fakes.http_error(
            409, 'queued'
        )
        with self.assertRaisesRegex(
            exceptions.CommandError,
            r'abort migration 1 of server vm1 failed \(HTTP 409\).*'
            r'--os-compute-api-version 2.65',
        ):
            self.run_cmd('vm1', '1')


class TestAbortMigrationV223(_Base):
    VERSION = '2.23'
    CMD = server_migration.AbortMigration
    PROG = 'openstack server migration abort'

    def test_needs_224(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.24 or greater is required for server migration abort',
        ):
            self.run_cmd('vm1', '1')


class TestForceCompleteMigrationV222(_Base):
    VERSION = '2.22'
    CMD = server_migration.ForceCompleteMigration
    PROG = 'openstack server migration force complete'

    def test_by_id_without_lookup(self):
        self.compute.live[('s-1', 1)] = fakes.migration()
        self.run_cmd('vm1', '1')
        self.assertEqual(
            ['find_server', 'force_complete_server_migration'],
            [c[0] for c in self.compute.calls],
        )

    def test_uuid_needs_259(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.59 or greater is required for '
            'server migration force complete with a migration UUID',
        ):
            self.run_cmd('vm1', UUID)


class TestForceCompleteMigrationV221(_Base):
    VERSION = '2.21'
    CMD = server_migration.ForceCompleteMigration
    PROG = 'openstack server migration force complete'

    def test_needs_222(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, '2.22 or greater'
        ):
            self.run_cmd('vm1', '1')
