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
"""Installing the shim never touches nova's files; removing it leaves nova.

Each test makes a fresh virtualenv holding nova 34.0.0 (without its
dependencies: only nova's own files matter here), installs this project as
a wheel or editable, compares a hash of every file nova's RECORD lists, and
uninstalls again.
"""

import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIND = (
    'import importlib.util, json; s = importlib.util.find_spec('
    '"nova.virt.livemigrate"); print(json.dumps(s and s.origin))'
)


def _run(*argv, **kw):
    return subprocess.run(
        argv, check=True, capture_output=True, text=True, **kw
    )


class ShimInstall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        base = pathlib.Path(cls.tmp.name)
        cls.venv = base / 'venv'
        _run(sys.executable, '-m', 'venv', str(cls.venv))
        cls.py = str(cls.venv / 'bin' / 'python')
        _run(cls.py, '-m', 'pip', 'install', '-q', '--no-deps', 'nova==34.0.0')
        wheels = base / 'wheels'
        _run(
            sys.executable,
            '-m',
            'pip',
            'wheel',
            '-q',
            '--no-deps',
            '-w',
            str(wheels),
            str(ROOT),
        )
        cls.wheel = str(next(wheels.glob('osc_livemigrate-*.whl')))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def _nova_files(self):
        site = json.loads(
            _run(
                self.py,
                '-c',
                'import sysconfig, json; '
                'print(json.dumps(sysconfig.get_paths()'
                '["purelib"]))',
            ).stdout
        )
        record = next(pathlib.Path(site).glob('nova-34.0.0.dist-info'))
        digests = {}
        for line in (record / 'RECORD').read_text().splitlines():
            path = line.split(',')[0]
            full = pathlib.Path(site) / path
            if path.startswith('nova/') and full.is_file():
                digests[path] = hashlib.sha256(full.read_bytes()).hexdigest()
        return site, digests

    def _origin(self):
        return json.loads(_run(self.py, '-c', FIND, cwd='/').stdout)

    def test_wheel_installs_only_the_shim_and_uninstalls_cleanly(self):
        site, before = self._nova_files()
        _run(self.py, '-m', 'pip', 'install', '-q', '--no-deps', self.wheel)
        shim = os.path.join(site, 'nova', 'virt', 'livemigrate.py')
        self.assertEqual(shim, self._origin())
        self.assertEqual(before, self._nova_files()[1])
        record = _run(
            self.py, '-m', 'pip', 'show', '-f', 'osc-livemigrate'
        ).stdout
        ours_under_nova = [
            ln.strip()
            for ln in record.splitlines()
            if ln.strip().startswith('nova/') and '__pycache__' not in ln
        ]
        self.assertEqual(['nova/virt/livemigrate.py'], ours_under_nova)
        _run(self.py, '-m', 'pip', 'uninstall', '-y', '-q', 'osc-livemigrate')
        self.assertIsNone(self._origin())
        self.assertEqual(before, self._nova_files()[1])

    def test_editable_install_finds_the_shim_without_shadowing_nova(self):
        site, before = self._nova_files()
        _run(
            self.py, '-m', 'pip', 'install', '-q', '--no-deps', '-e', str(ROOT)
        )
        self.assertEqual(
            str(ROOT / 'nova' / 'virt' / 'livemigrate.py'), self._origin()
        )
        nova_init = json.loads(
            _run(
                self.py,
                '-c',
                'import importlib.util, json; print(json.dumps('
                'importlib.util.find_spec("nova").origin))',
                cwd='/',
            ).stdout
        )
        self.assertEqual(os.path.join(site, 'nova', '__init__.py'), nova_init)
        self.assertEqual(before, self._nova_files()[1])
        _run(self.py, '-m', 'pip', 'uninstall', '-y', '-q', 'osc-livemigrate')
        self.assertIsNone(self._origin())
        self.assertEqual(before, self._nova_files()[1])
