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
"""``server migrate``'s parser: every option of core's, then ours."""

import unittest

from openstackclient.compute.v2 import server as core_server

from osc_livemigrate.v1 import server_migrate
from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate import parsers
from tests.unit.osc_livemigrate.v1 import migrate_base as base


class TestMigrateServerParser(unittest.TestCase):
    """Every core option: same dest, default, kind, exclusivity and parse."""

    def setUp(self):
        app = fakes.FakeApp(fakes.FakeCompute())
        self.core = core_server.MigrateServer(app, None).get_parser(base.PROG)
        self.ours = server_migrate.MigrateServer(app, None).get_parser(
            base.PROG
        )

    def test_every_core_option_with_same_defaults(self):
        ours = parsers.actions(self.ours)
        for name, core in parsers.actions(self.core).items():
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
        core = parsers.groups(self.core)
        ours = parsers.groups(self.ours)
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
