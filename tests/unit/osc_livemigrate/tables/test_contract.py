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
"""The CLI's contract table: its names, its one copy, its document.

The comparison with the driver's table (``nova_ext/core/contract.py``) lives
beside both halves; here the CLI's side is held to three rules: the names
are the documented ones, no other CLI module spells them, and the CLI
never imports the driver.
"""

import os
import re
import subprocess
import sys
import unittest

from osc_livemigrate.tables import contract
from tests.unit.osc_livemigrate import package

DOC = os.path.join(package.ROOT, 'doc', 'source', 'admin', 'contract.rst')


class TestContractTable(unittest.TestCase):
    def test_keys(self):
        self.assertEqual('livemigrate:policy', contract.POLICY_KEY)
        self.assertEqual(
            {
                'livemigrate:policy',
                'livemigrate:migration',
                'livemigrate:last_migration',
                'livemigrate:shadows',
                'livemigrate:policy_used',
                'livemigrate:phase',
                'livemigrate:action',
                'livemigrate:reason',
                'livemigrate:downtime_ms',
                'livemigrate:policy_refused',
            },
            contract.KEYS,
        )
        self.assertTrue(
            all(k.startswith(contract.PREFIX) for k in contract.KEYS)
        )

    def test_values(self):
        self.assertIn(contract.POSTCOPY_FAILED, contract.PHASES)
        self.assertIn(contract.POLICY_REFUSED, contract.ACTIONS)
        self.assertEqual(
            {
                'livemigrate_' + a
                for a in contract.ACTIONS - {contract.ENDED_AS_ACTION}
            },
            contract.EVENTS,
        )
        for names in (contract.KEYS, contract.PHASES, contract.ACTIONS):
            self.assertIsInstance(names, frozenset)

    def test_document_names_every_value(self):
        with open(DOC) as f:
            quoted = set(re.findall(r'``([^`]+)``', f.read()))
        for name in sorted(contract.KEYS | contract.PHASES | contract.ACTIONS):
            self.assertIn(name, quoted)
        self.assertIn(contract.EVENT_PREFIX + '<action>', quoted)
        self.assertIn(
            contract.SHADOW_EVENT_PREFIX + '<policy>:<action>', quoted
        )
        for field in contract.LAST_FIELDS:
            self.assertIn(field, quoted)


class TestOneCopy(unittest.TestCase):
    def test_no_other_module_spells_a_contract_name(self):
        spelled = re.compile(
            r"""['"](livemigrate[:_]|policy-refused|post-copy failed)"""
        )
        modules = package.package_modules()
        self.assertLessEqual(package.EXPECTED, modules)
        for name in sorted(modules - {'tables/contract.py'}):
            with open(os.path.join(package.PKG, name)) as f:
                self.assertIsNone(spelled.search(f.read()), name)
        with open(os.path.join(package.PKG, 'tables', 'contract.py')) as f:
            self.assertRegex(f.read(), spelled)

    def test_cli_never_imports_the_driver(self):
        code = (
            'import sys, osc_livemigrate.tables.contract, '
            'osc_livemigrate.follow.waiting, '
            'osc_livemigrate.v1.server_migrate, osc_livemigrate.v1.drain, '
            'osc_livemigrate.v1.watch\n'
            'print(sorted(m for m in sys.modules if m.startswith("nova")))\n'
        )
        out = subprocess.run(
            [sys.executable, '-c', code],
            capture_output=True,
            text=True,
            check=True,
            cwd=package.ROOT,
        )
        self.assertEqual('[]', out.stdout.strip())
        imports = re.compile(r'^\s*(from|import)\s+nova', re.M)
        for name in sorted(package.package_modules()):
            with open(os.path.join(package.PKG, name)) as f:
                self.assertIsNone(imports.search(f.read()), name)
