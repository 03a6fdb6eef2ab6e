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
"""The guest disk passes nova 34's own deep image inspection, and the bare
kernel that the kernel + ramdisk layout would use does not: the reason
``testbed/guest/disk.py`` exists (see testbed/cloud/README.md).

Built from Debian packages like the guest itself; no cloud needed.
"""

from nova import exception
from nova.virt import images
from oslo_utils.imageutils import format_inspector
import pytest

from testbed.cloud import computes
from testbed.guest import build
from testbed.guest import disk


@pytest.fixture(scope='module')
def disk_path():
    return disk.build_disk(computes.WORKLOADS[0], log=lambda _line: None)


def test_disk_is_a_whole_disk_with_a_valid_mbr(disk_path):
    inspector = format_inspector.detect_file_format(disk_path)
    assert str(inspector) == 'gpt'
    inspector.safety_check()  # raises on a bad partition table


def test_nova_accepts_the_disk_as_raw(disk_path):
    assert (
        images.do_image_deep_inspection(
            {'disk_format': 'raw'}, 'disk', disk_path
        )
        == 'raw'
    )


def test_nova_rejects_the_bare_kernel_the_destination_would_refetch():
    kernel = build.build(log=lambda _line: None).kernel
    with pytest.raises(exception.ImageUnacceptable):
        images.do_image_deep_inspection({'disk_format': 'aki'}, 'k', kernel)


def test_disk_carries_the_workload_in_its_boot_config(disk_path):
    with open(disk_path, 'rb') as f:
        data = f.read()
    assert b'dirtier.dirty_mb=64 dirtier.dirty_rate=20' in data
