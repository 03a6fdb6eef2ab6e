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
"""Microversion table, plugin hooks and the cost of importing the plugin."""

import argparse
import os
import re
import subprocess
import sys
import unittest

from osc_lib import exceptions

from osc_livemigrate import plugin
from osc_livemigrate.tables import microversions as mv
from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate import package


class TestMicroversions(unittest.TestCase):
    def test_known_versions(self):
        self.assertEqual('2.23', mv.version('server_migrations'))
        self.assertEqual('2.24', mv.version('abort'))
        self.assertEqual('2.59', mv.version('by_uuid'))

    def test_require_names_what_and_version(self):
        with self.assertRaisesRegex(
            exceptions.CommandError,
            r'^--os-compute-api-version 2.24 or greater is required '
            r'for server migration abort \(you asked for 2.23\)$',
        ):
            mv.require(
                fakes.FakeCompute('2.23'), 'abort', 'server migration abort'
            )

    def test_require_blames_the_cloud_when_it_is_older(self):
        with self.assertRaisesRegex(
            exceptions.CommandError, 'supports only up to 2.20'
        ):
            mv.require(fakes.FakeCompute(None, cloud_max='2.20'), 'abort', 'x')

    def test_require_unreachable_api(self):
        c = fakes.FakeCompute()
        c._endpoint = None
        with self.assertRaisesRegex(
            exceptions.CommandError, 'could not ask the compute API'
        ):
            mv.require(c, 'abort', 'x')

    def test_require_passes(self):
        mv.require(fakes.FakeCompute('2.59'), 'by_uuid', 'x')

    def test_no_version_literal_outside_the_table(self):
        """Microversions live in microversions.py only (style guide)."""
        literal = re.compile(r"""['"]2\.\d\d['"]""")
        modules = package.package_modules()
        self.assertLessEqual(package.EXPECTED, modules)
        read = set()
        for name in sorted(modules - {'tables/microversions.py'}):
            with open(os.path.join(package.PKG, name)) as f:
                text = f.read()
            self.assertIsNone(literal.search(text), name)
            read.add(name)
        self.assertEqual(modules - {'tables/microversions.py'}, read)
        with open(
            os.path.join(package.PKG, 'tables', 'microversions.py')
        ) as f:
            self.assertRegex(f.read(), literal)


class TestPlugin(unittest.TestCase):
    def test_api_name_is_not_a_core_name(self):
        self.assertNotIn(
            plugin.API_NAME,
            (
                'compute',
                'identity',
                'image',
                'network',
                'volume',
                'object_store',
            ),
        )

    def test_option_default_selects_v1_group(self):
        parser = plugin.build_option_parser(argparse.ArgumentParser())
        self.assertEqual('1', parser.parse_args([]).os_livemigrate_api_version)
        self.assertTrue(plugin.check_api_version('1'))
        self.assertFalse(plugin.check_api_version('9'))

    def test_make_client_is_the_compute_proxy(self):
        compute = object()
        self.assertIs(
            compute, plugin.make_client(type('I', (), {'compute': compute}))
        )

    def test_importing_every_module_stays_cheap(self):
        """No openstacksdk, keystoneauth or openstackclient at import time,
        for any module of the package (every ``openstack`` run imports the
        command modules to list them).
        """
        modules = package.package_modules()
        self.assertLessEqual(package.EXPECTED, modules)
        names = sorted(
            'osc_livemigrate.' + m[: -len('.py')].replace('/', '.')
            for m in modules
        )
        code = (
            'import importlib, sys\n'
            'names = %r\n'
            'for n in names:\n'
            '    importlib.import_module(n)\n'
            'assert all(n in sys.modules for n in names)\n'
            'heavy = [m for m in ("openstack", "keystoneauth1", '
            '"openstackclient", "requests") if m in sys.modules]\n'
            'print(len(names), ",".join(heavy))\n' % names
        )
        out = subprocess.run(
            [sys.executable, '-c', code],
            capture_output=True,
            text=True,
            check=True,
            cwd=package.ROOT,
        )
        self.assertEqual('%d ' % len(names), out.stdout.rstrip('\n'))
