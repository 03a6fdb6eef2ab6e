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
"""``server migrate``: core's parser and more; --policy; --wait verdicts."""

import io
import json
import unittest

from openstackclient.compute.v2 import server as core_server
from osc_lib import exceptions

from osc_livemigrate.sdk import errors
from osc_livemigrate.v1 import server_migrate
from tests.unit.osc_livemigrate import fakes

UUID = '11111111-1111-1111-1111-111111111111'
PROG = 'openstack server migrate'


def _actions(parser):
    return {
        (a.option_strings[0] if a.option_strings else a.dest): a
        for a in parser._actions
        if a.dest != 'help'
    }


def _groups(parser):
    return sorted(
        sorted(
            a.dest + ':' + ','.join(a.option_strings) for a in g._group_actions
        )
        for g in parser._mutually_exclusive_groups
    )


class TestMigrateServerParser(unittest.TestCase):
    """Every core option: same dest, default, kind, exclusivity and parse."""

    def setUp(self):
        app = fakes.FakeApp(fakes.FakeCompute())
        self.core = core_server.MigrateServer(app, None).get_parser(PROG)
        self.ours = server_migrate.MigrateServer(app, None).get_parser(PROG)

    def test_every_core_option_with_same_defaults(self):
        ours = _actions(self.ours)
        for name, core in _actions(self.core).items():
            with self.subTest(option=name):
                self.assertIn(name, ours)
                mine = ours[name]
                self.assertEqual(core.option_strings, mine.option_strings)
                for attr in (
                    'dest',
                    'default',
                    'const',
                    'nargs',
                    'choices',
                    'type',
                    'required',
                    'metavar',
                ):
                    self.assertEqual(
                        getattr(core, attr), getattr(mine, attr), attr
                    )
                self.assertIs(type(core), type(mine))

    def test_same_mutually_exclusive_groups(self):
        core = _groups(self.core)
        ours = _groups(self.ours)
        for group in core:
            self.assertIn(group, ours)

    def test_same_namespace_for_core_command_lines(self):
        for argv in (
            ['vm1'],
            ['vm1', '--live-migration'],
            ['vm1', '--live-migration', '--host', 'c2', '--block-migration'],
            [
                'vm1',
                '--live-migration',
                '--shared-migration',
                '--disk-overcommit',
            ],
            ['vm1', '--no-disk-overcommit', '--wait'],
            ['vm1', '--host', 'c2'],
        ):
            with self.subTest(argv=argv):
                core = vars(self.core.parse_args(argv))
                ours = vars(self.ours.parse_args(argv))
                self.assertEqual(core, {k: ours[k] for k in core})

    def test_added_options_defaults(self):
        """Unset until options.check_migrate fills them in (it must tell
        a wait-only option given without --wait from its default).
        """
        args = self.ours.parse_args(['vm1'])
        self.assertEqual(
            (None, None, None, None, None),
            (
                args.policy,
                args.wait_timeout,
                args.poll_interval,
                args.on_interrupt,
                args.progress_format,
            ),
        )


class _Base(unittest.TestCase):
    VERSION = '2.95'
    TTY = False

    def setUp(self):
        self.compute = fakes.FakeCompute(self.VERSION)
        self.server = self.compute.add_server(fakes.server())
        self.app = fakes.FakeApp(self.compute, tty=self.TTY)
        self.cmd = server_migrate.MigrateServer(self.app, None)
        self.clock = fakes.FakeClock()
        self.cmd._clock = self.clock
        self.cmd._sleep = self.clock.sleep

    def run_cmd(self, *argv):
        args = self.cmd.get_parser(PROG).parse_args(list(argv))
        return self.cmd.take_action(args)

    def script(
        self,
        final_status='completed',
        final_host='compute2',
        steps=3,
        metadata=None,
    ):
        """The migration appears, runs ``steps`` refreshes, then ends."""
        record = fakes.migration(status='running')
        live = fakes.migration(
            status='running',
            memory_total_bytes=1000,
            memory_processed_bytes=0,
            memory_remaining_bytes=1000,
            disk_total_bytes=0,
            disk_processed_bytes=0,
            disk_remaining_bytes=0,
        )
        state = {'n': 0}

        def start(server_id):
            self.compute.records.append(record)
            self.compute.live[('s-1', 1)] = live
            self.server.status, self.server.task_state = (
                'MIGRATING',
                'migrating',
            )
            self.server.metadata.update(metadata or {})

        self.compute.on_live_migrate = start

        def tick(compute):
            state['n'] += 1
            live.memory_processed_bytes = min(1000, 250 * state['n'])
            live.memory_remaining_bytes = 1000 - live.memory_processed_bytes
            if state['n'] > steps:
                record.status = final_status
                compute.live.clear()
                self.server.status, self.server.task_state = 'ACTIVE', None
                self.server.compute_host = final_host

        self.compute.tick = tick
        return record

    def json_lines(self):
        return [
            json.loads(line)
            for line in self.app.stdout.getvalue().splitlines()
        ]


