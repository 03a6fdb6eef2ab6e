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
"""dirtier.c run as an ordinary process: parsing, phases, checking.

The guest's init is built natively with a link-time shim that hands it a
command line from a file and makes its mounts no-ops, so its schedule
parser, rate keeping and page checker run in seconds without a guest.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from testbed.guest import build
from testbed.guest import serial
from testbed.guest import spec as guest_spec

# The disk is a plain file here: no O_DIRECT (tmpfs refuses it), its
# size from fstat, and module loading a no-op.
SHIM = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
int __real_open(const char *path, int flags, ...);
int __real_ioctl(int fd, unsigned long request, ...);
int __wrap_open(const char *path, int flags, ...)
{
    if (!strcmp(path, "/proc/cmdline"))
        return __real_open(getenv("DIRTIER_CMDLINE"), O_RDONLY);
    if (!strcmp(path, "/dev/console"))
        return -1;
    if (!strncmp(path, "/lib/modules/", 13))
        return __real_open("/dev/null", O_RDONLY);
    if (!strcmp(path, "/dev/vda"))
        return __real_open(getenv("DIRTIER_DISK"), O_RDWR);
    return __real_open(path, flags);
}
int __wrap_ioctl(int fd, unsigned long request, uint64_t *size)
{
    struct stat st;
    if (request != BLKGETSIZE64 || fstat(fd, &st))
        return -1;
    *size = st.st_size;
    return 0;
}
long __wrap_syscall(long n, ...) { return 0; }
int __wrap_mount(void) { return 0; }
int __wrap_mkdir(void) { return 0; }
"""


