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
"""plan.status: the lines a drain shows, on a terminal and as JSON."""

import json
import unittest

from osc_livemigrate.plan import drain as dp
from osc_livemigrate.plan import hosts as hs
from osc_livemigrate.plan import limits as lim
from osc_livemigrate.plan import report as rp
from osc_livemigrate.plan import status
from tests.unit.osc_livemigrate import fakes


class _Runner:
    """What status reads of a runner."""

    def __init__(self):
        items = tuple(
            dp.Item('s%d' % i, 'vm%d' % i, dp.MIGRATE) for i in range(4)
        )
        hr = hs.HostRun('c1', items, state=rp.DISABLED)
        hr.results['s0'] = dp.Result('vm0', dp.MIGRATED, 'c2', 10.0)
        self.hosts = [hr]
        self.running = {
            's1': hs.Running(items[1], 'c1', 1, 0.0),
            's2': hs.Running(items[2], 'c1', 1, 0.0),
        }
        self.nova_bytes = {'s1': 1 << 30, 's2': 1 << 29}

    def flights(self):
        return [
            lim.Flight('s1', 'c1', 'c2'),
            lim.Flight('s2', 'c1', 'c3'),
            lim.Flight('x', 'c7', 'c8'),
        ]


class TestLines(unittest.TestCase):
    def test_snapshot_and_cloud_line(self):
        snap = status.snapshot(_Runner())
        self.assertEqual(3, snap['servers_left'])
        self.assertEqual(1, snap['not_ours'])
        self.assertEqual(15, snap['eta_s'])  # 3 left x 10 s / 2 at a time
        self.assertEqual(
            'cloud: 3 servers left, 2 running (1 not ours), 1.50 GiB left, '
            'ETA 0:15',
            status.cloud_line(snap),
        )

    def test_eta_needs_a_finished_move(self):
        self.assertIsNone(status.eta_s(3, 2, []))
        self.assertIsNone(status.eta_s(0, 2, [5.0]))


class TestDisplay(unittest.TestCase):
    def test_tty_block_redrawn_under_events(self):
        stream = fakes.TTYStringIO()
        d = status.Display(stream)
        d.progress(_Runner())
        d.event('vm3: started', 'started', host='c1')
        d.progress(_Runner())
        text = stream.getvalue()
        self.assertIn('c1: 1/4 moved, 2 running, 1.50 GiB left\x1b[K\n', text)
        # the block (2 lines) is erased before the event line
        self.assertIn('\x1b[2A\x1b[Jvm3: started\n', text)

    def test_json_lines_only_on_change(self):
        stream = fakes.io.StringIO()
        d = status.Display(stream)
        d.progress(_Runner())
        d.progress(_Runner())
        d.event('vm3: started', 'started', host='c1', destination=None)
        lines = [json.loads(x) for x in stream.getvalue().splitlines()]
        self.assertEqual(
            ['drain-progress', 'started'], [x['type'] for x in lines]
        )
        self.assertEqual({'message', 'host', 'type'}, set(lines[1]))


class TestSummary(unittest.TestCase):
    def test_rows_and_table(self):
        hr = hs.HostRun('c1', (), state=rp.ENABLED, started=5.0, ended=65.0)
        hr.results['a'] = dp.Result('a', dp.MIGRATED)
        hr.results['b'] = dp.Result('b', dp.SKIPPED)
        hr.moved_bytes = 2048
        hr.decisions['adaptive: postcopy'] = 2
        rows = status.summary_rows([hr])
        self.assertEqual(
            [('c1', 'enabled', 1, 0, 1, 60.0, 2048, 'adaptive: postcopy x2')],
            rows,
        )
        table = status.render_table(status.SUMMARY_HEADERS, rows)
        self.assertIn('| c1   | enabled | 1     |', table)
