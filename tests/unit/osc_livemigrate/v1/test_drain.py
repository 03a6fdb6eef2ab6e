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
"""``compute host drain``: concurrency, retries, final table, exit code, re-
runs.
"""

import unittest

from osc_lib import exceptions

from osc_livemigrate.plan import drain as dp
from osc_livemigrate.v1 import drain
from tests.unit.osc_livemigrate import fakes

PROG = 'openstack compute host drain'


class FakeNova:
    """Live migrations taking ``duration`` polls; tracks peak concurrency."""

    def __init__(self, compute, duration=2, outcomes=None):
        self.compute, self.duration = compute, duration
        self.outcomes = dict(
            outcomes or {}
        )  # server id -> [status, ...] per attempt
        self.running = {}
        self.peak = 0
        self.next_id = 100
        compute.on_live_migrate = self.start
        compute.tick = None

    def start(self, sid):
        srv = self.compute.servers_by_id[sid]
        srv.status, srv.task_state = 'MIGRATING', 'migrating'
        self.next_id += 1
        rec = fakes.migration(
            mid=self.next_id,
            uuid='m%d' % self.next_id,
            server_id=sid,
            status='running',
        )
        self.compute.records.append(rec)
        self.running[sid] = [rec, self.duration]
        self.peak = max(self.peak, len(self.running))

    def step(self, seconds=None):
        for sid, entry in list(self.running.items()):
            entry[1] -= 1
            if entry[1] > 0:
                continue
            rec = entry[0]
            statuses = self.outcomes.get(sid) or ['completed']
            rec.status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            srv = self.compute.servers_by_id[sid]
            srv.status, srv.task_state = 'ACTIVE', None
            if rec.status == 'completed':
                srv.compute_host = 'compute2'
            del self.running[sid]


class _Base(unittest.TestCase):
    VERSION = '2.95'

    def setUp(self):
        self.compute = fakes.FakeCompute(self.VERSION)
        self.compute.services_list = [
            fakes.Obj(
                id='svc',
                host='compute1',
                binary='nova-compute',
                status='enabled',
                disabled_reason=None,
            )
        ]
        for i in range(10):
            self.compute.add_server(fakes.server('s-%02d' % i, 'vm-%02d' % i))
        self.app = fakes.FakeApp(self.compute)
        self.cmd = drain.DrainHost(self.app, None)
        self.clock = fakes.FakeClock()
        self.nova = FakeNova(self.compute)
        self.cmd._clock = self.clock

        def sleep(seconds):
            self.clock.sleep(seconds)
            self.nova.step()

        self.cmd._sleep = sleep

    def run_cmd(self, *argv):
        args = self.cmd.get_parser(PROG).parse_args(list(argv))
        self.cmd._failed = False
        headers, rows = self.cmd.take_action(args)
        return headers, [dict(zip(headers, r)) for r in rows]


