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
"""``server migration watch``: refresh until none remain; API calls per
refresh.
"""

import json
import unittest

from osc_lib import exceptions

from osc_livemigrate.follow import progress
from osc_livemigrate.v1 import watch
from tests.unit.osc_livemigrate import fakes

PROG = 'openstack server migration watch'

REFUSAL = {
    'livemigrate:migration': 'u1',
    'livemigrate:policy_refused': json.dumps(
        {
            'asked': 'turbo',
            'used': 'nova',
            'reason': "server metadata asks for policy 'turbo'",
        }
    ),
}


class _Base(unittest.TestCase):
    VERSION = '2.95'
    TTY = False

    def setUp(self):
        self.compute = fakes.FakeCompute(self.VERSION)
        self.compute.add_server(fakes.server())
        self.compute.add_server(fakes.server('s-2', 'vm2'))
        self.app = fakes.FakeApp(self.compute, tty=self.TTY)
        self.cmd = watch.WatchMigration(self.app, None)
        self.clock = fakes.FakeClock()
        self.cmd._clock = self.clock
        self.refreshes = 0

        def sleep(seconds):
            self.clock.sleep(seconds)
            self.refreshes += 1
            if self.refreshes >= 3:  # migrations end after 3 refreshes
                self.compute.live.clear()
                for r in self.compute.records:
                    r.status = 'completed'

        self.cmd._sleep = sleep
        for i, (sid, src) in enumerate(
            (('s-1', 'compute1'), ('s-2', 'compute1'), ('s-3', 'compute2')),
            start=1,
        ):
            rec = fakes.migration(
                mid=i,
                uuid='u%d' % i,
                server_id=sid,
                source=src,
                memory_total_bytes=100,
                memory_processed_bytes=10 * i,
                memory_remaining_bytes=100 - 10 * i,
            )
            self.compute.records.append(rec)
            self.compute.live[(sid, i)] = rec
        self.compute.records.append(
            fakes.migration(mid=9, uuid='old', status='completed')
        )

    def run_cmd(self, *argv):
        return self.cmd.take_action(
            self.cmd.get_parser(PROG).parse_args(list(argv))
        )

    def refresh_objects(self):
        return [
            json.loads(line)
            for line in self.app.stdout.getvalue().splitlines()
        ]


