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
"""The host set-up installs what the first real-level tests need."""

import os

from testbed.guest import disk
from testbed import hostpkgs


def test_host_install_brings_the_guest_disk_tools():
    """tests/functional/cloud/test_guest_disk.py builds the guest's disk
    before any cloud exists, so ``testbed.hosts install`` (run by
    tools/run-tests) must install the disk's packages: on a fresh machine
    the test errored with 'install the Debian packages syslinux ...'.
    """
    wanted = set(disk.PACKAGES)
    installed = set(hostpkgs.HYPERVISOR_PACKAGES + hostpkgs.BUILD_PACKAGES)
    assert wanted <= installed, sorted(wanted - installed)


def test_host_install_brings_prometheus_for_the_metrics_tests():
    """promtool and the cloud's scrape test need Debian's prometheus, and
    bindep.txt lists what the host set-up installs.
    """
    assert 'prometheus' in hostpkgs.TOOL_PACKAGES
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    with open(os.path.join(os.path.dirname(root), 'bindep.txt')) as f:
        listed = {ln.split()[0] for ln in f if ln.strip() and ln[0] != '#'}
    assert set(hostpkgs.TOOL_PACKAGES) <= listed