class TestMigrateServer(_Base):
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

    def test_wait_success_json_lines(self):
        self.script()
        self.assertEqual(0, self.run_cmd('vm1', '--live-migration', '--wait'))
        lines = self.json_lines()
        self.assertEqual('progress', lines[0]['type'])
        self.assertEqual(
            [25.0, 50.0, 75.0], [ln['percent'] for ln in lines[:3]]
        )
        self.assertEqual(
            {'type': 'result', 'ok': True, 'host': 'compute2'},
            {k: lines[-1][k] for k in ('type', 'ok', 'host')},
        )

    def test_wait_rollback_fails_with_reason(self):
        self.script(final_status='cancelled', final_host='compute1')
        with self.assertRaisesRegex(
            exceptions.CommandError,
            'did not complete: migration cancelled; server still on compute1',
        ):
            self.run_cmd('vm1', '--live-migration', '--wait')
        self.assertFalse(self.json_lines()[-1]['ok'])

    def test_wait_error_reports_driver_keys_and_events(self):
        md = {
            'livemigrate:migration': UUID,
            'livemigrate:phase': 'aborted',
            'livemigrate:action': 'abort',
            'livemigrate:reason': 'stalled 3 rounds',
        }
        self.script(final_status='error', final_host='compute1', metadata=md)
        self.compute.actions['s-1'] = [
            fakes.Obj(
                action='live-migration',
                request_id='r',
                start_time='1',
                events=[
                    {
                        'event': 'compute_live_migration',
                        'result': 'Error',
                        'details': 'Migration aborted by policy',
                    }
                ],
            )
        ]
        with self.assertRaises(exceptions.CommandError) as ctx:
            self.run_cmd('vm1', '--live-migration', '--wait')
        text = str(ctx.exception)
        self.assertIn('migration error', text)
        self.assertIn('reason=stalled 3 rounds', text)
        self.assertIn(
            'event compute_live_migration: Migration aborted by policy', text
        )

    def test_wait_refused_policy_fails_although_completed(self):
        md = {
            'livemigrate:migration': UUID,
            'livemigrate:action': 'policy-refused',
            'livemigrate:reason': 'adaptive is not allowed here',
        }
        self.script(metadata=md)
        with self.assertRaisesRegex(
            exceptions.CommandError,
            'policy refused by the driver: adaptive is not allowed',
        ):
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'adaptive'
            )

    def test_wait_refusal_is_a_json_object_of_its_own(self):
        _refused_at_tick(self, 3)
        with self.assertRaises(exceptions.CommandError) as ctx:
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            )
        lines = self.json_lines()
        kinds = [line['type'] for line in lines]
        self.assertEqual(1, kinds.count('policy_refused'), kinds)
        at = kinds.index('policy_refused')
        self.assertIn('progress', kinds[:at])
        self.assertIn('progress', kinds[at + 1 :])
        refusal = lines[at]
        self.assertEqual(
            ('turbo', 'nova', 'vm1', UUID),
            (
                refusal['asked'],
                refusal['used'],
                refusal['server'],
                refusal['migration'],
            ),
        )
        self.assertIn("'turbo', which is not installed", refusal['reason'])
        self.assertIn('policy turbo refused', str(ctx.exception))

    def test_refusal_of_an_earlier_migration_is_not_told(self):
        md = dict(REFUSAL, **{'livemigrate:migration': 'older'})
        self.script(metadata=md)
        self.assertEqual(
            0,
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            ),
        )
        kinds = [line['type'] for line in self.json_lines()]
        self.assertNotIn('policy_refused', kinds)

    def test_wait_refusal_seen_only_in_policy_used_still_fails(self):
        """The refusal key is soon overwritten; policy_used is not."""
        md = {
            'livemigrate:migration': UUID,
            'livemigrate:policy_used': 'nova',
            'livemigrate:action': 'set-downtime',
        }
        self.script(metadata=md)
        self.compute.actions['s-1'] = [
            fakes.Obj(
                action='live-migration',
                request_id='r',
                start_time='1',
                events=[
                    {
                        'event': 'livemigrate_policy-refused',
                        'result': 'Error',
                        'details': "policy 'turbo', which is not installed",
                    }
                ],
            )
        ]
        with self.assertRaises(exceptions.CommandError) as ctx:
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            )
        text = str(ctx.exception)
        self.assertIn('the driver ran policy nova instead of turbo', text)
        self.assertIn(
            "event livemigrate_policy-refused: policy 'turbo', which is not "
            'installed',
            text,
        )

    def _unreachable_for(self, n):
        """get_server fails to connect on refreshes 2..n+1."""
        from keystoneauth1 import exceptions as ksa_exc

        real, calls = self.compute.get_server, {'n': 0}

        def get_server(*a, **kw):
            calls['n'] += 1
            if 2 <= calls['n'] <= n + 1:
                raise ksa_exc.ConnectFailure('Connection reset by peer')
            return real(*a, **kw)

        self.compute.get_server = get_server

    def test_wait_rides_out_a_few_unreachable_refreshes(self):
        self.script()
        self._unreachable_for(errors.UNREACHABLE_RETRIES)
        self.assertEqual(0, self.run_cmd('vm1', '--live-migration', '--wait'))
        retries = [ln for ln in self.json_lines() if ln['type'] == 'retry']
        self.assertEqual(errors.UNREACHABLE_RETRIES, len(retries))
        self.assertIn(
            'cannot reach the cloud (Connection reset by peer)',
            retries[0]['message'],
        )
        self.assertTrue(retries[-1]['message'].endswith('retrying (5/5)'))
        self.assertEqual('result', self.json_lines()[-1]['type'])

    def test_wait_gives_up_when_the_cloud_stays_unreachable(self):
        self.script()
        self._unreachable_for(errors.UNREACHABLE_RETRIES + 1)
        with self.assertRaisesRegex(
            exceptions.CommandError,
            r'^follow the migration of server vm1 failed: cannot '
            r'reach the cloud .*migration watch --server vm1`$',
        ):
            self.run_cmd('vm1', '--live-migration', '--wait')

    def test_wait_does_not_retry_refused_credentials(self):
        from keystoneauth1 import exceptions as ksa_exc

        self.script()

        def refused(*a, **kw):
            raise ksa_exc.NotFound('Failed to validate token')

        self.compute.get_server = refused
        with self.assertRaisesRegex(
            exceptions.CommandError, 'authentication was refused'
        ):
            self.run_cmd('vm1', '--live-migration', '--wait')
        self.assertEqual(
            [], [ln for ln in self.json_lines() if ln['type'] == 'retry']
        )

    def test_wait_timeout(self):
        self.script(steps=100)
        with self.assertRaisesRegex(
            exceptions.CommandError,
            r'--wait-timeout 5.0 s: migration %s of server vm1 is '
            r'still running.*migration abort vm1 %s' % (UUID, UUID),
        ):
            self.run_cmd(
                'vm1',
                '--live-migration',
                '--wait',
                '--wait-timeout',
                '5',
                '--poll-interval',
                '1',
            )

    def test_wait_ignores_older_migrations(self):
        self.compute.records.append(
            fakes.migration(mid=0, uuid='old', status='error')
        )
        self.script()
        self.assertEqual(0, self.run_cmd('vm1', '--live-migration', '--wait'))

    def test_refresh_costs_three_calls_at_most(self):
        self.script(steps=3)
        self.run_cmd('vm1', '--live-migration', '--wait')
        refreshes = (
            self.compute.count('get_server') - 1
        )  # last one is the verdict
        self.assertLessEqual(
            self.compute.count('migrations') - 1, refreshes + 1
        )
        self.assertLessEqual(
            self.compute.count('get_server_migration'), refreshes
        )

    def test_interrupt_abort_then_reports_cancelled(self):
        record = self.script(steps=100)
        sleeps = {'n': 0}

        def sleep(seconds):
            sleeps['n'] += 1
            if sleeps['n'] == 2:
                raise KeyboardInterrupt
            if any(
                c[0] == 'abort_server_migration' for c in self.compute.calls
            ):
                record.status = 'cancelled'
                self.compute.live.clear()
                self.server.status, self.server.task_state = 'ACTIVE', None

        self.cmd._sleep = sleep
        with self.assertRaisesRegex(
            exceptions.CommandError, 'migration cancelled'
        ):
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--on-interrupt', 'abort'
            )
        self.assertIn(('abort_server_migration', 1, 's-1'), self.compute.calls)

    def test_interrupt_detach_exits_130(self):
        self.script(steps=100)

        def sleep(seconds):
            raise KeyboardInterrupt

        self.cmd._sleep = sleep
        rc = self.run_cmd(
            'vm1', '--live-migration', '--wait', '--on-interrupt', 'detach'
        )
        self.assertEqual(130, rc)
        self.assertEqual('detached', self.json_lines()[-1]['type'])
        self.assertNotIn(
            'abort_server_migration', [c[0] for c in self.compute.calls]
        )

    def test_interrupt_ask_without_tty_detaches(self):
        self.script(steps=100)

        def sleep(seconds):
            raise KeyboardInterrupt

        self.cmd._sleep = sleep
        self.assertEqual(
            130, self.run_cmd('vm1', '--live-migration', '--wait')
        )