class TestDirtier(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which('gcc') is None:
            raise AssertionError('gcc is needed to build dirtier.c')
        cls.tmp = tempfile.mkdtemp(prefix='dirtier-')
        shim = os.path.join(cls.tmp, 'shim.c')
        with open(shim, 'w') as f:
            f.write(SHIM)
        cls.binary = os.path.join(cls.tmp, 'dirtier')
        subprocess.run(
            [
                'gcc',
                '-O2',
                '-Wall',
                '-Werror',
                '-o',
                cls.binary,
                *build.SOURCES,
                shim,
                '-Wl,--wrap=open,--wrap=mount,--wrap=mkdir,--wrap=ioctl,'
                '--wrap=syscall',
            ],
            check=True,
        )

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def _run(self, spec, seconds):
        """Run the dirtier on ``spec``'s command line; parse its output."""
        proc = self._start(spec)
        time.sleep(seconds)
        proc.kill()
        out = proc.communicate()[0].decode()
        return serial.parse_serial(out)

    def _start(self, spec):
        path = os.path.join(self.tmp, 'cmdline')
        with open(path, 'w') as f:
            f.write(guest_spec.kernel_cmdline(spec) + '\n')
        return subprocess.Popen(
            [self.binary],
            stdout=subprocess.PIPE,
            env=dict(
                os.environ,
                DIRTIER_CMDLINE=path,
                DIRTIER_DISK=os.path.join(self.tmp, 'disk'),
            ),
        )

    def test_constant_workload_keeps_its_lines_and_rate(self):
        spec = guest_spec.GuestSpec(
            mem_mib=256, fill_mib=2, dirty_mib=2, dirty_rate_mib_s=6
        )
        report = self._run(spec, 2.4)
        self.assertEqual(
            report.start,
            dict(
                report.start,
                fill_mib=2,
                dirty_mib=2,
                dirty_rate=6,
                verify_rate=256,
            ),
        )
        self.assertTrue(report.healthy, report)
        beats = report.heartbeats
        self.assertEqual([b.t_s for b in beats], [1, 2])
        self.assertTrue(all(b.stage is None for b in beats))
        self.assertLessEqual(abs(beats[-1].dirtied_mib - 12), 1)
        self.assertTrue(all(v.pages == 4 * 256 for v in report.verifies))

    def test_schedule_dirties_each_set_at_its_phase_rate(self):
        # hot 2 MiB at 8 MiB/s for 1 s, then warm 1 MiB at 3 MiB/s for 1 s
        spec = guest_spec.GuestSpec(
            mem_mib=256,
            fill_mib=1,
            **guest_spec.schedule_fields((2, 1), [(1, (8, 0)), (1, (0, 3))]),
        )
        report = self._run(spec, 3.4)
        self.assertTrue(report.healthy, report)
        self.assertEqual(report.start['sets'], 2)
        self.assertEqual(report.start['dirty_mib'], 3)
        beats = report.heartbeats
        self.assertEqual([b.t_s for b in beats], [1, 2, 3])
        self.assertEqual([b.stage for b in beats], [1, 0, 1])  # repeats
        deltas = [b.dirtied_mib for b in beats]
        deltas = [deltas[0]] + [b - a for a, b in zip(deltas, deltas[1:])]
        expected = [8, 3, 8]
        for got, want in zip(deltas, expected):
            self.assertLessEqual(abs(got - want), 1, deltas)
        self.assertTrue(all(v.pages == 4 * 256 for v in report.verifies))

    def test_step_schedule_stays_in_its_last_stage(self):
        spec = guest_spec.GuestSpec(
            mem_mib=256,
            **guest_spec.schedule_fields(
                (4,), [(1, (2,)), (float('inf'), (6,))], repeat=False
            ),
        )
        report = self._run(spec, 2.4)
        self.assertTrue(report.healthy, report)
        self.assertEqual(report.start['repeat'], 0)
        beats = report.heartbeats
        self.assertEqual([b.stage for b in beats], [1, 1])
        totals = [b.dirtied_mib for b in beats]
        self.assertLessEqual(abs(totals[0] - 2), 1, totals)
        self.assertLessEqual(abs(totals[1] - totals[0] - 6), 1, totals)

    def test_checker_finds_damage_in_idle_and_busy_sets(self):
        # The warm set is never rewritten: only the sweep can find damage
        # there; the hot set's damage may be found by either check.
        spec = guest_spec.GuestSpec(
            mem_mib=256,
            fill_mib=1,
            inject_corrupt=4,
            **guest_spec.schedule_fields(
                (1, 1, 1), [(0.5, (4, 0, 0)), (0.5, (0, 0, 2))]
            ),
        )
        report = self._run(spec, 1.5)
        self.assertEqual(report.verifies[0].corrupt, 4)
        self.assertEqual(
            sorted(report.corrupt_pages),
            [('cold', 0), ('fill', 0), ('hot', 0), ('warm', 0)],
        )

    def test_disk_checker_finds_corrupt_and_stale_blocks(self):
        # A 4 MiB "disk" whose last MiB is rewritten at 4 MiB/s; while the
        # program is stopped, block 3 gets one bad byte and block 10 its
        # first (generation 0) content back, as a lost write would leave.
        spec = guest_spec.GuestSpec(
            mem_mib=256,
            dirty_mib=1,
            dirty_rate_mib_s=1,
            disk_mib=1,
            disk_rate_mib_s=4,
            disk_verify_mib_s=8,
        )
        disk = os.path.join(self.tmp, 'disk')
        with open(disk, 'wb') as f:
            f.truncate(4 << 20)
        region = 3 << 20
        proc = self._start(spec)
        try:
            time.sleep(0.3)
            with open(disk, 'rb') as f:
                f.seek(region + 10 * 4096)
                old = f.read(4096)
            time.sleep(0.7)  # two more passes: block 10 is past gen 0
            os.kill(proc.pid, signal.SIGSTOP)
            with open(disk, 'r+b') as f:
                f.seek(region + 3 * 4096 + 2000)
                byte = f.read(1)
                f.seek(region + 3 * 4096 + 2000)
                f.write(bytes([byte[0] ^ 0x40]))
                f.seek(region + 10 * 4096)
                f.write(old)
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.6)
        finally:
            proc.kill()
        report = serial.parse_serial(proc.communicate()[0].decode())
        self.assertEqual(
            report.disk_start,
            dict(report.disk_start, dev='vda', size_mib=4, off_mib=3),
        )
        self.assertEqual(report.disk_verifies[0].corrupt, 0)
        self.assertEqual(report.disk_verifies[0].blocks, 256)
        last = report.disk_verifies[-1]
        self.assertEqual((last.corrupt, last.stale), (1, 1), report)
        self.assertEqual(
            sorted(report.disk_bad_blocks), [(3, 'corrupt'), (10, 'stale')]
        )
        self.assertFalse(report.healthy)

    def test_bad_schedule_is_an_error_line(self):
        path = os.path.join(self.tmp, 'bad')
        for text, words in (
            ('dirtier.sets=4,4 dirtier.stages=1:5', 'one rate per'),
            ('dirtier.sets=4 dirtier.stages=inf:5,1:0', 'for ever'),
            ('dirtier.sets=4,4,4,4 dirtier.stages=1:1', 'three'),
            ('dirtier.sets=4', 'no stages'),
        ):
            with open(path, 'w') as f:
                f.write('console=ttyS0 %s\n' % text)
            proc = subprocess.Popen(
                [self.binary],
                stdout=subprocess.PIPE,
                env=dict(
                    os.environ,
                    DIRTIER_CMDLINE=path,
                    DIRTIER_DISK=os.path.join(self.tmp, 'disk'),
                ),
            )
            time.sleep(0.3)
            proc.kill()
            report = serial.parse_serial(proc.communicate()[0].decode())
            self.assertEqual(len(report.errors), 1, text)
            self.assertIn(words, report.errors[0])
            self.assertFalse(report.ready)
