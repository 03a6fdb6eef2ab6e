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
"""``server migrate --wait``: progress, verdicts, an unreachable cloud,
timeouts and Ctrl-C, as JSON lines and on a terminal.
"""

from osc_lib import exceptions

from osc_livemigrate.sdk import errors
from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate.v1 import migrate_base as base


class TestMigrateServerWait(base.Base):
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
            'livemigrate:migration': base.UUID,
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
            r'still running.*migration abort vm1 %s' % (base.UUID, base.UUID),
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


class TestMigrateServerTTY(base.Base):
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