class TestWatchMigration(_Base):
    def test_one_server_two_calls_per_refresh_one_when_none(self):
        self.run_cmd('--server', 'vm1')
        lines = self.refresh_objects()
        self.assertEqual(4, len(lines))
        self.assertEqual([], lines[-1]['migrations'])
        self.assertEqual(4, self.compute.count('server_migrations'))
        # the server (name, phase) only while something is in flight
        self.assertEqual(3, self.compute.count('get_server'))
        self.assertEqual(7, len(self.compute.calls) - 1)  # minus find_server

    def test_refusal_is_one_json_object_as_soon_as_it_shows(self):
        self.compute.servers_by_id['s-1'].metadata.update(REFUSAL)
        self.run_cmd('--host', 'compute1', '--interval', '1')
        lines = self.refresh_objects()
        kinds = [line['type'] for line in lines]
        self.assertEqual(
            ['refresh', 'policy_refused', 'refresh', 'refresh', 'refresh'],
            kinds,
        )
        self.assertEqual(
            {
                'type': 'policy_refused',
                'server': 'vm1',
                'migration': 'u1',
                'asked': 'turbo',
                'used': 'nova',
                'reason': "server metadata asks for policy 'turbo'",
                'message': 'Warning: owner-writable server metadata says '
                'the driver refused policy turbo for server vm1 and runs '
                "policy nova: server metadata asks for policy 'turbo'",
            },
            lines[1],
        )

    def test_host_listings_per_status_plus_two_per_in_flight(self):
        self.run_cmd('--host', 'compute1', '--interval', '1')
        lines = self.refresh_objects()
        self.assertEqual(2, len(lines[0]['migrations']))
        statuses = len(progress.IN_FLIGHT)
        self.assertEqual(4 * statuses, self.compute.count('migrations'))
        queries = [c[1] for c in self.compute.calls if c[0] == 'migrations']
        self.assertEqual(
            sorted(progress.IN_FLIGHT),
            [q['status'] for q in queries[:statuses]],
        )
        self.assertTrue(all(q['host'] == 'compute1' for q in queries))
        self.assertEqual(2 * 3, self.compute.count('get_server_migration'))
        self.assertEqual(2 * 3, self.compute.count('get_server'))
        self.assertEqual([1.0, 1.0, 1.0], self.clock.sleeps)

    def test_all(self):
        self.run_cmd('--count', '1')
        self.assertEqual(3, len(self.refresh_objects()[0]['migrations']))
        self.assertEqual(
            len(progress.IN_FLIGHT), self.compute.count('migrations')
        )

    def test_history_costs_no_request_and_no_row(self):
        def one_refresh():
            self.compute.calls.clear()
            self.compute.rows = 0
            self.app.stdout.seek(0)
            self.app.stdout.truncate()
            self.run_cmd('--host', 'compute1', '--count', '1')
            return (
                list(self.compute.calls),
                self.compute.rows,
                self.refresh_objects(),
            )

        before = one_refresh()
        self.assertEqual(2, before[1])  # rows: the two in flight
        for i in range(1000):
            self.compute.records.append(
                fakes.migration(
                    mid=100 + i, uuid='h%d' % i, status='completed'
                )
            )
        self.assertEqual(before, one_refresh())

    def test_server_name_and_phase_as_wait_shows_them(self):
        srv = self.compute.servers_by_id['s-1']
        srv.metadata.update(
            {'livemigrate:migration': 'u1', 'livemigrate:phase': 'paused'}
        )
        self.run_cmd('--host', 'compute1', '--count', '1')
        got = {
            m['migration']: (m['server'], m['phase'])
            for m in self.refresh_objects()[0]['migrations']
        }
        # the driver's phase when it published one; nova's status says
        # pre-copy otherwise (never null while it runs)
        self.assertEqual(
            {'u1': ('vm1', 'paused'), 'u2': ('vm2', 'pre-copy')}, got
        )

    def test_nothing_in_flight_ends_at_once(self):
        self.compute.live.clear()
        for r in self.compute.records:
            r.status = 'completed'
        self.assertEqual(0, self.run_cmd())
        self.assertEqual(1, len(self.refresh_objects()))

    def test_rides_out_an_unreachable_refresh_but_not_a_lasting_outage(self):
        from keystoneauth1 import exceptions as ksa_exc

        real, calls = self.compute.server_migrations, {'n': 0}

        def flaky(*a, **kw):
            calls['n'] += 1
            if calls['n'] == 2:
                raise ksa_exc.ConnectFailure('Connection reset by peer')
            return real(*a, **kw)

        self.compute.server_migrations = flaky
        self.assertEqual(0, self.run_cmd('--server', 'vm1'))
        kinds = [ln['type'] for ln in self.refresh_objects()]
        self.assertEqual('retry', kinds[1])
        self.assertEqual([], self.refresh_objects()[-1]['migrations'])

        def down(*a, **kw):
            raise ksa_exc.ConnectFailure('Connection refused')

        self.compute.server_migrations = down
        with self.assertRaisesRegex(
            exceptions.CommandError,
            'watch migrations failed: cannot reach the cloud',
        ):
            self.run_cmd('--server', 'vm1')

    def test_ctrl_c_ends_cleanly(self):
        def sleep(seconds):
            raise KeyboardInterrupt

        self.cmd._sleep = sleep
        self.assertEqual(0, self.run_cmd())

    def test_unknown_server(self):
        with self.assertRaisesRegex(exceptions.CommandError, "'ghost' exists"):
            self.run_cmd('--server', 'ghost')

    def test_bad_interval(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, '--interval 0.0 must be'
        ):
            self.run_cmd('--interval', '0')


class TestWatchMigrationTTY(_Base):
    TTY = True

    def test_table_redrawn(self):
        self.run_cmd('--host', 'compute1')
        out = self.app.stdout.getvalue()
        self.assertEqual(3, out.count(watch.CLEAR))
        self.assertIn('No migration in progress on host compute1.', out)
        self.assertIn('20%', out)

    def test_refusal_line_stays_under_every_redraw(self):
        self.compute.servers_by_id['s-1'].metadata.update(REFUSAL)
        self.run_cmd('--host', 'compute1')
        out = self.app.stdout.getvalue()
        warning = (
            'Warning: owner-writable server metadata says the driver '
            'refused policy turbo for server vm1 and runs policy nova: '
            "server metadata asks for policy 'turbo'\n"
        )
        for screen in out.split(watch.CLEAR)[1:]:
            self.assertEqual(1, screen.count(warning), screen)


class TestWatchMigrationV222(_Base):
    VERSION = '2.22'

    def test_needs_223(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.23 or greater is required for server migration watch',
        ):
            self.run_cmd()
