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
"""The fleet's fake driver: a duration, an abort and a force-complete per
migration, and the inventory a test sets. nova 34's own fake driver is
the base (installed in the test environment); migrations run on threads,
as nova-compute's threading mode runs them. The driver inside a real
nova-compute is exercised by tests/functional/osc_livemigrate/
test_host_drain.py.
"""

import threading
import time
import types

import pytest

from testbed.cloud import fleetconf
from testbed.cloud import fleetfake


@pytest.fixture
def settings(tmp_path, monkeypatch):
    path = str(tmp_path / 'fleet.json')
    monkeypatch.setenv(fleetconf.SETTINGS_ENV, path)

    def write(**kw):
        fleetconf.write(path, kw)

    return write


def _instance(name):
    return types.SimpleNamespace(uuid='uuid-' + name, display_name=name)


class _Migration:
    """One ``live_migration`` call on a thread, and how it ended."""

    def __init__(self, driver, name):
        self.ended = None
        self.took = None
        self.instance = _instance(name)

        def post(*a, **kw):
            self.ended = 'post'

        def recover(*a, migration_status=None, **kw):
            self.ended = 'recover:%s' % migration_status

        def run():
            t0 = time.monotonic()
            driver.live_migration(None, self.instance, 'dest', post, recover)
            self.took = time.monotonic() - t0

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def join(self):
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), 'live_migration never returned'


def _driver():
    return fleetfake.FleetFakeDriver(virtapi=None)


def _started(driver, *names):
    migrations = [_Migration(driver, n) for n in names]
    deadline = time.monotonic() + 10
    while len(driver._controls) < len(names):
        assert time.monotonic() < deadline, 'migrations never started'
        time.sleep(0.01)
    return migrations


def test_abort_ends_only_the_migration_of_that_server(settings):
    settings(migration_s={'default': 30})
    driver = _driver()
    a, b = _started(driver, 'a', 'b')
    driver.live_migration_abort(a.instance)
    a.join()
    assert a.ended == 'recover:cancelled'
    assert b.thread.is_alive() and b.ended is None
    driver.live_migration_force_complete(b.instance)
    b.join()
    assert b.ended == 'post'
    assert a.took < 10 and b.took < 10


def test_each_server_takes_its_own_time(settings):
    settings(migration_s={'default': 0.1, 'slow': 1.5})
    driver = _driver()
    fast, slow = _started(driver, 'fast', 'slow')
    fast.join()
    assert slow.thread.is_alive()
    slow.join()
    assert (fast.ended, slow.ended) == ('post', 'post')
    assert fast.took < 1.0 <= 1.4 < slow.took


def test_abort_of_a_server_not_migrating_changes_nothing(settings):
    settings(migration_s={'default': 0.2})
    driver = _driver()
    (m,) = _started(driver, 'm')
    driver.live_migration_abort(_instance('other'))
    m.join()
    assert m.ended == 'post'


def test_settings_lookup():
    s = {'migration_s': {'default': 2, 'vm-7': 8, 'uuid-9': 3}}
    assert fleetconf.migration_s(s, 'vm-7', 'x') == 8.0
    assert fleetconf.migration_s(s, 'vm-9', 'uuid-9') == 3.0
    assert fleetconf.migration_s(s, 'other', 'y') == 2.0
    assert fleetconf.migration_s({}, 'other', 'y') == 5.0
    assert fleetconf.inventory({}, 'c3') == {}


def test_a_settings_file_that_is_not_an_object_fails(tmp_path):
    path = tmp_path / 'fleet.json'
    path.write_text('[1, 2]')
    with pytest.raises(ValueError, match='not a JSON object'):
        fleetconf.read(str(path))


def test_inventory_the_test_sets_reaches_the_provider_tree(settings):
    from nova.compute import provider_tree

    settings(inventory={'c3': {'MEMORY_MB': 2048}})
    driver = _driver()
    driver.init_host('c3')
    tree = provider_tree.ProviderTree()
    tree.new_root('c3', 'rp-uuid')
    driver.update_provider_tree(tree, 'c3')
    inv = tree.data('c3').inventory
    assert inv['MEMORY_MB']['total'] == 2048
    assert inv['MEMORY_MB']['max_unit'] == 2048
    assert inv['MEMORY_MB']['reserved'] == 0
    assert inv['MEMORY_MB']['allocation_ratio'] == 1.0
    # what it does not name stays nova's fake's
    assert inv['VCPU']['total'] == driver.vcpus
    assert driver.get_available_resource('c3')['memory_mb'] == 2048
