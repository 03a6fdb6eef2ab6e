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
up in one session). Each cloud comes up once per test session. A cloud the
session found running (the demo's, or one kept with
``LIVEMIGRATE_KEEP_CLOUD=1``) stays up at its end, with whatever runs in it;
one the session started goes down again, unless ``LIVEMIGRATE_KEEP_CLOUD=1``
(then a later session reuses it in seconds).
Nothing here skips: a machine that cannot bring the cloud up fails the tests
with the one-line reason the tool gives. Every server the tests create
carries the suite's owner mark (``testbed.cloud.session``); a session starts
by deleting only the marked servers an earlier, killed session left, and the
placement allocations no server owns; it fails at its end when its tests
leaked an allocation. Servers without the mark (the demo's) are never moved
or deleted.
"""

import os

import pytest

from testbed.cloud import Cloud
from testbed.cloud import CloudError
from testbed.cloud import session

KEEP_ENV = 'LIVEMIGRATE_KEEP_CLOUD'


def _borrow(mode, what):
    c = Cloud(mode=mode, owner=session.SUITE_OWNER)
    keep = os.environ.get(KEEP_ENV, '') in ('1', 'true', 'yes')
    try:
        with session.borrowed(c, keep=keep) as c:
            yield c
    except CloudError as e:
        pytest.fail('%s: %s' % (what, e), pytrace=False)


@pytest.fixture(scope='session')
def cloud(testbed_cloud):
    """A running fake-mode mini-cloud (two computes with
    FakeLiveMigrateDriver).
    """
    yield from _borrow('fake', 'the fake-mode mini-cloud')


@pytest.fixture(scope='session')
def libvirt_cloud(testbed_cloud_libvirt):
    """A running libvirt-mode mini-cloud: two nova-compute services with
    ``compute_driver = livemigrate.LibvirtDriver`` on a HostPair.
    """
    yield from _borrow('libvirt', 'the libvirt-mode mini-cloud')
