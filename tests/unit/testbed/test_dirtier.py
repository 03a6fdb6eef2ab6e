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
import subprocess
import tempfile
import time
import unittest

from testbed.guest import serial
from testbed.guest import spec as guest_spec

SOURCE = os.path.join(os.path.dirname(guest_spec.__file__), 'dirtier.c')
SHIM = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
int __real_open(const char *path, int flags, ...);
int __wrap_open(const char *path, int flags, ...)
{
    if (!strcmp(path, "/proc/cmdline"))
        return __real_open(getenv("DIRTIER_CMDLINE"), O_RDONLY);
    if (!strcmp(path, "/dev/console"))
        return -1;
    return __real_open(path, flags);
}
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
                SOURCE,
                shim,
                '-Wl,--wrap=open,--wrap=mount,--wrap=mkdir',
            ],
            check=True,
        )

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def _run(self, spec, seconds):
        """Run the dirtier on ``spec``'s command line; parse its output."""
        path = os.path.join(self.tmp, 'cmdline')
        with open(path, 'w') as f:
            f.write(guest_spec.kernel_cmdline(spec) + '\n')
        proc = subprocess.Popen(
            [self.binary],
            stdout=subprocess.PIPE,
            env=dict(os.environ, DIRTIER_CMDLINE=path),
        )
        time.sleep(seconds)
        proc.kill()
        out = proc.communicate()[0].decode()
        return serial.parse_serial(out)

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
                env=dict(os.environ, DIRTIER_CMDLINE=path),
            )
            time.sleep(0.3)
            proc.kill()
            report = serial.parse_serial(proc.communicate()[0].decode())
            self.assertEqual(len(report.errors), 1, text)
            self.assertIn(words, report.errors[0])
            self.assertFalse(report.ready)
