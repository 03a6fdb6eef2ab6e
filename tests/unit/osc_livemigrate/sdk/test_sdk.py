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
"""common: error translation, migration lookup by ID or UUID, shared kwargs."""

import unittest

from openstack import exceptions as sdk_exc
from osc_lib import exceptions

from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import events
from osc_livemigrate.sdk import lookups
from tests.unit.osc_livemigrate import fakes

UUID = '11111111-1111-1111-1111-111111111111'


class TestSdkErrors(unittest.TestCase):
    def test_refused_reauthentication_explains_tokens_and_keeps_the_hint(self):
        """An expired --os-token surfaces as keystoneauth's "Failed to validate
        token (HTTP 404)" while the session re-authenticates.
        """
        from keystoneauth1 import exceptions as ksa_exc

        with self.assertRaises(exceptions.CommandError) as cm:
            with errors.sdk_errors('follow it', hint='watch it'):
                raise ksa_exc.NotFound('Failed to validate token')
        msg = str(cm.exception)
        self.assertTrue(
            msg.startswith(
                'follow it failed: authentication was refused '
                '(Failed to validate token'
            ),
            msg,
        )
        self.assertIn('--os-token cannot be renewed', msg)
        self.assertIn('application credential', msg)
        self.assertTrue(msg.endswith('. watch it'), msg)

    def test_unreachable_cloud_is_not_called_an_auth_failure(self):
        from keystoneauth1 import exceptions as ksa_exc

        with self.assertRaisesRegex(
            exceptions.CommandError,
            r'^x failed: cannot reach the cloud \(down\)$',
        ):
            with errors.sdk_errors('x'):
                raise ksa_exc.ConnectFailure('down')

    def test_not_found_uses_given_message(self):
        with self.assertRaisesRegex(exceptions.CommandError, '^gone$'):
            with errors.sdk_errors('x', not_found='gone'):
                raise sdk_exc.ResourceNotFound('nope')

    def test_conflict_names_request_code_and_hint(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            r'^abort it failed \(HTTP 409\): busy. try later$',
        ):
            with errors.sdk_errors('abort it', hint='try later'):
                raise fakes.http_error(409, 'busy')

    def test_forbidden_says_admin(self):
        with self.assertRaisesRegex(exceptions.CommandError, 'admin role'):
            with errors.sdk_errors('x'):
                raise sdk_exc.ForbiddenException('no')


class TestFindServer(unittest.TestCase):
    def test_unknown_server(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            "No server with a name or ID of 'ghost' exists",
        ):
            lookups.find_server(fakes.FakeCompute(), 'ghost')


class TestParseMigrationRef(unittest.TestCase):
    def test_forms(self):
        self.assertEqual(('id', 7), lookups.parse_migration_ref('7'))
        self.assertEqual(
            ('uuid', UUID), lookups.parse_migration_ref(UUID.upper())
        )
        with self.assertRaisesRegex(
            exceptions.CommandError,
            "The <migration> argument must be an ID or UUID, not 'x'",
        ):
            lookups.parse_migration_ref('x')


class TestFindMigration(unittest.TestCase):
    def setUp(self):
        self.compute = fakes.FakeCompute()
        self.server = self.compute.add_server(fakes.server())
        self.live = fakes.migration()

    def test_by_id_from_per_server_api(self):
        self.compute.live[('s-1', 1)] = self.live
        self.assertIs(
            self.live,
            lookups.find_migration(self.compute, self.server, '1', 'c'),
        )

    def test_by_uuid_lists_per_server(self):
        self.compute.live[('s-1', 1)] = self.live
        self.assertIs(
            self.live,
            lookups.find_migration(self.compute, self.server, UUID, 'c'),
        )

    def test_by_uuid_needs_259(self):
        compute = fakes.FakeCompute('2.58')
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.59 or greater is required for c with a migration UUID',
        ):
            lookups.find_migration(compute, self.server, UUID, 'c')

    def test_post_copy_hidden_falls_back_to_os_migrations(self):
        record = fakes.migration(status='running (post-copy)')
        self.compute.records.append(record)
        self.assertIs(
            record,
            lookups.find_migration(self.compute, self.server, UUID, 'c'),
        )

    def test_finished_migration_says_its_status(self):
        self.compute.records.append(fakes.migration(status='completed'))
        with self.assertRaisesRegex(
            exceptions.CommandError,
            'Migration 1 of server vm1 is completed, not in progress',
        ):
            lookups.find_migration(
                self.compute, self.server, '1', 'server migration abort'
            )

    def test_unknown_migration(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            'Server vm1 has no migration 9 .*migration list',
        ):
            lookups.find_migration(self.compute, self.server, '9', 'c')


