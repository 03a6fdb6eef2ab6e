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
"""plan.report: the record, its atomic writes, what a resume does."""

import json
import os
import tempfile
import unittest

from osc_livemigrate.plan import drain as dp
from osc_livemigrate.plan import report as rp


class TestRecord(unittest.TestCase):
    def setUp(self):
        self.rec = rp.new(
            [('c1', [('s1', 'vm1')]), ('c2', [])],
            '2026-01-01T00:00:00Z',
            {'max_per_host': 2, 'policy': 'adaptive'},
        )

    def test_new_and_states(self):
        self.assertEqual(rp.PLANNED, rp.state_of(self.rec, 'c1', 's1'))
        rp.set_server(self.rec, 'c1', 's1', rp.STARTING, attempts=1)
        rp.set_host(self.rec, 'c1', rp.DISABLED)
        self.assertEqual(rp.STARTING, rp.state_of(self.rec, 'c1', 's1'))
        self.assertEqual(['c1', 'c2'], rp.hosts_left(self.rec))
        rp.set_host(self.rec, 'c2', rp.DRAINED)
        self.assertEqual(['c1'], rp.hosts_left(self.rec))
        self.assertIsNone(rp.state_of(self.rec, 'c9', 's1'))

    def test_write_read_round_trip_and_no_temp_left(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'r.json')
            rp.write(path, self.rec)
            rp.set_host(self.rec, 'c1', rp.DRAINED)
            rp.write(path, self.rec)
            self.assertEqual(self.rec, rp.read(path))
            self.assertEqual(['r.json'], os.listdir(d))

    def test_read_rejects_what_is_not_a_report(self):
        with tempfile.TemporaryDirectory() as d:
            for body, msg in (
                ('nope', 'not JSON'),
                (json.dumps({'format': 99}), 'format 1'),
                (json.dumps({'format': 1}), 'names no hosts'),
            ):
                path = os.path.join(d, 'x.json')
                with open(path, 'w') as f:
                    f.write(body)
                with self.subTest(body=body):
                    with self.assertRaisesRegex(ValueError, msg):
                        rp.read(path)


class TestResumedOptions(unittest.TestCase):
    def test_given_again_wins_the_rest_from_the_record(self):
        rec = rp.new([], 't0', {'max_per_host': 2, 'policy': 'adaptive'})
        defaults = {'max_per_host': None, 'policy': None}
        self.assertEqual(
            {'max_per_host': 2},
            rp.resumed_options(
                rec, {'max_per_host': None, 'policy': 'nova'}, defaults
            ),
        )


class TestResumeItems(unittest.TestCase):
    def test_followed_kept_and_done(self):
        entry = {
            'servers': {
                'a': {'name': 'vm-a', 'state': rp.STARTING},
                'b': {'name': 'vm-b', 'state': 'failed', 'reason': 'boom'},
                'c': {'name': 'vm-c', 'state': rp.STARTED},
                'd': {'name': 'vm-d', 'state': rp.STARTED},
            }
        }
        items = [
            dp.Item('a', 'vm-a', dp.MIGRATE),
            dp.Item('b', 'vm-b', dp.MIGRATE),
            dp.Item('e', 'vm-e', dp.MIGRATE),
        ]
        out = {
            i.server_id: i for i in rp.resume_items(entry, items, {'a', 'd'})
        }
        self.assertEqual(dp.FOLLOW, out['a'].action)
        self.assertEqual(dp.SKIP, out['b'].action)
        self.assertIn('failed in the run being resumed: boom', out['b'].reason)
        self.assertEqual(dp.DONE, out['c'].action)  # gone from the host
        self.assertEqual(dp.FOLLOW, out['d'].action)  # gone, still moving
        self.assertEqual(dp.MIGRATE, out['e'].action)  # new on the host


class TestResumeAction(unittest.TestCase):
    def test_table(self):
        for recorded, on_host, in_flight, want in (
            # in flight: always followed, never started again
            (rp.STARTING, True, True, rp.FOLLOW),
            (rp.STARTED, False, True, rp.FOLLOW),
            (None, True, True, rp.FOLLOW),
            # gone from the host: moved
            (rp.STARTED, False, False, rp.DONE),
            (rp.PLANNED, False, False, rp.DONE),
            # on the host and idle: the earlier request ended or never went
            (rp.STARTING, True, False, rp.START),
            (rp.STARTED, True, False, rp.START),
            (rp.PLANNED, True, False, rp.START),
            (None, True, False, rp.START),
            # a final verdict stays
            ('failed', True, False, rp.DONE),
            ('skipped', True, False, rp.DONE),
        ):
            with self.subTest(recorded=recorded, on=on_host, fl=in_flight):
                self.assertEqual(
                    want, rp.resume_action(recorded, on_host, in_flight)
                )
