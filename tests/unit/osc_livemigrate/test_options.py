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
"""Option checks: what argparse cannot say, said before any API call."""

import unittest

from osc_lib import exceptions

from osc_livemigrate import options
from osc_livemigrate.v1 import drain
from osc_livemigrate.v1 import server_migrate
from osc_livemigrate.v1 import watch
from tests.unit.osc_livemigrate import fakes


def _parse(cls, *argv):
    cmd = cls(fakes.FakeApp(fakes.FakeCompute()), None)
    return cmd.get_parser('openstack x').parse_args(list(argv))


class TestCheckMigrate(unittest.TestCase):
    def check(self, *argv):
        return options.check_migrate(
            _parse(server_migrate.MigrateServer, 'vm1', *argv)
        )

    def test_wait_options_default_with_wait(self):
        args = self.check('--live-migration', '--wait')
        self.assertEqual(
            (None, 2.0, 'ask', 'auto'),
            (
                args.wait_timeout,
                args.poll_interval,
                args.on_interrupt,
                args.progress_format,
            ),
        )

    def test_wait_options_kept_with_wait(self):
        args = self.check(
            '--wait',
            '--wait-timeout',
            '30',
            '--poll-interval',
            '1',
            '--on-interrupt',
            'abort',
            '-f',
            'json',
        )
        self.assertEqual(
            (30.0, 1.0, 'abort', 'json'),
            (
                args.wait_timeout,
                args.poll_interval,
                args.on_interrupt,
                args.progress_format,
            ),
        )

    def test_wait_only_options_need_wait(self):
        for argv, message in (
            (['--wait-timeout', '30'], '--wait-timeout 30.0 only applies'),
            (['--poll-interval', '1'], '--poll-interval 1.0 only applies'),
            (['--on-interrupt', 'ask'], '--on-interrupt ask only applies'),
            (['-f', 'json'], '--format json only applies with --wait'),
            (['--format', 'auto'], '--format auto only applies with --wait'),
        ):
            with self.subTest(argv=argv):
                with self.assertRaisesRegex(exceptions.CommandError, message):
                    self.check('--live-migration', *argv)

    def test_no_wait_no_wait_options_passes(self):
        self.assertFalse(self.check('--live-migration').wait)

    def test_timeouts_must_be_positive(self):
        for value in ('0', '-5'):
            with self.subTest(value=value):
                with self.assertRaisesRegex(
                    exceptions.CommandError, 'must be a positive number'
                ):
                    self.check('--wait', '--wait-timeout', value)

    def test_policy_rules(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, 'applies to live migrations only'
        ):
            self.check('--policy', 'nova')
        with self.assertRaisesRegex(
            exceptions.CommandError, r"--policy '\.\./x y' is not a policy"
        ):
            self.check('--live-migration', '--policy', '../x y')
        self.check('--live-migration', '--policy', 'adaptive-2.v1_x')


class TestCheckDrain(unittest.TestCase):
    def check(self, *argv):
        return options.check_drain(_parse(drain.DrainHost, 'c1', *argv))

    def test_server_policies_returned(self):
        self.assertEqual(
            {'vm1': 'nova', 's-2': 'adaptive'},
            self.check(
                '--server-policy',
                'vm1=nova',
                '--server-policy',
                's-2=adaptive',
            ),
        )

    def test_same_name_rule_as_server_migrate(self):
        for argv, message in (
            (
                ['--server-policy', 'vm1=../x y'],
                r"--server-policy 'vm1=\.\./x y': '\.\./x y' is not a policy",
            ),
            (['--policy', 'a b'], "--policy 'a b' is not a policy name"),
            (['--server-policy', 'vm1'], 'must look like SERVER=POLICY'),
        ):
            with self.subTest(argv=argv):
                with self.assertRaisesRegex(exceptions.CommandError, message):
                    self.check(*argv)

    def test_target_host_must_not_be_the_drained_host(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            '^--target-host c1 is the host being drained: name another host$',
        ):
            self.check('--target-host', 'c1')
        self.check('--target-host', 'c2')

    def test_wait_timeout_must_be_positive(self):
        for value in ('0', '-5'):
            with self.subTest(value=value):
                with self.assertRaisesRegex(
                    exceptions.CommandError,
                    '--wait-timeout %s must be a positive' % float(value),
                ):
                    self.check('--wait-timeout', value)

    def test_numbers(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, '--concurrency 0 must be at least 1'
        ):
            self.check('--concurrency', '0')
        with self.assertRaisesRegex(
            exceptions.CommandError, '--retries -1 must be at least 0'
        ):
            self.check('--retries', '-1')


class TestCheckWatch(unittest.TestCase):
    def test_interval_and_count(self):
        for argv, message in (
            (['--interval', '0'], '--interval 0.0 must be a positive'),
            (['--count', '0'], '--count 0 must be 1 or more'),
        ):
            with self.subTest(argv=argv):
                with self.assertRaisesRegex(exceptions.CommandError, message):
                    options.check_watch(_parse(watch.WatchMigration, *argv))
