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
"""Real live migrations between the two namespaced libvirt hosts.

The guest proves its own memory: every written page is re-read after the
migration, so "alive" and "intact" are both measured, not assumed.  The
migration tests also give the guest a 2 GiB disk that it keeps writing
and re-reading, and block-migrate it (VIR_MIGRATE_NON_SHARED_DISK).
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from testbed.guest.spec import GuestSpec
from testbed import hosts
from testbed import libvirtd
from testbed import procs

libvirt = libvirtd.load_libvirt()
ROOT = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)

P2P_LIVE = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
BLOCK = P2P_LIVE | libvirt.VIR_MIGRATE_NON_SHARED_DISK
# 16 MiB at the tail of the 2 GiB disk, rewritten at 2 MiB/s (a pass in
# 8 s), re-read at 16 MiB/s (a DISK sweep a second)
DISK = dict(disk_mib=16, disk_rate_mib_s=2, disk_verify_mib_s=16)
# The first word of every block the guest writes (diskcheck.c MAGIC)
DISK_MAGIC = (0x4C4D4449534B3031).to_bytes(8, 'little')


def _migrate(pair, dom, dst, flags=P2P_LIVE):
    """Peer-to-peer migration, as nova's libvirt driver does it."""
    params = {libvirt.VIR_MIGRATE_PARAM_URI: pair.migration_uri(dst)}
    dom.migrateToURI3(pair.uri(dst), params, flags)


def _wait_after(pair, name, before, timeout=90):
    """Wait for 3 more heartbeats and 2 more complete VERIFY sweeps.

    The second sweep that ends after ``before`` started after it, so it
    re-read every page on the host that now runs the guest; the same
    holds for DISK sweeps of a guest with a disk.
    """
    disk = 2 if before.disk_start else 0
    return pair.wait_serial(
        name,
        lambda r: (
            len(r.verifies) >= len(before.verifies) + 2
            and len(r.heartbeats) >= len(before.heartbeats) + 3
            and len(r.disk_verifies) >= len(before.disk_verifies) + disk
        ),
        timeout,
        'heartbeats and two VERIFY (and DISK) sweeps after the event',
    )


def _assert_alive_and_intact(report, before, spec):
    new_beats = report.heartbeats[len(before.heartbeats) :]
    new_sweeps = report.verifies[len(before.verifies) :]
    assert not report.errors and not report.panics, report
    assert [b.t_s for b in new_beats] == sorted(b.t_s for b in new_beats)
    assert new_beats[-1].dirtied_mib > before.heartbeats[-1].dirtied_mib
    assert all(v.pages == spec.written_pages for v in new_sweeps)
    assert report.corrupt == 0, report.corrupt_pages
    if spec.disk_mib:
        new_disk = report.disk_verifies[len(before.disk_verifies) :]
        assert report.disk_start['size_mib'] >= 2048, report.disk_start
        assert all(v.blocks == spec.disk_mib * 256 for v in new_disk)
        assert report.disk_bad == 0, report.disk_bad_blocks


def test_hosts_are_distinct_and_reach_each_other_over_tcp(host_pair):
    for host, other in (('A', 'B'), ('B', 'A')):
        hostname = host_pair.run_in_host(host, ['hostname']).stdout.strip()
        assert hostname == host_pair.netns(host)
        peer = host_pair.run_in_host(
            host, ['virsh', '-c', host_pair.uri(other), 'hostname']
        )
        assert peer.stdout.strip() == host_pair.netns(other)
        caps = host_pair.connect(host).getCapabilities()
        assert '<uuid>%s</uuid>' % host_pair.host_uuid(host) in caps
    assert host_pair.host_uuid('A') != host_pair.host_uuid('B')


def test_guest_reports_injected_corruption(host_pair, guests):
    spec = GuestSpec(
        mem_mib=192,
        fill_mib=32,
        dirty_mib=8,
        dirty_rate_mib_s=10,
        inject_corrupt=3,
    )
    guests('inject', spec)
    report = host_pair.wait_serial(
        'inject', lambda r: r.verifies, 60, 'a VERIFY sweep'
    )
    assert report.verifies[0].corrupt == 3
    assert len(report.corrupt_pages) == 3


def test_plain_migration_converges_with_guest_intact(host_pair, guests):
    # A block migration: memory and the 2 GiB disk the guest writes.
    spec = GuestSpec(
        mem_mib=512, fill_mib=320, dirty_mib=16, dirty_rate_mib_s=10, **DISK
    )
    dom = guests('plain', spec)
    host_pair.wait_serial(
        'plain',
        lambda r: r.verifies and r.disk_verifies,
        60,
        'a VERIFY and a DISK sweep',
    )

    _migrate(host_pair, dom, 'B', BLOCK)
    after = host_pair.serial('plain')

    assert host_pair.find_domain('plain') == 'B'
    assert host_pair.domain_names('A') == []
    moved = host_pair.connect('B').lookupByName('plain')
    assert moved.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    stats = moved.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    assert stats['memory_total'] >= spec.mem_mib * 2**20  # + ROMs
    # libvirt's completed stats leave NBD storage out: read the copy.
    region = host_pair.disk_region(spec)
    assert host_pair.read_disk('plain', 'B', region, 8) == DISK_MAGIC
    _assert_alive_and_intact(
        _wait_after(host_pair, 'plain', after), after, spec
    )


