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
"""Pure helpers: formatting, progress maths, rendering and the wait verdict."""

import dataclasses
import json
import unittest

from osc_livemigrate.follow import format as fmt
from osc_livemigrate.follow import progress
from osc_livemigrate.follow import verdicts
from tests.unit.osc_livemigrate import fakes

UUID = '11111111-1111-1111-1111-111111111111'


class TestFormat(unittest.TestCase):
    def test_human_bytes_table(self):
        for value, text in (
            (None, '-'),
            (0, '0 B'),
            (1023, '1023 B'),
            (1536, '1.50 KiB'),
            (10 * 2**20, '10.0 MiB'),
            (300 * 2**30, '300 GiB'),
        ):
            with self.subTest(value=value):
                self.assertEqual(text, fmt.human_bytes(value))

    def test_human_duration_table(self):
        for value, text in (
            (None, '-'),
            (-1, '-'),
            (0, '0:00'),
            (75, '1:15'),
            (3725, '1:02:05'),
        ):
            with self.subTest(value=value):
                self.assertEqual(text, fmt.human_duration(value))

    def test_percent_done_clamps_and_handles_unknown(self):
        self.assertIsNone(fmt.percent_done(0, 0))
        self.assertIsNone(fmt.percent_done(100, None))
        self.assertEqual(25.0, fmt.percent_done(100, 75))
        self.assertEqual(0.0, fmt.percent_done(100, 150))

    def test_human_percent_never_rounds_up_to_100(self):
        self.assertEqual('99%', fmt.human_percent(99.9))


class TestRateTracker(unittest.TestCase):
    def test_rate_over_window(self):
        r = progress.RateTracker(window_s=30)
        self.assertIsNone(r.add(0, 0))
        self.assertEqual(10.0, r.add(10, 100))
        self.assertEqual(10.0, r.add(20, 200))

    def test_drops_old_samples(self):
        r = progress.RateTracker(window_s=10)
        r.add(0, 0)
        r.add(10, 1000)
        r.add(20, 1100)
        r.add(30, 1200)
        self.assertEqual(10.0, r.rate())

    def test_counter_restart_resets(self):
        r = progress.RateTracker()
        r.add(0, 0)
        r.add(10, 500)
        self.assertIsNone(r.add(11, 10))


class TestDriverKeys(unittest.TestCase):
    def test_keys_of_another_migration_are_ignored(self):
        md = {
            'livemigrate:migration': 'other',
            'livemigrate:phase': 'post-copy',
        }
        self.assertEqual({}, progress.driver_keys(md, UUID))

    def test_keys_ignored_without_uuid(self):
        md = {'livemigrate:migration': UUID, 'livemigrate:phase': 'post-copy'}
        self.assertEqual({}, progress.driver_keys(md, None))

    def test_keys_of_this_migration(self):
        md = {
            'livemigrate:migration': UUID,
            'livemigrate:phase': 'post-copy',
            'livemigrate:action': 'postcopy',
            'livemigrate:reason': 'stalled',
            'livemigrate:policy': 'adaptive',
        }
        self.assertEqual(
            {'phase': 'post-copy', 'action': 'postcopy', 'reason': 'stalled'},
            progress.driver_keys(md, UUID),
        )


