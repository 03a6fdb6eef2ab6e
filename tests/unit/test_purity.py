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
PURE = [
    'nova_ext/observation.py',
    'nova_ext/phases.py',
    'nova_ext/contract.py',
    'nova_ext/recovery.py',
    'nova_ext/policies',
    'nova_ext/sim',
]
#: files the walk must find: a moved or renamed folder fails the test
#: instead of leaving nothing to check
EXPECTED = {
    'nova_ext/observation.py',
    'nova_ext/phases.py',
    'nova_ext/contract.py',
    'nova_ext/recovery.py',
    'nova_ext/policies/base.py',
    'nova_ext/policies/nova.py',
    'nova_ext/policies/schedule.py',
    'nova_ext/policies/adaptive.py',
    'nova_ext/policies/kubevirt.py',
    'nova_ext/sim/model.py',
    'nova_ext/sim/runner.py',
}


class TestPurity(unittest.TestCase):
    def test_importing_the_core_loads_neither_nova_nor_libvirt(self):
        code = (
            'import sys, nova_ext.loader, nova_ext.sim.runner, '
            'nova_ext.policies.adaptive, nova_ext.policies.nova, '
            'nova_ext.policies.schedule, nova_ext.policies.kubevirt, '
            'nova_ext.phases, nova_ext.contract, nova_ext.recovery; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] '
            'in ("nova", "libvirt", "oslo_config")))'
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
        for entry in PURE:
            path = ROOT / entry
            self.assertTrue(path.exists(), entry)
            yield from (
                [path] if path.is_file() else sorted(path.rglob('*.py'))
            )
