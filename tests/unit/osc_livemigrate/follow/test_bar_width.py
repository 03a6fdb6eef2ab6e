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
"""The ``--wait`` line on terminals of every width: what matters stays."""

import dataclasses
import fcntl
import os
import pty
import struct
import termios
import unittest
from unittest import mock

from osc_livemigrate.follow import format as fmt
from osc_livemigrate.follow import output
from osc_livemigrate.follow import progress
from tests.unit.osc_livemigrate import fakes

GIB = 2**30
UPDATE = progress.Update(
    server='vm1',
    status='running',
    elapsed_s=60.0,
    total_bytes=2 * GIB,
    processed_bytes=GIB,
    remaining_bytes=GIB,
    rate_bytes_per_s=10 * 2**20,
    phase='pre-copy',
    action='set-downtime',
    reason='stalled',
)
#: an 80-column terminal, less the column kept free (output.terminal_width)
EIGHTY = 79


class TestFit(unittest.TestCase):
    def test_drops_the_highest_rank_first(self):
        segments = [('a', 0), (' bb', 2), (' cc', 1), (' d', 0)]
        for width, want in (
            (10, 'a bb cc d'),
            (8, 'a cc d'),
            (5, 'a d'),
            (2, 'a…'),
        ):
            with self.subTest(width=width):
                self.assertEqual(want, fmt.fit(segments, width))

    def test_the_tail_takes_the_room_left(self):
        segments = [('head', 0), (' extra', 1)]
        self.assertEqual(
            'head extra: why', fmt.fit(segments, 20, ': why', tail_min=3)
        )
        # the extra goes to leave the tail its minimum, the tail is cut
        self.assertEqual(
            'head: a lon…', fmt.fit(segments, 12, ': a long why', 6)
        )


class TestBarAtEveryWidth(unittest.TestCase):
    def test_eighty_columns_keep_eta_phase_and_action(self):
        line = progress.render_bar(UPDATE, EIGHTY)
        self.assertEqual(
            '50% ETA 1:42 pre-copy, 1.00 GiB left, 10.0 MiB/s'
            ' | set-downtime: stalled',
            line,
        )

    def test_a_wide_terminal_shows_everything(self):
        line = progress.render_bar(UPDATE, 120)
        self.assertEqual(
            '[##########..........]  50% ETA 1:42 pre-copy, 1.00 GiB left,'
            ' 10.0 MiB/s, 1.00 GiB done | set-downtime: stalled',
            line,
        )

    def test_never_wider_than_the_terminal(self):
        split = dataclasses.replace(
            UPDATE,
            disk_total_bytes=GIB,
            memory_remaining_bytes=GIB // 2,
            disk_remaining_bytes=GIB // 2,
            reason='no progress over 3 rounds: dirty rate above transfer',
        )
        for update in (UPDATE, split):
            for width in range(20, 161):
                with self.subTest(width=width):
                    line = progress.render_bar(update, width)
                    self.assertLessEqual(len(line), width)
                    if width >= 45:
                        for part in ('50%', 'ETA 1:42', 'pre-copy', '| set'):
                            self.assertIn(part, line)

    def test_a_long_reason_is_cut_not_the_action(self):
        long = dataclasses.replace(UPDATE, reason='x' * 200)
        line = progress.render_bar(long, EIGHTY)
        self.assertEqual(EIGHTY, len(line))
        self.assertIn('ETA 1:42 pre-copy', line)
        self.assertIn('| set-downtime: xxx', line)
        self.assertTrue(line.endswith('x…'), line)


class TestTerminalWidth(unittest.TestCase):
    def test_a_stream_without_a_terminal_gets_the_default(self):
        self.assertEqual(100, output.terminal_width(fakes.TTYStringIO()))
        self.assertEqual(100, output.terminal_width(object()))

    def test_a_terminal_is_asked_and_columns_wins(self):
        leader, follower = pty.openpty()
        self.addCleanup(os.close, leader)
        self.addCleanup(os.close, follower)
        # an 80x24 window, as a terminal emulator sets it
        fcntl.ioctl(
            follower, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0)
        )
        stream = mock.Mock(fileno=lambda: follower)
        with mock.patch.dict(os.environ, clear=False) as env:
            env.pop('COLUMNS', None)
            self.assertEqual(79, output.terminal_width(stream))
            env['COLUMNS'] = '132'
            self.assertEqual(131, output.terminal_width(stream))

    def test_the_bar_follows_the_terminal(self):
        stream = fakes.TTYStringIO()
        out = output.Output(stream)
        with mock.patch.object(output, 'terminal_width', return_value=79):
            out.update(UPDATE)
        self.assertEqual(
            '\r' + progress.render_bar(UPDATE, 79) + '\x1b[K',
            stream.getvalue(),
        )
