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
"""Fixtures for functional tests against the mini-cloud (``testbed.cloud``).

``cloud`` is the fake-mode cloud, ``libvirt_cloud`` the libvirt-mode one (our
driver on two namespaced libvirtds; own work folder and ports, so both can be
up in one session). Each cloud comes up once per test session and goes
down at its end, unless ``LIVEMIGRATE_KEEP_CLOUD=1`` (then a later session
reuses it in seconds).
Nothing here skips: a machine that cannot bring the cloud up fails the tests
with the one-line reason the tool gives. A session starts with no servers and
no orphaned placement allocations: whatever an earlier session left is
removed first.
"""

import os

import pytest

from testbed.cloud import Cloud
from testbed.cloud import CloudError

KEEP_ENV = 'LIVEMIGRATE_KEEP_CLOUD'


def _delete_leftover_servers(c):
    """Delete the servers an earlier (killed) session left behind, and the
    allocations nobody owns any more: tests such as the drain test own
    their hosts, whole.
    """
    left = [
        s['ID'] for s in c.openstack_json('server', 'list', '--all-projects')
    ]
    if left:
        print(
            'deleting %d server(s) left by an earlier session: %s'
            % (len(left), ', '.join(left))
        )
        c.openstack('server', 'delete', '--wait', *left, timeout=600)
    leaked = c.release_orphaned_allocations()
    if leaked:
        print(
            'released placement allocations no server or migration owns '
            '(left by an earlier session): %s' % ', '.join(leaked)
        )


@pytest.fixture(scope='session')
def cloud(testbed):
    """A running fake-mode mini-cloud (two computes with
    FakeLiveMigrateDriver).
    """
    c = Cloud(mode='fake')
    keep = os.environ.get(KEEP_ENV, '') in ('1', 'true', 'yes')
    try:
        c.up()
    except CloudError as e:
        if not keep:
            c.down(quiet=True)
        pytest.fail('mini-cloud did not come up: %s' % e, pytrace=False)
    _delete_leftover_servers(c)
    yield c
    if not keep:
        c.down()


@pytest.fixture(scope='session')
def libvirt_cloud(testbed):
    """A running libvirt-mode mini-cloud: two nova-compute services with
    ``compute_driver = livemigrate.LibvirtDriver`` on a HostPair.
    """
    c = Cloud(mode='libvirt')
    keep = os.environ.get(KEEP_ENV, '') in ('1', 'true', 'yes')
    try:
        c.up()
    except CloudError as e:
        if not keep:
            c.down(quiet=True)
        pytest.fail(
            'libvirt-mode mini-cloud did not come up: %s' % e, pytrace=False
        )
    _delete_leftover_servers(c)
    yield c
    if not keep:
        c.down()
