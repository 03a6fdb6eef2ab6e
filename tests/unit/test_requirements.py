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
"""The declared lower bounds hold what the code calls.

``tox -e lower-constraints`` runs this with every requirement at its lower
bound (``lower-constraints.txt``), where it checks that the installed
openstacksdk has every compute proxy call the CLI makes, with the keyword
arguments it passes; in the other envs it checks the newest versions.
"""

import inspect
import pathlib
import re

from openstack.compute.v2 import _proxy

ROOT = pathlib.Path(__file__).resolve().parents[2]
CALL = re.compile(r'\bcompute\.([a-z_]+)\(')


def _requirements(path):
    """``{name: bound}`` of ``name>=bound`` / ``name==bound`` lines."""
    out = {}
    for line in (ROOT / path).read_text().splitlines():
        m = re.match(r'^([A-Za-z0-9_.-]+)\s*[>=]=\s*([0-9.]+)', line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def _cli_calls():
    calls = set()
    for path in (ROOT / 'osc_livemigrate').rglob('*.py'):
        calls |= set(CALL.findall(path.read_text()))
    return calls


def test_every_lower_bound_is_constrained_to_itself():
    assert _requirements('requirements.txt') == _requirements(
        'lower-constraints.txt'
    )


def test_oslo_upgradecheck_is_declared():
    # nova-livemigrate-status imports it
    assert 'oslo.upgradecheck' in _requirements('requirements.txt')


def test_sdk_has_every_compute_call_the_cli_makes():
    calls = _cli_calls()
    assert {'live_migrate_server', 'server_migrations'} <= calls
    missing = sorted(c for c in calls if not hasattr(_proxy.Proxy, c))
    assert missing == []


def test_sdk_migrate_calls_take_the_cli_keywords():
    live = inspect.signature(_proxy.Proxy.live_migrate_server).parameters
    assert {'host', 'force', 'block_migration'} <= set(live)
    cold = inspect.signature(_proxy.Proxy.migrate_server).parameters
    assert 'host' in cold