REFUSAL = {
    'livemigrate:migration': UUID,
    'livemigrate:policy_used': 'nova',
    'livemigrate:action': 'set-downtime',
    'livemigrate:reason': 'first step',
    'livemigrate:policy_refused': json.dumps(
        {
            'asked': 'turbo',
            'used': 'nova',
            'reason': "server metadata asks for policy 'turbo', which is "
            'not installed (installed: nova)',
        }
    ),
}


def _refused_at_tick(test, n, steps=6):
    """The driver publishes its refusal on the ``n``-th refresh only."""
    test.script(steps=steps)
    tick = test.compute.tick
    seen = {'n': 0}

    def later(compute):
        seen['n'] += 1
        if seen['n'] == n:
            test.server.metadata.update(REFUSAL)
        tick(compute)

    test.compute.tick = later


class TestMigrateServerTTY(_Base):
    TTY = True

    def test_bar_then_result_line(self):
        self.script()
        self.run_cmd('vm1', '--live-migration', '--wait')
        out = self.app.stdout.getvalue()
        self.assertIn('\r[#####...............]  25%', out)
        self.assertTrue(out.rstrip().endswith('s)'), out[-200:])
        self.assertIn('vm1: completed: server now on compute2', out)

    def test_json_format_on_tty(self):
        self.script()
        self.run_cmd('vm1', '--live-migration', '--wait', '-f', 'json')
        self.assertTrue(
            all(
                line.startswith('{')
                for line in self.app.stdout.getvalue().splitlines()
            )
        )

    def test_refusal_warned_once_as_it_appears_then_progress_goes_on(self):
        _refused_at_tick(self, 2)
        with self.assertRaises(exceptions.CommandError):
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            )
        out = self.app.stdout.getvalue()
        warning = (
            'Warning: the driver refused policy turbo for server vm1 and '
            "runs policy nova: server metadata asks for policy 'turbo', "
            'which is not installed (installed: nova)\n'
        )
        self.assertEqual(1, out.count(warning), out)
        before, after = out.split(warning)
        self.assertEqual(2, before.count('\r['), before)  # two bars first
        self.assertIn('\r[', after)  # then progress goes on
        self.assertIn(
            'requested policy refused by the driver: policy turbo refused, '
            'policy nova ran: server metadata asks',
            after,
        )

    def test_interrupt_ask_on_tty_reads_answer(self):
        record = self.script(steps=100)
        self.cmd._stdin = fakes.TTYStringIO('c\n')
        sleeps = {'n': 0}

        def sleep(seconds):
            sleeps['n'] += 1
            if sleeps['n'] == 1:
                raise KeyboardInterrupt
            record.status = 'completed'
            self.compute.live.clear()
            self.server.status, self.server.task_state = 'ACTIVE', None
            self.server.compute_host = 'compute2'

        self.cmd._sleep = sleep
        self.assertEqual(0, self.run_cmd('vm1', '--live-migration', '--wait'))
        self.assertIn(
            '[a]bort the migration, [d]etach, or [c]ontinue',
            self.app.stdout.getvalue(),
        )


class TestMigrateServerV222(_Base):
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


class TestMigrateServerCold(_Base):
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


del io