class TestUpdate(unittest.TestCase):
    def _update(self, **extra):
        m = fakes.migration(
            memory_total_bytes=2 * 2**30,
            memory_processed_bytes=2**30,
            memory_remaining_bytes=2**30,
            disk_total_bytes=0,
            disk_processed_bytes=0,
            disk_remaining_bytes=0,
            **extra,
        )
        md = {
            'livemigrate:migration': UUID,
            'livemigrate:phase': 'pre-copy',
            'livemigrate:action': 'set-downtime',
            'livemigrate:reason': 'stalled',
        }
        tracker = progress.RateTracker()
        tracker.add(0, 0)
        return progress.make_update('vm1', m, md, 10.0, tracker)

    def test_update_fields(self):
        u = self._update()
        self.assertEqual(50.0, u.percent)
        self.assertEqual(2**30 / 10, u.rate_bytes_per_s)
        self.assertAlmostEqual(10.0, u.eta_s)
        self.assertEqual(
            ('pre-copy', 'set-downtime', 'stalled'),
            (u.phase, u.action, u.reason),
        )
        # all three were read from server metadata, and JSON says so
        self.assertEqual(('phase', 'action', 'reason'), u.owner_writable)
        self.assertEqual(
            ['phase', 'action', 'reason'], u.as_dict()['owner_writable']
        )

    def test_a_phase_from_novas_status_is_not_owner_writable(self):
        m = fakes.migration(status='running')
        u = progress.make_update('vm1', m, {}, 1.0, None)
        self.assertEqual(('pre-copy', ()), (u.phase, u.owner_writable))
        self.assertEqual([], u.as_dict()['owner_writable'])

    def test_no_eta_while_a_broken_postcopy_waits(self):
        u = dataclasses.replace(self._update(), phase='post-copy failed')
        self.assertIsNone(u.eta_s)
        self.assertIn('ETA -', progress.render_bar(u, width=200))

    def test_render_bar(self):
        line = progress.render_bar(self._update(), width=200)
        self.assertTrue(line.startswith('[##########..........]  50%'), line)
        for part in (
            '1.00 GiB done',
            '1.00 GiB left',
            '102 MiB/s',
            'ETA 0:10',
            'pre-copy [owner-writable]',
            '| [owner-writable] set-downtime: stalled',
        ):
            self.assertIn(part, line)

    def test_render_bar_tags_only_what_metadata_said(self):
        # the phase nova's status implies is not tagged
        u = dataclasses.replace(self._update(), owner_writable=('action',))
        line = progress.render_bar(u, width=200)
        self.assertIn(' pre-copy, ', line)
        self.assertIn('| [owner-writable] set-downtime', line)

    def test_render_bar_is_cut_to_width(self):
        self.assertEqual(
            40, len(progress.render_bar(self._update(), width=40))
        )

    def test_render_json_is_one_line(self):
        text = progress.render_json('progress', **self._update().as_dict())
        self.assertNotIn('\n', text)
        data = json.loads(text)
        self.assertEqual(
            ('progress', 50.0, 'pre-copy'),
            (data['type'], data['percent'], data['phase']),
        )
        self.assertEqual(2**30, data['remaining_bytes'])

    def test_update_without_bytes(self):
        u = progress.make_update(
            'vm1', fakes.migration(), {}, 1.0, progress.RateTracker()
        )
        self.assertIsNone(u.percent)
        self.assertIsNone(u.eta_s)
        self.assertIn('-', progress.render_bar(u))

    def test_render_table(self):
        text = progress.render_table([self._update()])
        self.assertIn('Server', text.splitlines()[0])
        self.assertIn('50%', text.splitlines()[1])


class TestPhase(unittest.TestCase):
    def test_driver_phase_else_nova_status_else_unknown(self):
        live = {
            'livemigrate:migration': 'other',
            'livemigrate:phase': 'paused',
        }
        done = dict(live, **{'livemigrate:phase': 'completed'})
        for keys, metadata, status, want in (
            ({'phase': 'post-copy'}, {}, 'running', 'post-copy'),
            ({}, {}, 'running', 'pre-copy'),  # stock nova, or no sample yet
            ({}, {}, 'running (post-copy)', 'post-copy'),
            ({}, done, 'running', 'pre-copy'),  # keys of an ended migration
            ({}, live, 'running', None),  # a live phase we cannot match
            ({}, {}, 'queued', None),
        ):
            with self.subTest(metadata=metadata, status=status):
                self.assertEqual(
                    want, progress.phase_of(keys, metadata, status)
                )


