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
"""The pure core must not drag in nova, libvirt or a clock."""

import ast
import pathlib
import subprocess
import sys
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: the pure core is one package: everything in it is checked
CORE = 'nova_ext/core'
#: files the walk must find: a moved or renamed folder fails the test
#: instead of leaving nothing to check
EXPECTED = {
    'nova_ext/core/observation.py',
    'nova_ext/core/phases.py',
    'nova_ext/core/contract.py',
    'nova_ext/core/selection.py',
    'nova_ext/core/restart.py',
    'nova_ext/core/recovery.py',
    'nova_ext/core/loader.py',
    'nova_ext/core/policies/base.py',
    'nova_ext/core/policies/nova.py',
    'nova_ext/core/policies/schedule.py',
    'nova_ext/core/policies/adaptive.py',
    'nova_ext/core/policies/bandwidth.py',
    'nova_ext/core/policies/bounds.py',
    'nova_ext/core/policies/kubevirt.py',
    'nova_ext/core/sim/model.py',
    'nova_ext/core/sim/runner.py',
    'nova_ext/core/sim/fleet.py',
}


class TestPurity(unittest.TestCase):
    def test_importing_the_core_loads_neither_nova_nor_libvirt(self):
        modules = sorted(
            p.relative_to(ROOT).with_suffix('').as_posix().replace('/', '.')
            for p in self._files()
        )
        code = (
            'import importlib, sys\n'
            'for name in %r:\n'
            '    importlib.import_module(name)\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] '
            'in ("nova", "libvirt", "oslo_config")))' % modules
        )
        out = subprocess.run(
            [sys.executable, '-c', code],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        self.assertEqual('[]', out.stdout.strip())

    def test_policies_never_read_a_clock(self):
        banned = {'time', 'datetime', 'random'}
        read = set()
        for path in self._files():
            tree = ast.parse(path.read_text())
            read.add(path.relative_to(ROOT).as_posix())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or '']
                for name in names:
                    with self.subTest(path=str(path), name=name):
                        self.assertNotIn(name.split('.')[0], banned)
        self.assertEqual(set(), EXPECTED - read)

    def _files(self):
        path = ROOT / CORE
        self.assertTrue(path.is_dir(), CORE)
        yield from sorted(path.rglob('*.py'))
