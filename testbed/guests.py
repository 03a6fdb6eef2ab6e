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
"""Test guests on a HostPair: start, find, watch the serial log, cap, destroy.

Kept apart from the host plumbing in hosts.py; HostPair mixes it in so that
tests call ``pair.start_guest(...)`` and ``pair.serial(name)``.
"""

import json
import os
import shutil
import subprocess
import time

from testbed.guest import serial as guest_serial
from testbed.guest import spec as guest_spec
from testbed import libvirtd

#: GiB of a guest's disk: a qcow2 file per guest and host
DISK_GIB = 2
#: where a host keeps guest disks (its own /var, remapped per host)
DISK_DIR = '/var/lib/libvirt/images'


class GuestsMixin:
    """Guest operations; needs ``workdir``, ``HOSTS`` and ``connect()``."""

    def guest_dir(self):
        """Where this pair's serial logs live (same path on both hosts).

        Per prefix, so QEMU's command line (which names the log) tells
        which pair a guest belongs to when its namespace is already gone.
        """
        return os.path.join(self.workdir, 'guests', self.prefix)

    def serial_log(self, name):
        """Path of the file the guest's ttyS0 is appended to."""
        return os.path.join(self.guest_dir(), '%s.serial.log' % name)

    def install_image(self, image):
        """Copy a built guest next to the hosts; return (kernel, initrd).

        The build cache may live anywhere (even under a path the hosts
        remap), the work directory never does.
        """
        target = os.path.join(self.workdir, 'images', image.key)
        if not os.path.exists(os.path.join(target, 'initrd.img')):
            os.makedirs(target + '.tmp', exist_ok=True)
            shutil.copyfile(
                image.kernel, os.path.join(target + '.tmp', 'vmlinuz')
            )
            shutil.copyfile(
                image.initrd, os.path.join(target + '.tmp', 'initrd.img')
            )
            shutil.rmtree(target, ignore_errors=True)
            os.rename(target + '.tmp', target)
        return (
            os.path.join(target, 'vmlinuz'),
            os.path.join(target, 'initrd.img'),
        )

    def guest_xml(self, name, spec, image):
        """Domain XML for ``spec`` booting ``image`` on these hosts."""
        kernel, initrd = self.install_image(image)
        return guest_spec.domain_xml(
            name,
            spec,
            kernel,
            initrd,
            self.serial_log(name),
            disk=self.disk_path(name) if spec.disk_mib else None,
        )

    def disk_path(self, name):
        """Path of the guest's disk as libvirt and QEMU see it.

        /var is each host's own, so the same path names two files: a
        block migration (VIR_MIGRATE_NON_SHARED_DISK) copies one into the
        other over NBD.
        """
        return os.path.join(DISK_DIR, '%s.qcow2' % name)

    def disk_file(self, name, host):
        """The guest's disk on ``host``, as seen from the test process."""
        return os.path.join(
            self.hostdir(host),
            'var',
            os.path.relpath(self.disk_path(name), '/var'),
        )

    def make_disks(self, name, gib=DISK_GIB):
        """Create the guest's empty disk on every host.

        The destination of a block migration needs a disk of the same
        size at the same path; libvirt only creates storage-pool volumes.
        """
        for host in self.HOSTS:
            path = self.disk_file(name, host)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            subprocess.run(
                ['qemu-img', 'create', '-q', '-f', 'qcow2', path, '%dG' % gib],
                check=True,
                capture_output=True,
            )

    def corrupt_disk_block(self, name, host, block, spec):
        """Flip one byte of block ``block`` of the guest's disk region.

        Call with the guest paused, so that the guest's checker, not a
        rewrite, is the next to read it.  QEMU holds the image's write
        lock, hence qemu-io with -U and the guest-visible offset.
        """
        at = self.disk_region(spec) + block * 4096 + 2000
        byte = self.read_disk(name, host, at, 1)[0]
        path = self.disk_file(name, host)
        # QEMU's write lock keeps qemu-io out: write the file where
        # qcow2 maps the guest's byte
        extents = json.loads(
            subprocess.run(
                ['qemu-img', 'map', '-U', '--output=json', path],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        extent = next(
            e
            for e in extents
            if e['start'] <= at < e['start'] + e['length'] and e['data']
        )
        with open(path, 'r+b') as f:
            f.seek(extent['offset'] + at - extent['start'])
            f.write(bytes([byte ^ 0x40]))
            f.flush()
            os.fsync(f.fileno())

    def disk_region(self, spec):
        """Guest-visible offset of the region the guest writes (the tail)."""
        return (DISK_GIB << 30) - (spec.disk_mib << 20)

    def read_disk(self, name, host, offset, length):
        """Bytes of the guest's disk on ``host`` as the guest sees them."""
        out = subprocess.run(
            ['qemu-io', '-U', '-r', '-f', 'qcow2', '-c']
            + ['read -v %d %d' % (offset, length)]
            + [self.disk_file(name, host)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        # lines like "000007d0:  41 42  AB", then qemu-io's summary
        data = bytearray()
        for line in out.splitlines():
            head, sep, rest = line.partition(':  ')
            if sep and all(c in '0123456789abcdef' for c in head):
                data += bytes.fromhex(rest.split('  ')[0])
        return bytes(data[:length])

    def start_guest(
        self, name, spec, image, host='A', persistent=False, timeout=120
    ):
        """Boot a guest and wait until its workload runs.

        :param name: domain name.
        :param spec: :class:`testbed.guest.spec.GuestSpec` (RAM, dirty
            size and rate).
        :param image: :class:`testbed.guest.build.GuestImage`.
        :param host: 'A' or 'B'.
        :param persistent: define then start (as nova does) instead of a
            transient domain.
        :param timeout: seconds to wait for the first heartbeat.
        :returns: the libvirt domain.
        :raises RuntimeError: if the guest fails, panics or stays silent.
        """
        xml = self.guest_xml(name, spec, image)
        if spec.disk_mib:
            self.make_disks(name)
        os.makedirs(self.guest_dir(), exist_ok=True)
        open(self.serial_log(name), 'w').close()
        conn = self.connect(host)
        if persistent:
            dom = conn.defineXML(xml)
            dom.create()
        else:
            dom = conn.createXML(xml, 0)
        self.wait_serial(
            name, lambda r: r.heartbeats, timeout, 'first heartbeat', dom=dom
        )
        return dom

    def serial(self, name):
        """Parse the guest's serial log so far."""
        try:
            with open(self.serial_log(name), errors='replace') as f:
                return guest_serial.parse_serial(f.read())
        except FileNotFoundError:
            return guest_serial.parse_serial('')

    def wait_serial(self, name, predicate, timeout, what, dom=None):
        """Poll the serial log until ``predicate(report)`` is true.

        :param what: words for the error message ("two VERIFY sweeps").
        :param dom: if given, fail early when this domain stops running.
        :returns: the :class:`~testbed.guest.serial.SerialReport`.
        :raises RuntimeError: on timeout, guest ERROR or kernel panic,
            with the log's tail.
        """
        deadline = time.monotonic() + timeout
        while True:
            report = self.serial(name)
            if predicate(report):
                return report
            problem = None
            if report.errors or report.panics:
                problem = 'the guest failed'
            elif dom is not None and not dom.isActive():
                problem = 'the domain stopped'
            elif time.monotonic() > deadline:
                problem = 'timed out after %ds' % timeout
            if problem:
                raise RuntimeError(
                    '%s: waiting for %s, %s; serial log '
                    'ends:\n%s' % (name, what, problem, self.serial_tail(name))
                )
            time.sleep(0.25)

    def serial_tail(self, name, chars=2000):
        """Last characters of the serial log, for error messages."""
        try:
            with open(self.serial_log(name), errors='replace') as f:
                return f.read()[-chars:]
        except FileNotFoundError:
            return '(no serial log)'

    def find_domain(self, name):
        """Return the host where ``name`` is active, or None."""
        for host in self.HOSTS:
            try:
                if self.connect(host).lookupByName(name).isActive():
                    return host
            except libvirtd.load_libvirt().libvirtError:
                pass  # not defined there
        return None

    def domain_names(self, host):
        """Names of every domain (active or only defined) on a host."""
        return sorted(d.name() for d in self.connect(host).listAllDomains())

    def set_bandwidth(self, name, mib_s, host=None):
        """Cap the migration bandwidth of a guest, in MiB/s, on its host."""
        host = host or self.find_domain(name)
        self.connect(host).lookupByName(name).migrateSetMaxSpeed(mib_s, 0)

    def destroy_guest(self, name):
        """Destroy and undefine ``name`` wherever it exists."""
        for host in self.HOSTS:
            for dom in self.connect(host).listAllDomains():
                if dom.name() != name:
                    continue
                persistent = dom.isPersistent()  # a transient one vanishes
                if dom.isActive():
                    dom.destroy()
                if persistent:
                    dom.undefine()
        for host in self.HOSTS:
            try:
                os.remove(self.disk_file(name, host))
            except FileNotFoundError:
                pass
