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
"""``compute host drain``: several hosts, limits, capacity, report, resume,
and the old command lines.
"""

import os
import tempfile
import types
import unittest

from osc_lib import exceptions

from osc_livemigrate.plan import report as rp
from osc_livemigrate.v1 import drain
from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate.plan import sim

PROG = 'openstack compute host drain'
HOSTS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']


class _Base(unittest.TestCase):
    def setUp(self):
        self.nova = sim.SimNova(HOSTS, {h: 4 for h in HOSTS}, duration=3)
        self.compute = self.nova.compute
        self.app = fakes.FakeApp(self.compute)
        self.app.client_manager.sdk_connection = types.SimpleNamespace(
            placement=self.nova.placement
        )
        self.cmd = drain.DrainHost(self.app, None)
        self.cmd._clock = self.nova.clock
        self.cmd._sleep = self.nova.sleep
        self.waited = []

        def run(argv, check=False):
            self.waited.append(argv)
            return types.SimpleNamespace(returncode=0)

        self.cmd._run = run

    def run_cmd(self, *argv):
        args = self.cmd.get_parser(PROG).parse_args(list(argv))
        headers, rows = self.cmd.take_action(args)
        return headers, [dict(zip(headers, r)) for r in rows]

    def starts(self):
        return [c for c in self.compute.calls if c[0] == 'live_migrate_server']

    def stderr(self):
        return self.app.stderr.getvalue()


class TestSeveralHosts(_Base):
    def test_waves_limits_enable_after_wait_for(self):
        _, rows = self.run_cmd(
            'c1',
            'c2',
            'c3',
            '--hosts-at-once',
            '2',
            '--max-parallel',
            '3',
            '--max-per-host',
            '2',
            '--enable-after',
            '--wait-for',
            'check -q',
        )
        self.assertEqual(12, len(rows))
        self.assertEqual({'migrated'}, {r['Result'] for r in rows})
        for h in ('c1', 'c2', 'c3'):
            self.assertEqual([], [s for s in self.nova.on(h) if s[:2] == h])
        self.assertLessEqual(self.nova.observer.max_total, 3)
        self.assertLessEqual(self.nova.observer.max_per_host, 2)
        # destinations chosen by the command; a drained host only once it
        # was enabled again
        enabled = set()
        for c in self.compute.calls:
            if c[0] == 'enable_service':
                enabled.add(c[1])
            elif c[0] == 'live_migrate_server' and c[2]['host'] in HOSTS[:3]:
                self.assertIn(c[2]['host'], enabled)
        self.assertEqual(
            [['check', '-q', h] for h in ('c1', 'c2', 'c3')], self.waited
        )
        self.assertEqual(
            3, sum(1 for c in self.compute.calls if c[0] == 'enable_service')
        )
        self.assertIn('| c3   | enabled', self.stderr())
        self.assertFalse(self.cmd._failed)

    def test_aggregate_and_zone(self):
        self.compute.aggregates['rack1'] = ['c2', 'c1']
        self.compute.services_list[2].availability_zone = 'az2'
        _, rows = self.run_cmd(
            '--aggregate', 'rack1', '--availability-zone', 'az2', '--dry-run'
        )
        self.assertEqual(['c1', 'c2', 'c3'], sorted({r['Host'] for r in rows}))
        self.assertEqual([], self.starts())

    def test_unknown_aggregate_and_host(self):
        for argv, msg in (
            (['--aggregate', 'nope'], "No aggregate named 'nope'"),
            (['c9'], 'Host c9 runs no nova-compute service'),
            (['--availability-zone', 'z'], "availability zone 'z'"),
            ([], 'Name the hosts to drain'),
        ):
            with self.subTest(argv=argv):
                with self.assertRaisesRegex(exceptions.CommandError, msg):
                    self.run_cmd(*argv)


class TestDryRun(_Base):
    def test_plan_of_three_hosts(self):
        self.compute.servers_by_id['c2-s01'].status = 'SHUTOFF'
        headers, rows = self.run_cmd(
            'c1',
            'c2',
            'c3',
            '--hosts-at-once',
            '2',
            '--max-per-host',
            '2',
            '--policy',
            'adaptive',
            '--dry-run',
        )
        self.assertEqual(
            ['Wave', 'Host', 'Server', 'Action', 'Policy', 'Detail'],
            list(headers),
        )
        self.assertEqual([1] * 8 + [2] * 4, [r['Wave'] for r in rows])
        skipped = [r for r in rows if r['Action'] == 'skip']
        self.assertEqual(['vm-c2-s01'], [r['Server'] for r in skipped])
        self.assertTrue(
            all(
                r['Detail'].startswith('fits on c')
                for r in rows
                if r['Action'] == 'migrate'
            )
        )
        self.assertIn(
            'Plan: 3 host(s) in 2 wave(s); 11 server(s) to move, 1 skipped',
            self.stderr(),
        )
        self.assertIn('max_concurrent_live_migrations', self.stderr())
        writes = {
            'live_migrate_server',
            'disable_service',
            'set_server_metadata',
            'enable_service',
        }
        self.assertFalse(writes & {c[0] for c in self.compute.calls})

    def test_capacity_stop_shown(self):
        self.nova.placement.vcpu = 5  # c3..c6 keep 1 free each
        _, rows = self.run_cmd('c1', 'c2', '--dry-run')
        stops = [r for r in rows if r['Action'] == 'stop']
        self.assertEqual(['c2'], [r['Host'] for r in stops])
        self.assertIn(
            'capacity short for host c2: its 4 servers need 4 VCPU, the 4 '
            'hosts left have 0 VCPU free',
            stops[0]['Detail'],
        )
        self.assertTrue(self.cmd._failed)