class TestMemoryAndDisk(unittest.TestCase):
    def _migration(self, mem_left, disk_left, total=1000):
        return fakes.migration(
            memory_total_bytes=total,
            memory_processed_bytes=total - mem_left,
            memory_remaining_bytes=mem_left,
            disk_total_bytes=total,
            disk_processed_bytes=total - disk_left,
            disk_remaining_bytes=disk_left,
        )

    def test_percent_and_eta_cover_memory_and_disk(self):
        tracker = progress.RateTracker()
        progress.make_update(
            'vm1', self._migration(1000, 1000), {}, 0, tracker
        )
        u = progress.make_update(
            'vm1', self._migration(500, 900), {}, 10.0, tracker
        )
        # (2000 - 1400) / 2000; 600 B in 10 s; 1400 B left at 60 B/s
        self.assertEqual(30.0, u.percent)
        self.assertEqual(60.0, u.rate_bytes_per_s)
        self.assertAlmostEqual(1400 / 60.0, u.eta_s)
        data = u.as_dict()
        self.assertEqual(
            (500, 900),
            (data['memory_remaining_bytes'], data['disk_remaining_bytes']),
        )
        self.assertNotIn('percent_floor', data)

    def test_bar_and_table_split_memory_and_disk(self):
        u = progress.make_update(
            'vm1', self._migration(512, 256, total=2048), {}, 0, None
        )
        self.assertIn(
            '768 B left (memory 512 B, disk 256 B)', progress.render_bar(u)
        )
        header, row = progress.render_table([u]).splitlines()
        self.assertIn('Memory Left  Disk Left', header)
        self.assertIn('512 B        256 B', row)

    def test_percent_never_goes_backwards_within_a_migration(self):
        tracker = progress.RateTracker()
        seen = []
        # the guest dirties memory: remaining grows again (98.4 % -> 96.8 %)
        for mem_left in (500, 16, 32, 10):
            u = progress.make_update(
                'vm1', self._migration(mem_left, 0), {}, 0, tracker
            )
            seen.append(u.percent)
            self.assertIsNotNone(u.as_dict()['percent'])
        self.assertEqual([75.0, 99.2, 99.2, 99.5], seen)

    def test_a_new_tracker_starts_from_nothing(self):
        u = progress.make_update(
            'vm1', self._migration(500, 500), {}, 0, progress.RateTracker()
        )
        self.assertEqual(50.0, u.percent)


class TestDecideOutcome(unittest.TestCase):
    def test_completed_on_other_host_is_ok(self):
        o = verdicts.decide_outcome('c1', 'c2', 'completed')
        self.assertTrue(o.ok)

    def test_cancelled_rollback_is_not_ok(self):
        o = verdicts.decide_outcome('c1', 'c1', 'cancelled')
        self.assertFalse(o.ok)
        self.assertEqual('migration cancelled; server still on c1', o.reason)

    def test_completed_but_same_host_is_not_ok(self):
        self.assertFalse(verdicts.decide_outcome('c1', 'c1', 'completed').ok)

    def test_hosts_hidden_from_a_non_admin_trust_the_record(self):
        # nova names hosts to admins only: a project manager's --wait sees
        # None before and after
        o = verdicts.decide_outcome(None, None, 'completed')
        self.assertTrue(o.ok)
        self.assertEqual(
            'completed: server now on a host nova names to admins only',
            o.reason,
        )
        o = verdicts.decide_outcome(None, None, 'cancelled')
        self.assertFalse(o.ok)
        self.assertEqual('migration cancelled; server still on ?', o.reason)
        o = verdicts.decide_outcome(None, None, 'completed', refused='no')
        self.assertFalse(o.ok)
        self.assertTrue(
            o.reason.startswith(
                'migration completed; server is on a host nova names to '
                'admins only; requested policy refused by the driver: no'
            ),
            o.reason,
        )

    def test_no_record(self):
        o = verdicts.decide_outcome('c1', 'c1', None)
        self.assertIn('no migration record', o.reason)

    def test_reason_carries_driver_keys_and_events(self):
        o = verdicts.decide_outcome(
            'c1',
            'c1',
            'error',
            {
                'phase': 'aborted',
                'action': 'abort',
                'reason': 'no progress for 120 s',
            },
            [('compute_live_migration', 'MigrationError')],
        )
        self.assertIn(
            'owner-writable server metadata says: phase=aborted, '
            'action=abort, reason=no progress for 120 s',
            o.reason,
        )
        self.assertIn('event compute_live_migration: MigrationError', o.reason)

    def test_refused_policy_fails_even_when_completed(self):
        o = verdicts.decide_outcome(
            'c1',
            'c2',
            'completed',
            {'action': 'policy-refused', 'reason': 'not allowed'},
            refused='adaptive is not in allowed_policies',
        )
        self.assertFalse(o.ok)
        self.assertIn(
            'requested policy refused by the driver: adaptive is not in',
            o.reason,
        )