def test_abort_of_capped_migration_keeps_guest_on_source(host_pair, guests):
    # 64 MiB rewritten at 100 MiB/s over a 20 MiB/s link never fits the
    # default 300 ms downtime: the migration cannot converge on its own.
    spec = GuestSpec(mem_mib=256, dirty_mib=64, dirty_rate_mib_s=100)
    dom = guests('abort', spec)
    host_pair.set_bandwidth('abort', 20)
    outcome = {}

    def migrate():
        try:
            _migrate(host_pair, dom, 'B')
            outcome['error'] = None
        except libvirt.libvirtError as exc:
            outcome['error'] = exc

    thread = threading.Thread(target=migrate)
    thread.start()
    try:
        stats, deadline = {}, time.monotonic() + 60
        while stats.get('memory_iteration', 0) < 2:
            assert thread.is_alive(), 'migration ended early: %s' % outcome
            assert time.monotonic() < deadline, 'no second pass: %s' % stats
            time.sleep(0.25)
            stats = dom.jobStats()
        assert stats['memory_remaining'] > 0
        dom.abortJob()
        thread.join(60)
    finally:
        if thread.is_alive():
            dom.abortJob()
            thread.join(60)
    before = host_pair.serial('abort')

    error = outcome['error']
    assert error is not None, 'the migration completed despite the cap'
    assert error.get_error_code() == libvirt.VIR_ERR_OPERATION_ABORTED
    assert host_pair.find_domain('abort') == 'A'
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert host_pair.domain_names('B') == []
    _assert_alive_and_intact(
        _wait_after(host_pair, 'abort', before), before, spec
    )


def test_abort_of_block_migration_keeps_source_disk_intact(host_pair, guests):
    # Aborted while the 2 GiB disk is half copied (libvirt copies storage
    # before memory, all of it against the 20 MiB/s cap): the guest goes
    # on with its disk on the source, which must have lost nothing.
    spec = GuestSpec(mem_mib=192, dirty_mib=8, dirty_rate_mib_s=10, **DISK)
    dom = guests('diskabort', spec)
    host_pair.wait_serial(
        'diskabort', lambda r: r.disk_verifies, 60, 'a DISK sweep'
    )
    host_pair.set_bandwidth('diskabort', 20)
    outcome = {}

    def migrate():
        try:
            _migrate(host_pair, dom, 'B', BLOCK)
            outcome['error'] = None
        except libvirt.libvirtError as exc:
            outcome['error'] = exc

    thread = threading.Thread(target=migrate)
    thread.start()
    try:
        stats, deadline = {}, time.monotonic() + 60
        while stats.get('disk_processed', 0) < 64 << 20:
            assert thread.is_alive(), 'migration ended early: %s' % outcome
            assert time.monotonic() < deadline, 'no disk copy: %s' % stats
            time.sleep(0.25)
            stats = dom.jobStats()
        assert stats['disk_remaining'] > 0, stats
        dom.abortJob()
        thread.join(60)
    finally:
        if thread.is_alive():
            dom.abortJob()
            thread.join(60)
    before = host_pair.serial('diskabort')

    error = outcome['error']
    assert error is not None, 'the migration completed despite the cap'
    assert error.get_error_code() == libvirt.VIR_ERR_OPERATION_ABORTED
    assert host_pair.find_domain('diskabort') == 'A'
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    after = _wait_after(host_pair, 'diskabort', before)
    _assert_alive_and_intact(after, before, spec)

    # The disk checker reads the device: a byte the host flips while the
    # guest is paused shows up in its next sweep.
    dom.suspend()
    host_pair.corrupt_disk_block('diskabort', 'A', 100, spec)
    dom.resume()
    report = host_pair.wait_serial(
        'diskabort',
        lambda r: r.disk_bad,
        30,
        'the guest to find the damaged disk block',
    )
    assert report.disk_bad_blocks == ((100, 'corrupt'),)


def test_down_after_crash_leaves_nothing_and_spares_other_pairs(
    host_pair, guest_image
):
    # Another process makes a second pair and exits, as a crashed run would.
    cli = [
        sys.executable,
        '-m',
        'testbed.hosts',
        '--prefix',
        'lmt',
        '--subnet',
        '10.77.1',
    ]
    subprocess.run(cli + ['up'], cwd=ROOT, check=True, capture_output=True)
    other = hosts.HostPair(prefix='lmt', subnet='10.77.1')
    try:
        other.start_guest(
            'crashed',
            GuestSpec(mem_mib=128, dirty_mib=8, dirty_rate_mib_s=10),
            guest_image,
        )
        daemons = {
            other.anchor_pid('A'),
            other.anchor_pid('B'),
            other.libvirtd_pid('A'),
            other.libvirtd_pid('B'),
        }
        qemu = [p for p in other.processes() if p not in daemons]
        assert len(qemu) == 1
        other.stop_libvirtd('A', signal.SIGKILL)  # QEMU outlives its daemon
        assert procs.is_alive(qemu[0])
    except BaseException:
        other.down()
        raise
    other.close()

    # A fresh object knows only the names.
    left = hosts.HostPair(prefix='lmt', subnet='10.77.1').down()

    assert left == []
    netns = subprocess.run(
        ['ip', 'netns', 'list'], capture_output=True, text=True, check=True
    ).stdout
    assert 'lmtA' not in netns and 'lmtB' not in netns
    links = subprocess.run(
        ['ip', '-o', 'link', 'show'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert 'lmtbr0' not in links and 'lmtA-br' not in links
    assert not any(procs.is_alive(p) for p in daemons | set(qemu))
    # The session's own hosts are untouched, and nobody else may take
    # them down while this session owns them.
    assert host_pair.connect('A').getHostname() == host_pair.netns('A')
    with pytest.raises(RuntimeError, match='in use by another process'):
        hosts.HostPair(prefix=host_pair.prefix).down()
    assert host_pair.libvirtd_pid('A') and host_pair.libvirtd_pid('B')