class TestLiveMigrateKwargs(unittest.TestCase):
    def test_auto_from_225(self):
        self.assertEqual(
            {'block_migration': 'auto', 'host': None},
            lookups.live_migrate_kwargs(fakes.FakeCompute('2.25')),
        )

    def test_before_225_sends_disk_over_commit(self):
        self.assertEqual(
            {
                'block_migration': False,
                'host': None,
                'disk_over_commit': False,
            },
            lookups.live_migrate_kwargs(fakes.FakeCompute('2.24')),
        )

    def test_host_needs_230(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.30 or greater is required for --host c2',
        ):
            lookups.live_migrate_kwargs(fakes.FakeCompute('2.29'), host='c2')

    def test_disk_overcommit_warns_from_225(self):
        warnings = []
        lookups.live_migrate_kwargs(
            fakes.FakeCompute(), disk_overcommit=True, warn=warnings.append
        )
        self.assertIn('ignored', warnings[0])


class TestFailedEvents(unittest.TestCase):
    def test_newest_action_failed_events(self):
        compute = fakes.FakeCompute()
        ev = {
            'event': 'compute_live_migration',
            'result': 'Error',
            'traceback': 'Traceback\n  x\nMigrationError: no\n',
            'details': None,
        }
        compute.actions['s-1'] = [
            fakes.Obj(
                action='live-migration',
                request_id='req-1',
                start_time='1',
                events=[{'event': 'old', 'result': 'Error', 'details': 'old'}],
            ),
            fakes.Obj(
                action='live-migration',
                request_id='req-2',
                start_time='2',
                events=[ev, {'event': 'ok', 'result': 'Success'}],
            ),
        ]
        self.assertEqual(
            [('compute_live_migration', 'MigrationError: no')],
            events.failed_events(compute, 's-1'),
        )


class TestInProgressMigration(unittest.TestCase):
    def test_a_non_admin_reads_it_from_the_servers_listing(self):
        # nova: show is admin-only, the server's listing is not
        from openstack import exceptions as sdk_exc

        compute = fakes.FakeCompute()
        compute.live[('s-1', 7)] = fakes.migration(mid=7, uuid='m7')
        compute.errors['get_server_migration'] = sdk_exc.ForbiddenException(
            'Policy does not allow show'
        )
        self.assertEqual(
            7, lookups.in_progress_migration(compute, 7, 's-1').id
        )
        self.assertEqual(1, compute.count('server_migrations'))


class TestLatestLiveMigration(unittest.TestCase):
    def _compute(self, version):
        compute = fakes.FakeCompute(version)
        for i in range(1, 1001):  # the server's history, oldest first
            compute.records.append(
                fakes.migration(mid=i, uuid='h%d' % i, status='completed')
            )
        compute.records.append(fakes.migration(mid=2000, uuid='new'))
        return compute

    def test_one_row_from_259_however_long_the_history(self):
        compute = self._compute('2.59')
        self.assertEqual(
            2000, lookups.latest_live_migration(compute, 's-1').id
        )
        self.assertEqual(1, compute.rows)
        self.assertIsNone(
            lookups.latest_live_migration(compute, 's-1', newer_than=2000)
        )

    def test_names_the_servers_project_from_280(self):
        # nova asks os-migrations:index:all_projects (admin-only) of a
        # listing without the caller's project: a project manager's --wait
        # was refused before it began
        compute = self._compute('2.80')
        lookups.latest_live_migration(compute, 's-1', project_id='p-1')
        self.assertEqual('p-1', compute.calls[-1][1]['project_id'])
        compute = self._compute('2.79')
        lookups.latest_live_migration(compute, 's-1', project_id='p-1')
        self.assertNotIn('project_id', compute.calls[-1][1])

    def test_whole_history_before_259(self):
        compute = self._compute('2.58')
        self.assertEqual(
            2000, lookups.latest_live_migration(compute, 's-1').id
        )
        self.assertEqual(1001, compute.rows)
