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

import ast
import configparser
import importlib.metadata
import inspect
import pathlib
import re
import sys

from openstack.compute.v2 import _proxy

ROOT = pathlib.Path(__file__).resolve().parents[2]
CALL = re.compile(r'\bcompute\.([a-z_]+)\(')


def _parse(lines):
    """``{name: bound}`` of ``name>=bound`` / ``name==bound`` lines."""
    out = {}
    for line in lines:
        m = re.match(r'^\s*([A-Za-z0-9_.-]+)\s*[>=]=\s*([0-9.]+)', line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def _requirements(path):
    return _parse((ROOT / path).read_text().splitlines())


def _extras():
    """``{extra: {name: bound}}`` of setup.cfg's ``[extras]``."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / 'setup.cfg')
    return {
        name: _parse(value.splitlines())
        for name, value in setup['extras'].items()
    }


def _half(extra):
    """Everything one half installs: requirements.txt and its extra."""
    return dict(_requirements('requirements.txt'), **_extras()[extra])


def _imports(package):
    """Top-level modules ``package`` imports that are not its own or the
    standard library's.
    """
    names = set()
    for path in (ROOT / package).rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split('.')[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split('.')[0])
    return {
        n
        for n in names
        if n not in sys.stdlib_module_names
        and n not in ('osc_livemigrate', 'nova_ext')
    }


def _normal(name):
    """A distribution name as PEP 503 compares them."""
    return re.sub(r'[-_.]+', '-', name).lower()


def _distributions(modules):
    """The distributions (normalised names) that provide ``modules``."""
    provides = importlib.metadata.packages_distributions()
    return {m: {_normal(d) for d in provides.get(m, ())} for m in modules}


def _cli_calls():
    calls = set()
    for path in (ROOT / 'osc_livemigrate').rglob('*.py'):
        calls |= set(CALL.findall(path.read_text()))
    return calls


def test_every_lower_bound_is_constrained_to_itself():
    declared = dict(_requirements('requirements.txt'))
    for extra in _extras().values():
        declared.update(extra)
    assert declared == _requirements('lower-constraints.txt')


def test_oslo_upgradecheck_is_declared():
    # nova-livemigrate-status imports it
    assert 'oslo.upgradecheck' in _half('driver')


def test_each_half_declares_what_it_imports():
    # NOTE: nova and what nova brings (oslo.messaging) are nova-compute's
    # own; the driver half runs only there.
    nova_own = {'nova', 'oslo_messaging'}
    for package, extra, own in (
        ('osc_livemigrate', 'cli', set()),
        ('nova_ext', 'driver', nova_own),
        ('nova', 'driver', nova_own),
    ):
        declared = {_normal(name) for name in _half(extra)}
        for module, dists in _distributions(_imports(package) - own).items():
            assert dists & declared, (package, module, dists, extra)


def test_the_driver_half_does_not_pull_the_client():
    driver = set(_half('driver'))
    assert not driver & {
        'python-openstackclient',
        'osc-lib',
        'cliff',
        'openstacksdk',
    }
    assert 'python-openstackclient' not in _requirements('requirements.txt')


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
