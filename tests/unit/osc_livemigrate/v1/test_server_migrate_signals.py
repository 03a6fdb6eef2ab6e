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
"""``server migrate --wait --on-interrupt``: real SIGINT and SIGTERM.

The process raises the signal at itself in the middle of the wait, with
both signals ignored beforehand, as a background job of a script inherits
them; so a wait that did not install its own handling would see nothing
(and the test fails instead of the test runner being killed).
"""

import json
import signal
import threading
import unittest

from osc_lib import exceptions

from osc_livemigrate.follow import interrupts
from osc_livemigrate.v1 import server_migrate
from tests.unit.osc_livemigrate import fakes

PROG = 'openstack server migrate'
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Base(unittest.TestCase):
    TTY = False

    def setUp(self):
        for signum in SIGNALS:
            self.addCleanup(signal.signal, signum, signal.getsignal(signum))
            signal.signal(signum, signal.SIG_IGN)
        self.compute = fakes.FakeCompute()
        self.server = self.compute.add_server(fakes.server())
        self.app = fakes.FakeApp(self.compute, tty=self.TTY)
        self.cmd = server_migrate.MigrateServer(self.app, None)
        self.cmd._clock = fakes.FakeClock()
        self.record = fakes.migration(status='running')

        def start(server_id):
            self.compute.records.append(self.record)
            self.compute.live[('s-1', 1)] = fakes.migration(status='running')
            self.server.status = 'MIGRATING'
            self.server.task_state = 'migrating'

        self.compute.on_live_migrate = start

    def signal_on_second_sleep(self, signum):
        """The wait's second sleep raises ``signum`` at this process; once
        nova was asked to abort, the migration rolls back.
        """
        sleeps = []

        def sleep(seconds):
            sleeps.append(seconds)
            if len(sleeps) == 2:
                signal.raise_signal(signum)
            if self.aborted():
                self.record.status = 'cancelled'
                self.compute.live.clear()
                self.server.status, self.server.task_state = 'ACTIVE', None
            if len(sleeps) > 50:
                raise AssertionError('the signal never reached the wait')

        self.cmd._sleep = sleep

    def aborted(self):
        return ('abort_server_migration', 1, 's-1') in self.compute.calls

    def run_cmd(self, *argv):
        args = self.cmd.get_parser(PROG).parse_args(
            ['vm1', '--live-migration', '--wait'] + list(argv)
        )
        return self.cmd.take_action(args)

    def last_line(self):
        return json.loads(self.app.stdout.getvalue().splitlines()[-1])

    def assert_ignored_again(self):
        for signum in SIGNALS:
            self.assertIs(signal.SIG_IGN, signal.getsignal(signum), signum)


class TestSignalsDuringWait(_Base):
    def test_ignored_sigint_still_aborts(self):
        self.signal_on_second_sleep(signal.SIGINT)
        with self.assertRaisesRegex(
            exceptions.CommandError, 'migration cancelled'
        ):
            self.run_cmd('--on-interrupt', 'abort')
        self.assertTrue(self.aborted())
        self.assert_ignored_again()

    def test_sigterm_aborts(self):
        self.signal_on_second_sleep(signal.SIGTERM)
        with self.assertRaisesRegex(
            exceptions.CommandError, 'migration cancelled'
        ):
            self.run_cmd('--on-interrupt', 'abort')
        self.assertTrue(self.aborted())
        self.assert_ignored_again()

    def test_sigterm_detaches_with_143(self):
        self.signal_on_second_sleep(signal.SIGTERM)
        self.assertEqual(143, self.run_cmd('--on-interrupt', 'detach'))
        line = self.last_line()
        self.assertEqual('detached', line['type'])
        self.assertTrue(line['message'].startswith('SIGTERM: Detached'))
        self.assertFalse(self.aborted())
        self.assert_ignored_again()

    def test_ignored_sigint_detaches_with_130(self):
        self.signal_on_second_sleep(signal.SIGINT)
        self.assertEqual(130, self.run_cmd('--on-interrupt', 'detach'))
        self.assertTrue(self.last_line()['message'].startswith('Detached'))

    def test_sigterm_with_ask_and_no_tty_detaches(self):
        self.signal_on_second_sleep(signal.SIGTERM)
        self.assertEqual(143, self.run_cmd())
        self.assertFalse(self.aborted())

    def test_signals_after_the_wait_are_ignored_again(self):
        def sleep(seconds):
            self.record.status = 'completed'
            self.compute.live.clear()
            self.server.status, self.server.task_state = 'ACTIVE', None
            self.server.compute_host = 'compute2'

        self.cmd._sleep = sleep
        self.assertEqual(0, self.run_cmd('--on-interrupt', 'abort'))
        self.assert_ignored_again()
        signal.raise_signal(signal.SIGTERM)  # would end the test run if not


class TestSignalsOnTTY(_Base):
    TTY = True

    def test_sigterm_never_asks(self):
        self.cmd._stdin = fakes.TTYStringIO('a\n')
        self.signal_on_second_sleep(signal.SIGTERM)
        self.assertEqual(143, self.run_cmd())
        self.assertNotIn('[a]bort', self.app.stdout.getvalue())
        self.assertFalse(self.aborted())
        self.assertIn('SIGTERM: Detached', self.app.stdout.getvalue())

    def test_ignored_sigint_still_asks(self):
        self.cmd._stdin = fakes.TTYStringIO('a\n')
        self.signal_on_second_sleep(signal.SIGINT)
        with self.assertRaises(exceptions.CommandError):
            self.run_cmd()
        self.assertIn('[a]bort', self.app.stdout.getvalue())
        self.assertTrue(self.aborted())


class TestCaught(unittest.TestCase):
    """Every signal raised here is ignored outside :func:`caught`, so that
    a broken ``caught`` fails the test instead of ending the test run.
    """

    def setUp(self):
        for signum in SIGNALS:
            self.addCleanup(signal.signal, signum, signal.getsignal(signum))

    def test_a_handler_the_program_installed_stays(self):
        def mine(signum, frame):
            pass

        signal.signal(signal.SIGTERM, mine)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with interrupts.caught():
            self.assertIs(mine, signal.getsignal(signal.SIGTERM))
            with self.assertRaises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        self.assertIs(mine, signal.getsignal(signal.SIGTERM))
        self.assertIs(signal.SIG_IGN, signal.getsignal(signal.SIGINT))

    def test_sigterm_raises_terminated_a_keyboard_interrupt(self):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with self.assertRaises(interrupts.Terminated) as ctx:
            with interrupts.caught():
                signal.raise_signal(signal.SIGTERM)
        self.assertIsInstance(ctx.exception, KeyboardInterrupt)
        self.assertIs(signal.SIG_IGN, signal.getsignal(signal.SIGTERM))

    def test_the_default_action_is_replaced_then_put_back(self):
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        with interrupts.caught():
            self.assertEqual(
                [
                    signal.default_int_handler,
                    interrupts.HANDLERS[signal.SIGTERM],
                ],
                [signal.getsignal(s) for s in SIGNALS],
            )
        for signum in SIGNALS:
            self.assertIs(signal.SIG_DFL, signal.getsignal(signum))

    def test_outside_the_main_thread_nothing_changes(self):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        seen = []

        def wait():
            with interrupts.caught():
                seen.append(signal.getsignal(signal.SIGTERM))

        t = threading.Thread(target=wait)
        t.start()
        t.join()
        self.assertEqual([signal.SIG_IGN], seen)
