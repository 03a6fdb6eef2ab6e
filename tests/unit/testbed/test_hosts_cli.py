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
"""The host pair's command line runs before anything is installed."""

import os
import subprocess
import sys

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
)
# Runs ``python3 -m testbed.hosts ARGS`` as a bare interpreter would, one
# without psutil: the import of psutil fails as if it were not installed.
BARE = (
    'import runpy, sys\n'
    "sys.modules['psutil'] = None\n"
    "sys.argv[0] = 'testbed.hosts'\n"
    "runpy.run_module('testbed.hosts', run_name='__main__', alter_sys=True)\n"
)


def test_python_m_testbed_hosts_needs_no_psutil():
    """tools/run-tests and tools/run-demo run ``python3 -m testbed.hosts
    install`` first, with the machine's python3: that command installs what
    the rest needs, so importing the host pair must not need psutil.
    """
    r = subprocess.run(
        [sys.executable, '-c', BARE, '--help'],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert 'install' in r.stdout and 'python3 -m testbed.hosts' in r.stdout
