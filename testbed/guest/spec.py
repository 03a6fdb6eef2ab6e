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
"""What a test guest is: workload knobs, kernel command line, domain XML.

Pure functions, so the nova monitor tests, the benchmarks and the mini-cloud
can describe guests without touching libvirt.
"""

import dataclasses
from xml.sax.saxutils import escape

EMULATOR = '/usr/bin/qemu-system-x86_64'
# MiB a 6.1 cloud kernel keeps for itself in a small TCG guest (443 of 512
# MiB are available to init), plus the 24 MiB margin dirtier.c demands.
KERNEL_OVERHEAD_MIB = 96


@dataclasses.dataclass(frozen=True)
class GuestSpec:
    """Memory size and the workload the guest's init runs.

    ``fill_mib`` is written once and only verified; ``dirty_mib`` is
    rewritten cyclically at ``dirty_rate_mib_s``; every written page is
    re-read at ``verify_rate_mib_s``.  ``inject_corrupt`` damages that many
    pages on purpose (to prove the checker works).
    """

    mem_mib: int = 512
    fill_mib: int = 0
    dirty_mib: int = 64
    dirty_rate_mib_s: int = 100
    verify_rate_mib_s: int = 256
    inject_corrupt: int = 0
    vcpus: int = 1

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 0:
                raise ValueError('%s must not be negative' % field.name)
        if self.fill_mib + self.dirty_mib > self.mem_mib - KERNEL_OVERHEAD_MIB:
            raise ValueError(
                'fill_mib + dirty_mib = %d MiB does not fit a %d MiB guest '
                '(the kernel needs about %d MiB)'
                % (
                    self.fill_mib + self.dirty_mib,
                    self.mem_mib,
                    KERNEL_OVERHEAD_MIB,
                )
            )

    @property
    def written_pages(self):
        """Pages the guest writes and verifies (4 KiB each)."""
        return (self.fill_mib + self.dirty_mib) * 256


def kernel_cmdline(spec):
    """Return the kernel command line that hands ``spec`` to dirtier.

    :param spec: :class:`GuestSpec`.
    :returns: str, e.g. ``console=ttyS0 panic=-1 loglevel=4
        dirtier.fill_mb=0 dirtier.dirty_mb=64 dirtier.dirty_rate=100
        dirtier.verify_rate=256 dirtier.inject_corrupt=0``.
    """
    # panic=-1: reboot at once on a panic, and on_reboot=destroy turns that
    # into a dead domain a test notices, instead of a silent hang.
    return (
        'console=ttyS0 panic=-1 loglevel=4 '
        'dirtier.fill_mb=%d dirtier.dirty_mb=%d dirtier.dirty_rate=%d '
        'dirtier.verify_rate=%d dirtier.inject_corrupt=%d'
        % (
            spec.fill_mib,
            spec.dirty_mib,
            spec.dirty_rate_mib_s,
            spec.verify_rate_mib_s,
            spec.inject_corrupt,
        )
    )


def domain_xml(
    name, spec, kernel, initrd, serial_log, emulator=EMULATOR, uuid=None
):
    """Return libvirt domain XML for a diskless TCG guest.

    Why TCG (type 'qemu'): /dev/kvm here is paravirtual and cannot boot a
    stock kernel.  The serial console goes to a file that both hosts see at
    the same path, so the log continues across a migration.

    :param name: domain name.
    :param spec: :class:`GuestSpec`.
    :param kernel: path of the guest kernel.
    :param initrd: path of the initramfs.
    :param serial_log: file the guest's ttyS0 is appended to.
    :param emulator: QEMU binary.
    :param uuid: optional domain UUID (libvirt picks one otherwise).
    :returns: XML text.
    """
    uuid_line = '  <uuid>%s</uuid>\n' % escape(uuid) if uuid else ''
    return (
        "<domain type='qemu'>\n"
        '  <name>%(name)s</name>\n%(uuid)s'
        "  <memory unit='MiB'>%(mem)d</memory>\n"
        '  <vcpu>%(vcpus)d</vcpu>\n'
        '  <os>\n'
        "    <type arch='x86_64' machine='pc'>hvm</type>\n"
        '    <kernel>%(kernel)s</kernel>\n'
        '    <initrd>%(initrd)s</initrd>\n'
        '    <cmdline>%(cmdline)s</cmdline>\n'
        '  </os>\n'
        '  <features><acpi/><apic/></features>\n'
        '  <on_poweroff>destroy</on_poweroff>\n'
        '  <on_reboot>destroy</on_reboot>\n'
        '  <on_crash>destroy</on_crash>\n'
        '  <devices>\n'
        '    <emulator>%(emulator)s</emulator>\n'
        "    <controller type='usb' model='none'/>\n"
        "    <serial type='file'>\n"
        "      <source path='%(serial)s' append='on'/>\n"
        "      <target port='0'/>\n"
        '    </serial>\n'
        "    <memballoon model='none'/>\n"
        '  </devices>\n'
        '</domain>\n'
    ) % {
        'name': escape(name),
        'uuid': uuid_line,
        'mem': spec.mem_mib,
        'vcpus': spec.vcpus,
        'kernel': escape(kernel),
        'initrd': escape(initrd),
        'cmdline': escape(kernel_cmdline(spec)),
        'emulator': escape(emulator),
        'serial': escape(serial_log, {"'": '&apos;'}),
    }