class TestCapacityStop(_Base):
    def test_stops_before_host_and_fails(self):
        self.nova.placement.vcpu = 5
        _, rows = self.run_cmd('c1', 'c2', '--max-per-host', '2')
        self.assertEqual({'c1'}, {r['Host'] for r in rows})
        self.assertEqual(4, len(self.nova.on('c2')))
        self.assertIn(
            'Stopping before host c2: capacity short for host c2',
            self.stderr(),
        )
        self.assertTrue(self.cmd._failed)
        disabled = [
            c[1] for c in self.compute.calls if c[0] == 'disable_service'
        ]
        self.assertEqual(['c1'], disabled)


class TestReportResume(_Base):
    def test_report_then_resume_starts_nothing_twice(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'drain.json')
            # the CLI dies after the third start
            real = self.compute.live_migrate_server
            count = {'n': 0}

            def dying(server, **kw):
                real(server, **kw)
                count['n'] += 1
                if count['n'] == 3:
                    raise KeyboardInterrupt

            self.compute.live_migrate_server = dying
            with self.assertRaisesRegex(
                exceptions.CommandError,
                r'^Interrupted: the live migrations already started go on; '
                r'continue with --resume .*drain.json$',
            ):
                self.run_cmd(
                    'c1', 'c2', '--report', path, '--max-per-host', '2'
                )
            rec = rp.read(path)
            states = [s['state'] for s in rec['hosts'][0]['servers'].values()]
            self.assertIn('starting', states)
            self.compute.live_migrate_server = real
            self.nova.sleep(1)  # one of the moves ends while no CLI runs
            self.cmd = drain.DrainHost(self.app, None)
            self.cmd._clock, self.cmd._sleep = self.nova.clock, self.nova.sleep
            _, rows = self.run_cmd('--resume', path)
            self.assertEqual([], self.nova.on('c1') + self.nova.on('c2'))
            self.assertEqual(1, max(self.nova.starts.values()))
            self.assertEqual(8, len(self.nova.starts))
            rec = rp.read(path)
            self.assertEqual(
                ['drained', 'drained'], [h['state'] for h in rec['hosts']]
            )
            self.assertFalse(self.cmd._failed)

    def test_resume_rejects_hosts_and_bad_files(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'r.json')
            rp.write(path, rp.new([('c1', [])], 't0'))
            with self.assertRaisesRegex(
                exceptions.CommandError, 'drop the hosts'
            ):
                self.run_cmd('c1', '--resume', path)
        with self.assertRaisesRegex(
            exceptions.CommandError, '--resume /nonexistent'
        ):
            self.run_cmd('--resume', '/nonexistent/x.json')


class TestOldCommandLines(_Base):
    def test_concurrency_and_disable_still_work_with_warnings(self):
        _, rows = self.run_cmd('c1', '--concurrency', '3', '--disable')
        self.assertEqual({'migrated'}, {r['Result'] for r in rows})
        self.assertIn('--concurrency is deprecated', self.stderr())
        self.assertIn('--disable is deprecated', self.stderr())
        # outbound only: the scheduler chooses, as before
        self.assertEqual({None}, {c[2]['host'] for c in self.starts()})
        self.assertEqual(3, self.nova.observer.max_total)

    def test_plain_host_disables_with_reason_first(self):
        self.run_cmd('c1', '--disable-reason', 'patching')
        names = [c[0] for c in self.compute.calls]
        self.assertLess(
            names.index('disable_service'), names.index('live_migrate_server')
        )
        self.assertIn(
            ('disable_service', 'c1', 'nova-compute', 'patching'),
            self.compute.calls,
        )

    def test_rerun_changes_nothing(self):
        self.run_cmd('c1', '--policy', 'adaptive')
        before = len(self.starts())
        _, rows = self.run_cmd('c1', '--policy', 'adaptive')
        self.assertEqual([], rows)
        self.assertEqual(before, len(self.starts()))
        self.assertIn('already disabled', self.stderr())

    def test_failure_exits_non_zero(self):
        self.nova.outcomes = {'c1-s02': ['cancelled']}
        self.cmd.formatter = None
        args = self.cmd.get_parser(PROG).parse_args(['c1', '-f', 'value'])
        self.assertEqual(1, self.cmd.run(args))
        self.assertIn('vm-c1-s02 failed c1', self.app.stdout.getvalue())

    def test_bad_options(self):
        for argv, msg in (
            (['--concurrency', '0'], '--concurrency 0 must be at least 1'),
            (['--server-policy', 'x'], 'SERVER=POLICY'),
            (['--concurrency', '2', '--max-per-host', '2'], 'give only'),
            (['--wait-for', 'x'], 'only applies with --enable-after'),
            (['--hosts-at-once', '0'], '--hosts-at-once 0 must be at least'),
            (['--target-host', 'c1'], 'is the host being drained'),
            (['--target-host', 'c4', '--max-per-host', '1'], 'drop one'),
        ):
            with self.subTest(argv=argv):
                with self.assertRaisesRegex(exceptions.CommandError, msg):
                    self.run_cmd('c1', *argv)


class TestOldMicroversion(_Base):
    def test_max_per_host_needs_230(self):
        self.compute.default_microversion = '2.29'
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '2.30 or greater is required for --max-per-host 2',
        ):
            self.run_cmd('c1', '--max-per-host', '2')
