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
with the one-line reason the tool gives."""

import os

import pytest

from testbed.cloud import Cloud
from testbed.cloud import CloudError

KEEP_ENV = 'LIVEMIGRATE_KEEP_CLOUD'


@pytest.fixture(scope='session')
def cloud():
    """A running fake-mode mini-cloud (two computes with
    FakeLiveMigrateDriver)."""
    c = Cloud(mode='fake')
    keep = os.environ.get(KEEP_ENV, '') in ('1', 'true', 'yes')
    try:
        c.up()
    except CloudError as e:
        if not keep:
            c.down(quiet=True)
        pytest.fail('mini-cloud did not come up: %s' % e, pytrace=False)
    yield c
    if not keep:
        c.down()


@pytest.fixture(scope='session')
def libvirt_cloud():
    """A running libvirt-mode mini-cloud: two nova-compute services with
    ``compute_driver = livemigrate.LibvirtDriver`` on a HostPair."""
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
    yield c
    if not keep:
        c.down()
