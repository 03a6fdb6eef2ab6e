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
"""End to end through the real ``openstack`` CLI: nova boots the dirtying,
self-verifying guest from its glance disk image (deep image inspection on) on
host A, live-migrates it to host B with our driver deciding, and the guest's
own console log proves it kept running with its memory intact.

Why the console log: it is the only channel out of the guest; the destination
QEMU writes a new file, so every line nova shows after the migration was
written on host B.  The guest also writes the tail of its 2 GiB root disk,
which nova block-migrates, and re-reads it there.
"""

import subprocess
import time

from testbed.cloud import computes
from testbed.guest import disk
from testbed.guest import serial
from tests.functional.cloud import servers

WORKLOAD = computes.WORKLOADS[0]


def _console(c, server):
    return c.openstack('console', 'log', 'show', server).stdout


def _domains(c, letter):
    r = subprocess.run(
        ['virsh', '-c', c.pair.local_uri(letter), 'list', '--uuid'],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(r.stdout.split())


def test_deep_image_inspection_stays_on(libvirt_cloud):
    for host in libvirt_cloud.hosts:
        with open(computes.conf_path(libvirt_cloud.layout, host)) as f:
            assert 'disable_deep_image_inspection' not in f.read()


def test_live_migration_keeps_the_guest_running_and_intact(libvirt_cloud):
    c = libvirt_cloud
    src, dst = c.hosts
    name = 'lm-e2e-%d' % int(time.time())
    t0 = time.monotonic()
    server = c.openstack_json(
        'server',
        'create',
        '--flavor',
        computes.FLAVOR[0],
        '--image',
        disk.image_name(WORKLOAD),
        '--nic',
        'none',
        '--availability-zone',
        'nova:' + src,
        '--wait',
        name,
    )
    sid = server['id']
    try:
        assert server['status'] == 'ACTIVE', server
        assert server['OS-EXT-SRV-ATTR:host'] == src, server
        before = servers.wait_for(
            'two heartbeats on %s' % src,
            lambda: (lambda r: r if len(r.heartbeats) >= 2 else None)(
                serial.parse_serial(_console(c, sid))
            ),
            120,
        )
        booted = time.monotonic() - t0
        assert before.healthy, before
        assert before.start.get('dirty_mib') == WORKLOAD.dirty_mib
        assert before.disk_start['size_mib'] >= 2048, before.disk_start
        assert sid in _domains(c, 'A')

        t1 = time.monotonic()
        r = c.openstack(
            'server',
            'migrate',
            '--live-migration',
            '--host',
            dst,
            '--wait',
            sid,
            check=False,
            timeout=900,
        )
        migrated = time.monotonic() - t1
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

        show = c.openstack_json('server', 'show', sid)
        assert show['status'] == 'ACTIVE', show['status']
        assert show['OS-EXT-SRV-ATTR:host'] == dst
        assert show['OS-EXT-SRV-ATTR:hypervisor_hostname'] == dst
        migs = c.openstack_json('server', 'migration', 'list', '--server', sid)
        statuses = [m.get('Status', m.get('status')) for m in migs]
        assert statuses == ['completed'], migs
        assert sid in _domains(c, 'B') and sid not in _domains(c, 'A')

        last_before = before.heartbeats[-1].t_s
        after = servers.wait_for(
            'a heartbeat, a full VERIFY and two DISK sweeps on %s' % dst,
            lambda: (
                lambda r: (
                    r
                    if len(r.heartbeats) >= 2
                    and r.verifies
                    and len(r.disk_verifies) >= 2
                    else None
                )
            )(serial.parse_serial(_console(c, sid))),
            120,
        )
        # the guest did not reboot: its clock goes on from the source's
        assert after.heartbeats[0].t_s >= last_before, (before, after)
        assert not after.errors and not after.panics, after
        assert after.corrupt == 0, after
        assert all(
            v.corrupt == 0 and v.pages == WORKLOAD.written_pages
            for v in after.verifies
        ), after.verifies
        # every block of the disk region, re-read on the destination
        assert after.disk_bad == 0, after.disk_bad_blocks
        assert all(
            v.blocks == WORKLOAD.disk_mib * 256 for v in after.disk_verifies
        ), after.disk_verifies
        print(
            '\nboot to two heartbeats %.1f s, live migration (CLI) %.1f s, '
            'cloud RSS %.2f GiB' % (booted, migrated, c.rss_bytes() / 2**30)
        )
    finally:
        c.openstack('server', 'delete', '--wait', sid, check=False)