class TestDrainHost(_Base):
    def test_all_migrate_within_concurrency(self):
        headers, rows = self.run_cmd('compute1', '--concurrency', '4')
        self.assertEqual(list(dp.RESULT_HEADERS), list(headers))
        self.assertEqual({'migrated'}, {r['Result'] for r in rows})
        self.assertEqual({'compute2'}, {r['Destination'] for r in rows})
        self.assertEqual(4, self.nova.peak)
        self.assertFalse(self.cmd._failed)

    def test_rerun_changes_nothing(self):
        self.run_cmd('compute1', '--policy', 'adaptive', '--disable')
        calls = len(self.compute.calls)
        _, rows = self.run_cmd('compute1', '--policy', 'adaptive', '--disable')
        self.assertEqual([], rows)
        new = [c[0] for c in self.compute.calls[calls:]]
        self.assertEqual(['services', 'servers'], new)
        self.assertIn('already disabled', self.app.stderr.getvalue())

    def test_disable_with_reason_first(self):
        self.run_cmd('compute1', '--disable-reason', 'maintenance')
        names = [c[0] for c in self.compute.calls]
        self.assertLess(
            names.index('disable_service'), names.index('live_migrate_server')
        )
        self.assertIn(
            ('disable_service', 'compute1', 'nova-compute', 'maintenance'),
            self.compute.calls,
        )

    def test_per_server_policy(self):
        self.run_cmd(
            'compute1', '--policy', 'nova', '--server-policy', 'vm-03=adaptive'
        )
        sets = {
            c[1]: c[2]['livemigrate:policy']
            for c in self.compute.calls
            if c[0] == 'set_server_metadata'
        }
        self.assertEqual('adaptive', sets['s-03'])
        self.assertEqual('nova', sets['s-00'])

    def test_retryable_outcome_retried_then_migrated(self):
        self.nova.outcomes = {'s-01': ['error', 'completed']}
        _, rows = self.run_cmd('compute1', '--retry-delay', '1')
        self.assertEqual('migrated', rows[1]['Result'])
        self.assertIn('retrying', self.app.stderr.getvalue())

    def test_retryable_start_error_retried(self):
        self.compute.errors['live_migrate_server'] = fakes.http_error(
            409, 'busy'
        )
        _, rows = self.run_cmd('compute1', '--retry-delay', '1')
        self.assertEqual({'migrated'}, {r['Result'] for r in rows})

    def test_cancelled_not_retried_and_fails(self):
        self.nova.outcomes = {'s-02': ['cancelled']}
        _, rows = self.run_cmd('compute1')
        self.assertEqual('failed', rows[2]['Result'])
        self.assertIn(
            'migration cancelled; server still on compute1', rows[2]['Reason']
        )
        self.assertTrue(self.cmd._failed)

    def test_retries_exhausted(self):
        self.nova.outcomes = {'s-00': ['error']}
        _, rows = self.run_cmd(
            'compute1', '--retries', '1', '--retry-delay', '0'
        )
        self.assertEqual('failed', rows[0]['Result'])
        starts = [
            c
            for c in self.compute.calls
            if c[0] == 'live_migrate_server' and c[1] == 's-00'
        ]
        self.assertEqual(2, len(starts))

    def test_skipped_server_fails_the_drain(self):
        self.compute.servers_by_id['s-05'].status = 'SHUTOFF'
        _, rows = self.run_cmd('compute1')
        self.assertEqual('skipped', rows[5]['Result'])
        self.assertTrue(self.cmd._failed)

    def test_timeout(self):
        self.nova.duration = 100
        _, rows = self.run_cmd(
            'compute1', '--wait-timeout', '5', '--concurrency', '10'
        )
        self.assertEqual({'timed-out'}, {r['Result'] for r in rows})

    def test_follows_running_migration_from_earlier_run(self):
        srv = self.compute.servers_by_id['s-00']
        srv.status, srv.task_state = 'MIGRATING', 'migrating'
        self.compute.records.append(fakes.migration(mid=50, server_id='s-00'))
        self.nova.running['s-00'] = [self.compute.records[-1], 1]
        _, rows = self.run_cmd('compute1')
        self.assertEqual('migrated', rows[0]['Result'])
        starts = [
            c
            for c in self.compute.calls
            if c[0] == 'live_migrate_server' and c[1] == 's-00'
        ]
        self.assertEqual([], starts)

    def test_dry_run_changes_nothing(self):
        _, rows = self.run_cmd(
            'compute1', '--dry-run', '--policy', 'p', '--disable'
        )
        self.assertEqual({'planned'}, {r['Result'] for r in rows})
        self.assertEqual(
            ['services', 'servers'], [c[0] for c in self.compute.calls]
        )

    def test_unknown_host(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            'Host nowhere runs no nova-compute service',
        ):
            self.run_cmd('nowhere')

    def test_bad_options(self):
        for argv, msg in (
            (['--concurrency', '0'], '--concurrency 0 must be at least 1'),
            (['--server-policy', 'x'], 'SERVER=POLICY'),
        ):
            with (
                self.subTest(argv=argv),
                self.assertRaisesRegex(exceptions.CommandError, msg),
            ):
                self.run_cmd('compute1', *argv)

    def test_run_exit_code(self):
        self.nova.outcomes = {'s-02': ['cancelled']}
        self.cmd.formatter = None
        args = self.cmd.get_parser(PROG).parse_args(
            ['compute1', '-f', 'value']
        )
        self.assertEqual(1, self.cmd.run(args))
        self.assertIn('vm-02 failed compute1', self.app.stdout.getvalue())


class TestDrainHostV229(_Base):
    VERSION = '2.29'

    def test_target_host_needs_230(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.30 or greater is required for --host c2',
        ):
            self.run_cmd('compute1', '--target-host', 'c2')


class TestDrainHostRecordLags(_Base):
    """Nova frees the server a moment before it marks the record completed."""

    def test_waits_for_the_record(self):
        self.nova.duration = 1
        real_step = self.nova.step

        def step(seconds=None):
            lagging = [e[0] for e in self.nova.running.values() if e[1] <= 1]
            real_step()
            for rec in lagging:
                if not getattr(rec, 'lagged', False):
                    rec.lagged, rec.status = True, 'running'
                    srv = self.compute.servers_by_id[rec.server_id]
                    srv.compute_host = 'compute2'
                    self.nova.running[rec.server_id] = [rec, 1]
                    self.nova.outcomes[rec.server_id] = ['completed']

        self.nova.step = step
        _, rows = self.run_cmd('compute1')
        self.assertEqual({'migrated'}, {r['Result'] for r in rows})
