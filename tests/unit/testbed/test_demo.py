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
"""The demo's decisions that need no cloud: which guests a new run
replaces, and the commands it prints.
"""

import os
import shlex
import subprocess
import sys
import unittest
from unittest import mock

from testbed.cloud import session
from testbed import demo

ROOT = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)


class TestLeftovers(unittest.TestCase):
    def test_only_the_demos_own_guests_are_replaced(self):
        servers = [
            ('a', 'lm-demo-1700000000', 'compute2', 'demo'),
            ('b', 'lm-demo-1600000000', 'compute1', None),  # before marks
            ('c', 'lm-demo-1700000001', 'compute1', 'pytest'),  # a test's
            ('d', 'web-1', 'compute1', None),  # an operator's
            ('e', 'renamed', 'compute2', 'demo'),
            ('f', None, 'compute2', None),
        ]
        self.assertEqual(
            [
                ('a', 'lm-demo-1700000000'),
                ('b', 'lm-demo-1600000000'),
                ('e', 'renamed'),
            ],
            demo.leftovers(servers),
        )

    def test_a_second_run_deletes_the_first_runs_guest(self):
        cloud = mock.Mock()
        rows = [
            ('first', 'lm-demo-1', 'compute2', 'demo'),
            ('mine', 'web-1', 'compute1', None),
        ]
        with mock.patch.object(session, 'servers', return_value=rows):
            gone = demo.replace_leftovers(cloud)
        self.assertEqual(['lm-demo-1'], gone)
        cloud.openstack.assert_called_once_with(
            'server', 'delete', '--wait', 'first', timeout=600
        )

    def test_nothing_left_deletes_nothing(self):
        cloud = mock.Mock()
        with mock.patch.object(session, 'servers', return_value=[]):
            self.assertEqual([], demo.replace_leftovers(cloud))
        cloud.openstack.assert_not_called()

    def test_the_demo_marks_its_guests(self):
        # what leftovers() recognises is what the demo's cloud writes
        self.assertEqual('demo', demo.OWNER)
        self.assertTrue(('lm-demo-%d' % 1).startswith(demo.NAME_PREFIX))


class TestPrintedCommands(unittest.TestCase):
    def test_the_interpreter_that_ran_the_demo(self):
        line = demo.shell_command(
            demo.STOP_CLOUD,
            executable='/src/lm/.tox/demo/bin/python',
            root='/src/lm',
        )
        self.assertEqual(
            'cd /src/lm && .tox/demo/bin/python -m testbed.cloud down '
            '--mode libvirt',
            line,
        )

    def test_an_interpreter_outside_the_tree_stays_absolute(self):
        line = demo.shell_command(
            demo.STOP_GUEST, executable='/opt/venv/bin/python', root='/my src'
        )
        self.assertEqual(
            "cd '/my src' && /opt/venv/bin/python -m testbed.demo --stop",
            line,
        )

    def test_farewell_says_how_to_stop_guest_and_cloud(self):
        lines = demo.farewell('lm-demo-1', 'compute2')
        self.assertIn('lm-demo-1 keeps running on compute2', lines[0])
        self.assertTrue(lines[1].endswith('-m testbed.demo --stop'))
        self.assertTrue(
            lines[2].endswith('-m testbed.cloud down --mode libvirt')
        )

    def test_the_printed_commands_work_as_printed(self):
        # NOTE: run from another directory, through a shell, with --help:
        # the module is found and its parser answers
        for args in (demo.STOP_GUEST, demo.STOP_CLOUD):
            with self.subTest(args=args):
                line = demo.shell_command(
                    args[:2] + ('--help',), executable=sys.executable
                )
                proc = subprocess.run(
                    ['bash', '-c', line],
                    cwd='/',
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=120,
                )
                self.assertEqual(0, proc.returncode, proc.stderr)
                self.assertIn('usage:', proc.stdout)
                self.assertIn(
                    args[-1] if args[-1] == '--stop' else 'down', proc.stdout
                )
        self.assertEqual(ROOT, shlex.split(demo.shell_command(('x',)))[1])
