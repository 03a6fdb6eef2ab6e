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
"""Pure parts of the test guest: spec, kernel command line, XML, log, image."""

import gzip
import os
import types
import unittest
from xml.etree import ElementTree

from testbed.guest import build
from testbed.guest import disk
from testbed.guest import serial
from testbed.guest import spec as guest_spec

LOG = """SeaBIOS (version 1.16.3)
[    0.812] Run /init as init process
START fill_mib=32 dirty_mib=8 dirty_rate=10 verify_rate=256 available_mib=123
READY pages=10240 setup_s=0.01
HEARTBEAT t=1 dirtied_mib=10 pass=2 cycles=0 corrupt=0
VERIFY cycle=1 pages=10240 corrupt=0 t=1.2
[    3.100] crng done HEARTBEAT t=2 dirtied_mib=20 pass=3 cycles=1 corrupt=0
CORRUPT region=fill page=7 gen=0
VERIFY cycle=2 pages=10240 corrupt=1 t=2.4
HEARTBEAT t=3 dirtied_mib=29 pass=4 cycles=2 corrupt=1 stage=1
HEARTBEAT t=4 dirtied_"""


def _cpio_names(archive):
    """Names and modes in a newc archive (enough to check our writer)."""
    raw, pos, found = gzip.decompress(archive), 0, {}
    while True:
        head = raw[pos : pos + 110]
        assert head[:6] == b'070701'
        mode, size, namesize = (
            int(head[6 + 8 * i : 14 + 8 * i], 16) for i in (1, 6, 11)
        )
        name = raw[pos + 110 : pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        if name == 'TRAILER!!!':
            return found
        found[name] = (mode, raw[pos : pos + size])
        pos += size + (-size % 4)


class TestGuestSpec(unittest.TestCase):
    def test_cmdline_carries_every_knob(self):
        spec = guest_spec.GuestSpec(
            mem_mib=512,
            fill_mib=320,
            dirty_mib=16,
            dirty_rate_mib_s=10,
            inject_corrupt=2,
        )
        line = guest_spec.kernel_cmdline(spec)
        for part in (
            'console=ttyS0',
            'dirtier.fill_mb=320',
            'dirtier.dirty_mb=16',
            'dirtier.dirty_rate=10',
            'dirtier.verify_rate=256',
            'dirtier.inject_corrupt=2',
        ):
            self.assertIn(part, line.split())
        self.assertEqual(spec.written_pages, 336 * 256)

    def test_spec_rejects_workload_larger_than_guest(self):
        with self.assertRaisesRegex(ValueError, 'does not fit'):
            guest_spec.GuestSpec(mem_mib=512, fill_mib=400, dirty_mib=64)
        with self.assertRaisesRegex(ValueError, 'negative'):
            guest_spec.GuestSpec(dirty_rate_mib_s=-1)

    def test_constant_cmdline_is_unchanged(self):
        # Recorded calibration traces and the mini-cloud's images depend on
        # this exact text.
        spec = guest_spec.GuestSpec(mem_mib=512, dirty_mib=64)
        self.assertEqual(
            guest_spec.kernel_cmdline(spec),
            'console=ttyS0 panic=-1 loglevel=4 dirtier.fill_mb=0 '
            'dirtier.dirty_mb=64 dirtier.dirty_rate=100 '
            'dirtier.verify_rate=256 dirtier.inject_corrupt=0',
        )
        self.assertEqual(disk.image_name(spec), 'lm-d64-r100')

    def test_schedule_goes_on_the_cmdline_instead_of_the_rate(self):
        spec = guest_spec.GuestSpec(
            mem_mib=256,
            fill_mib=32,
            **guest_spec.schedule_fields(
                (16.2, 8, 0.3), [(2.5, (40, 0, 1)), (1.0 / 3, (0, 12, 0.5))]
            ),
        )
        self.assertEqual(
            guest_spec.kernel_cmdline(spec),
            'console=ttyS0 panic=-1 loglevel=4 dirtier.fill_mb=32 '
            'dirtier.sets=16,8,1 '
            'dirtier.stages=2.5:40/0/1,0.3333333:0/12/0.5 '
            'dirtier.repeat=1 dirtier.verify_rate=256 '
            'dirtier.inject_corrupt=0',
        )
        # sets rounded to whole MiB; the mean over one period, rounded
        self.assertEqual(spec.dirty_mib, 25)
        mean = (2.5 * 41 + 12.5 / 3) / (2.5 + 1.0 / 3)
        self.assertEqual(spec.dirty_rate_mib_s, round(mean))
        self.assertEqual(spec.written_pages, 57 * 256)
        name = disk.image_name(spec)
        self.assertRegex(name, r'^lm-d25-r38-f32-p[0-9a-f]{8}$')
        other = guest_spec.GuestSpec(
            mem_mib=256,
            fill_mib=32,
            **guest_spec.schedule_fields(
                (16, 8, 1), [(2.5, (40, 0, 1)), (0.4, (0, 12, 0.5))]
            ),
        )
        self.assertNotEqual(disk.image_name(other), name)

    def test_schedule_stage_at_repeats_or_stays_in_the_last_stage(self):
        bursts = guest_spec.GuestSchedule((32,), ((3, (40,)), (3, (0,))))
        self.assertEqual(
            [bursts.stage_at(t) for t in (0, 2.9, 3, 5.9, 6, 9.5)],
            [0, 0, 1, 1, 0, 1],
        )
        self.assertEqual(bursts.mean_rate_mib_s(), 20)
        step = guest_spec.GuestSchedule(
            (32,), ((5, (10,)), (float('inf'), (40,))), repeat=False
        )
        self.assertEqual([step.stage_at(t) for t in (4, 5, 1e6)], [0, 1, 1])
        self.assertEqual(step.mean_rate_mib_s(), 40)
        self.assertIn('5:10,inf:40 dirtier.repeat=0', step.cmdline())

    def test_schedule_rejects_what_the_dirtier_cannot_run(self):
        for sets, stages, repeat, words in (
            ((), ((1, ()),), True, 'one to three'),
            ((1, 1, 1, 1), ((1, (1, 1, 1, 1)),), True, 'one to three'),
            ((1.5,), ((1, (1,)),), True, 'whole MiB'),
            ((4,), ((1, (1, 2)),), True, 'one rate per'),
            ((4,), ((0, (1,)),), True, 'positive'),
            ((4,), ((float('inf'), (1,)),), True, 'inf'),
            ((4,), ((float('inf'), (1,)), (1, (1,))), False, 'inf'),
            ((4,), ((1, (-1,)),), True, '>= 0'),
            ((4,), ((1, (1,)),) * 33, True, '1 to 32'),
        ):
            with self.assertRaisesRegex(ValueError, words):
                guest_spec.GuestSchedule(sets, stages, repeat)

    def test_spec_with_schedule_checks_size_rate_and_length(self):
        fields = guest_spec.schedule_fields((64,), [(1, (10,)), (1, (0,))])
        with self.assertRaisesRegex(ValueError, 'must be 64 and 5'):
            guest_spec.GuestSpec(schedule=fields['schedule'])
        with self.assertRaisesRegex(ValueError, 'does not fit'):
            guest_spec.GuestSpec(mem_mib=128, **fields)
        # 32 stages of 3 sets fit the 2048-byte x86 command line ...
        wide = [(1.234567, (1.234567, 2.345678, 3.456789))] * 32
        spec = guest_spec.GuestSpec(
            **guest_spec.schedule_fields((1, 2, 3), wide)
        )
        self.assertLessEqual(
            len(guest_spec.kernel_cmdline(spec)), guest_spec.CMDLINE_MAX
        )
        # ... and a spec that would not is refused.
        old = guest_spec.CMDLINE_MAX
        guest_spec.CMDLINE_MAX = 200
        try:
            with self.assertRaisesRegex(ValueError, 'command line'):
                guest_spec.GuestSpec(
                    **guest_spec.schedule_fields((1, 2, 3), wide)
                )
        finally:
            guest_spec.CMDLINE_MAX = old

    def test_workload_fields_reads_a_simulator_workload(self):
        mib = guest_spec.MIB
        stage = types.SimpleNamespace
        phased = types.SimpleNamespace(
            sets=(32.0 * mib, 0.4 * mib),
            stages=(
                stage(duration_s=3.0, rates_bps=(40.0 * mib, 0.0)),
                stage(duration_s=3.0, rates_bps=(0.0, 2.0 * mib)),
            ),
            repeat=True,
        )
        fields = guest_spec.workload_fields(phased)
        self.assertEqual(
            fields['schedule'],
            guest_spec.GuestSchedule(
                (32, 1), ((3, (40, 0)), (3, (0, 2))), True
            ),
        )
        self.assertEqual(
            (fields['dirty_mib'], fields['dirty_rate_mib_s']), (33, 21)
        )
        constant = types.SimpleNamespace(
            sets=(),
            stages=(),
            repeat=True,
            wws_bytes=64 * mib,
            dirty_rate_bps=100.4 * mib,
        )
        self.assertEqual(
            guest_spec.workload_fields(constant),
            {'dirty_mib': 64, 'dirty_rate_mib_s': 100, 'schedule': None},
        )
        spec = guest_spec.GuestSpec(**guest_spec.workload_fields(constant))
        self.assertEqual(spec, guest_spec.GuestSpec())
        self.assertEqual(hash(spec), hash(guest_spec.GuestSpec()))

    def test_domain_xml_is_a_diskless_tcg_guest(self):
        spec = guest_spec.GuestSpec(mem_mib=256, dirty_mib=8)
        xml = guest_spec.domain_xml(
            'g<1>', spec, '/srv/k', '/srv/i', "/srv/it's.log", uuid='u-1'
        )
        root = ElementTree.fromstring(xml)
        self.assertEqual(root.get('type'), 'qemu')
        self.assertEqual(root.findtext('name'), 'g<1>')
        self.assertEqual(root.findtext('uuid'), 'u-1')
        self.assertEqual(root.findtext('memory'), '256')
        self.assertEqual(
            root.findtext('os/cmdline'), guest_spec.kernel_cmdline(spec)
        )
        source = root.find('devices/serial/source')
        self.assertEqual(source.get('path'), "/srv/it's.log")
        self.assertEqual(source.get('append'), 'on')
        self.assertIsNone(root.find('devices/disk'))

    def test_disk_workload_goes_on_the_cmdline_and_disk_in_the_xml(self):
        spec = guest_spec.GuestSpec(
            mem_mib=256,
            dirty_mib=8,
            disk_mib=16,
            disk_rate_mib_s=2,
            disk_verify_mib_s=16,
        )
        plain = guest_spec.GuestSpec(mem_mib=256, dirty_mib=8)
        self.assertEqual(
            guest_spec.kernel_cmdline(spec),
            guest_spec.kernel_cmdline(plain)
            + ' dirtier.disk=vda dirtier.disk_mb=16 dirtier.disk_rate=2 '
            'dirtier.disk_verify=16',
        )
        xml = guest_spec.domain_xml(
            'g', spec, '/k', '/i', '/l', disk='/var/lib/g.qcow2'
        )
        disk = ElementTree.fromstring(xml).find('devices/disk')
        self.assertEqual(disk.find('source').get('file'), '/var/lib/g.qcow2')
        self.assertEqual(disk.find('target').get('dev'), 'vda')
        self.assertEqual(disk.find('driver').get('type'), 'qcow2')
        with self.assertRaises(ValueError):
            guest_spec.GuestSpec(disk_mib=-1)


class TestParseSerial(unittest.TestCase):
    def test_parse_serial_reads_interleaved_lines_and_skips_partial(self):
        report = serial.parse_serial(LOG)
        self.assertTrue(report.ready)
        self.assertEqual(report.start['available_mib'], 123)
        self.assertEqual([h.t_s for h in report.heartbeats], [1, 2, 3])
        self.assertEqual([h.stage for h in report.heartbeats], [None, None, 1])
        self.assertEqual(
            report.verifies[1],
            serial.Verify(cycle=2, pages=10240, corrupt=1, t_s=2.4),
        )
        self.assertEqual(report.corrupt_pages, (('fill', 7),))
        self.assertEqual(report.corrupt, 1)
        self.assertFalse(report.healthy)

    def test_parse_serial_reads_disk_lines(self):
        report = serial.parse_serial(
            'DISKSTART dev=vda size_mib=2048 off_mib=2032 blocks=4096 '
            'rate=2 verify_rate=16\n'
            'DISKREADY blocks=4096 setup_s=0.40\n'
            'DISK cycle=1 blocks=4096 corrupt=0 stale=0 t=1.0\n'
            'DISKBAD block=100 kind=corrupt gen=3 found=3\n'
            'DISK cycle=2 blocks=4096 corrupt=1 stale=0 t=2.0\n'
        )
        self.assertEqual(report.disk_start['size_mib'], 2048)
        self.assertEqual(report.disk_start['dev'], 'vda')
        self.assertEqual(
            report.disk_verifies[1],
            serial.DiskVerify(
                cycle=2, blocks=4096, corrupt=1, stale=0, t_s=2.0
            ),
        )
        self.assertEqual(report.disk_bad_blocks, ((100, 'corrupt'),))
        self.assertEqual(report.disk_bad, 1)
        self.assertEqual(report.corrupt, 0)  # memory is another matter

    def test_parse_serial_reports_errors_and_panics(self):
        report = serial.parse_serial(
            'ERROR fill_mib+dirty_mib=512 does not fit\n'
            '[ 2.9] Kernel panic - not syncing: System is deadlocked\n'
        )
        self.assertEqual(len(report.errors), 1)
        self.assertEqual(len(report.panics), 1)
        self.assertFalse(report.healthy)
        self.assertEqual(serial.parse_serial('').corrupt, 0)

    def test_a_frozen_guests_lockup_reports_are_not_damage(self):
        """Seen after a post-copy link cut: a vCPU blocked on a missing
        page for 22 s; a real panic stays damage.
        """
        lockup = (
            '[   60.98] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! '
            '[init:1]'
        )
        report = serial.parse_serial(
            lockup + '\n[ 61.0] BUG: workqueue lockup - pool cpus=0\n'
        )
        self.assertEqual(len(report.panics), 2)
        self.assertEqual(report.damage, ())
        report = serial.parse_serial(
            lockup + '\n[ 62.0] Oops: general protection fault\n'
        )
        self.assertEqual(
            report.damage, ('[ 62.0] Oops: general protection fault',)
        )


class TestBuild(unittest.TestCase):
    def test_initramfs_is_reproducible_and_holds_init(self):
        first = build.make_initramfs(b'\x7fELF-init')
        self.assertEqual(first, build.make_initramfs(b'\x7fELF-init'))
        names = _cpio_names(first)
        self.assertEqual(sorted(names), ['dev', 'dev/console', 'init', 'proc'])
        self.assertEqual(names['init'], (0o100755, b'\x7fELF-init'))
        self.assertEqual(names['dev/console'][0], 0o020600)

    def test_initramfs_carries_the_modules_diskcheck_loads(self):
        image = build.make_initramfs(b'init', [('virtio_blk.ko', b'ko')])
        names = _cpio_names(image)
        self.assertEqual(names['lib/modules/virtio_blk.ko'], (0o100644, b'ko'))
        with open(
            os.path.join(os.path.dirname(build.SOURCE), 'diskcheck.c')
        ) as f:
            source = f.read()
        for rel in build.MODULES:  # the order diskcheck.c loads them in
            self.assertIn('"%s"' % os.path.basename(rel)[:-3], source)

    def test_input_key_changes_with_any_input(self):
        base = (('linux-image-x', '1'), 'src', 'builder', 'gcc 12')
        key = build.input_key(*base)
        self.assertEqual(key, build.input_key(*base))
        for i, changed in enumerate(
            (('linux-image-x', '2'), 'src2', 'builder2', 'gcc 13')
        ):
            args = list(base)
            args[i] = changed
            self.assertNotEqual(key, build.input_key(*args))
