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
"""Tests for what the driver publishes to the CLI (contract keys)."""

import json
import types
import unittest
from unittest import mock

from nova_ext.compute import publisher
from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import Observation
from tests import fakes
from tests.unit.nova_ext.compute.stores import Recorder
from tests.unit.nova_ext.compute.stores import WRITES


class TestPublisher(unittest.TestCase):
    def test_keys_follow_the_contract(self):
        keys = publisher.metadata_keys(
            'm-1', 'adaptive', 'pre-copy', 'set-downtime', 'why', 430
        )
        self.assertEqual(
            {
                'livemigrate:migration': 'm-1',
                'livemigrate:policy_used': 'adaptive',
                'livemigrate:phase': 'pre-copy',
                'livemigrate:action': 'set-downtime',
                'livemigrate:reason': 'why',
                'livemigrate:downtime_ms': '430',
            },
            keys,
        )

    def test_decision_writes_event_and_phase(self):
        store = Recorder()
        pub = publisher.Publisher(store, 'm-1', 'adaptive')
        pub.decision(
            Decision(Action.POSTCOPY, 'stalled'), fakes.observation(3)
        )
        self.assertEqual([('livemigrate_postcopy', None)], store.events)
        self.assertEqual('post-copy', store.keys[-1]['livemigrate:phase'])
        self.assertEqual('stalled', store.keys[-1]['livemigrate:reason'])

    def test_broken_postcopy_is_published_and_so_is_its_recovery(self):
        store = Recorder()
        pub = publisher.Publisher(store, 'm-1', 'adaptive')
        pub.decision(
            Decision(Action.POSTCOPY, 'stalled'), fakes.observation(3)
        )
        pub.postcopy_link(True, fakes.observation(9))
        self.assertEqual(
            'post-copy failed', store.keys[-1]['livemigrate:phase']
        )
        self.assertEqual(
            'postcopy-failed', store.keys[-1]['livemigrate:action']
        )
        self.assertIn(
            'connection to the destination broke',
            store.keys[-1]['livemigrate:reason'],
        )
        pub.stats(fakes.observation(10))  # the phase stays while it waits
        self.assertEqual(
            'post-copy failed', store.keys[-1]['livemigrate:phase']
        )
        pub.postcopy_link(False, fakes.observation(20))
        self.assertEqual('post-copy', store.keys[-1]['livemigrate:phase'])
        self.assertEqual(
            [
                'livemigrate_postcopy',
                'livemigrate_postcopy-failed',
                'livemigrate_postcopy-resumed',
            ],
            [name for name, _ in store.events],
        )
        self.assertIsNone(store.events[-1][1])

    def test_refusal_is_published_like_an_action(self):
        store = Recorder()
        publisher.Publisher(store, 'm-1', 'nova').started(['not allowed'])
        self.assertEqual(
            [('livemigrate_policy-refused', 'not allowed')], store.events
        )
        self.assertEqual(
            'policy-refused', store.keys[-1]['livemigrate:action']
        )

    def test_refusal_stays_under_its_own_key(self):
        store = Recorder()
        pub = publisher.Publisher(store, 'm-1', 'nova')
        pub.started(
            [
                "server metadata asks for policy 'turbo', which is not "
                'installed'
            ],
            asked='turbo',
        )
        refusal = json.loads(store.keys[0]['livemigrate:policy_refused'])
        self.assertEqual(
            {
                'asked': 'turbo',
                'used': 'nova',
                'reason': "server metadata asks for policy 'turbo', which "
                'is not installed',
            },
            refusal,
        )
        pub.decision(
            Decision(Action.SET_DOWNTIME, 'stalled', 300),
            fakes.observation(3),
        )
        pub.stats(fakes.observation(4))
        pub.finished('completed')
        # the next writes overwrite the reason, never the refusal
        self.assertEqual('stalled', store.keys[-1]['livemigrate:reason'])
        for keys in store.keys[1:]:
            self.assertNotIn('livemigrate:policy_refused', keys)

    def test_no_refusal_clears_an_earlier_migrations(self):
        store = Recorder()
        publisher.Publisher(store, 'm-2', 'nova').started()
        self.assertEqual('', store.keys[0]['livemigrate:policy_refused'])

    def test_refusal_fits_nova_and_stays_json(self):
        long = ['why ' * 100, 'and "quoted" é ' * 20]
        value = publisher.refusal_value('x' * 300, 'nova', long)
        self.assertLessEqual(len(value), 255)
        self.assertGreater(len(value), 250)
        parsed = json.loads(value)
        self.assertEqual('x' * 64, parsed['asked'])
        self.assertTrue(parsed['reason'].endswith('...'))

    def test_progress_never_goes_backwards(self):
        self.assertEqual(75, publisher.progress_percent(100, 25, 10))
        self.assertEqual(75, publisher.progress_percent(100, 60, 75))
        self.assertEqual(3, publisher.progress_percent(0, 0, 3))

    def test_progress_counts_the_disks_of_a_block_migration(self):
        store = Recorder()
        pub = publisher.Publisher(store, 'm-1', 'nova')
        # memory all sent, disk a quarter sent: 1 + 1 of 1 + 4 units
        pub.stats(
            Observation(
                elapsed_s=1,
                memory_total_bytes=100,
                memory_processed_bytes=100,
                memory_remaining_bytes=0,
                disk_total_bytes=400,
                disk_processed_bytes=100,
                disk_remaining_bytes=300,
            )
        )
        self.assertEqual([40], store.progress)

    def _publish_everything(self, store):
        """Every publisher call a migration makes, in order."""
        pub = publisher.Publisher(store, 'm-1', 'nova')
        with self.assertLogs('nova_ext.compute.publisher', 'WARNING') as logs:
            pub.started(['not allowed'])
            pub.decision(
                Decision(Action.POSTCOPY, 'stalled'), fakes.observation(1)
            )
            pub.postcopy_link(True, fakes.observation(2))
            pub.stats(fakes.observation(3, remaining=0))
            pub.postcopy_link(False, fakes.observation(4))
            pub.finished('completed')
        return logs.output

    def test_a_broken_store_never_breaks_the_migration(self):
        # NOTE: each store method fails on its own, and every call of it
        # is made, warned about, and does not stop the other two channels
        expected = {'metadata': 6, 'event': 4, 'stats': 1}
        for method, calls in expected.items():
            with self.subTest(broken=method):
                store = Recorder(broken=[method])
                logs = self._publish_everything(store)
                self.assertEqual(expected, dict(store.attempts))
                self.assertEqual(
                    calls,
                    sum(
                        'db down' in line and 'WARNING' in line
                        for line in logs
                    ),
                )
                if method != 'metadata':
                    self.assertEqual(
                        'completed', store.keys[-1]['livemigrate:phase']
                    )
                if method != 'event':
                    self.assertEqual(4, len(store.events))
                if method != 'stats':
                    self.assertEqual([100], store.progress)

    def test_figures_that_fail_still_publish_the_end(self):
        # NOTE: seen in nova's own tests, whose migration is a mock
        store = Recorder()
        pub = publisher.Publisher(store, 'm-1', 'nova')

        def figures(last):
            raise TypeError('not JSON serializable')

        with self.assertLogs('nova_ext.compute.publisher', 'WARNING'):
            pub.finished('completed', None, figures)
        self.assertEqual('completed', store.keys[-1]['livemigrate:phase'])

    def test_disabled_publishes_nothing(self):
        store = Recorder()
        pub = publisher.Publisher(store, 'm-1', 'nova', enabled=False)
        pub.decision(Decision(Action.ABORT, 'x'), fakes.observation(1))
        self.assertEqual(([], []), (store.keys, store.events))


#: every write a publisher offers, with arguments, and the store writes it
#: makes (with ``enabled``)
EVERY_WRITE = {
    'started': ((['not allowed'],), {'metadata': 1, 'event': 1}),
    'decision': (
        (Decision(Action.POSTCOPY, 'stalled'), fakes.observation(1)),
        {'metadata': 1, 'event': 1},
    ),
    'shadow': (('adaptive', Decision(Action.ABORT, 'x')), {'event': 1}),
    'stats': ((fakes.observation(2),), {'metadata': 1, 'stats': 1}),
    'postcopy_link': (
        (True, fakes.observation(3)),
        {'metadata': 1, 'event': 1},
    ),
    'post_steps_waited': (
        (
            types.SimpleNamespace(
                outage=RuntimeError('bus'), waited_s=lambda: 3.0
            ),
        ),
        {'event': 1},
    ),
    'finished': (('completed', None, lambda last: {}), {'metadata': 1}),
    'settled': (
        ('failed', 'rollback', 'libvirtd was down'),
        {'metadata': 1, 'event': 1},
    ),
    'measured_downtime': ((lambda current: {'x': '1'},), {'metadata': 1}),
}


class TestTheOneWriter(unittest.TestCase):
    """Every write goes through one guard: a store that fails every
    write breaks no publisher call, and each failed write warns once.
    """

    def test_the_table_names_every_write_a_publisher_offers(self):
        offered = {
            name
            for name in vars(publisher.Publisher)
            if not name.startswith('_')
        }
        self.assertEqual(offered, set(EVERY_WRITE))

    def test_a_store_failing_every_write_breaks_no_call(self):
        for method, (args, writes) in EVERY_WRITE.items():
            with self.subTest(method=method):
                store = Recorder(broken=WRITES)
                pub = publisher.Publisher(store, 'm-1', 'nova')
                with self.assertLogs(
                    'nova_ext.compute.publisher', 'WARNING'
                ) as logs:
                    getattr(pub, method)(*args)
                self.assertEqual(writes, dict(store.attempts))
                self.assertEqual(
                    sum(writes.values()),
                    sum('db down' in line for line in logs.output),
                )
                self.assertIsInstance(pub.last_error, RuntimeError)

    def test_without_the_guard_every_failed_write_raises(self):
        # NOTE: no second guard anywhere hides a failed write
        def unguarded(self, what, write, *args):
            write(*args)

        with mock.patch.object(publisher.Publisher, '_guarded', unguarded):
            for method, (args, _) in EVERY_WRITE.items():
                with self.subTest(method=method):
                    pub = publisher.Publisher(
                        Recorder(broken=WRITES), 'm-1', 'nova'
                    )
                    with self.assertRaisesRegex(RuntimeError, 'db down'):
                        getattr(pub, method)(*args)

    def test_disabled_writes_only_novas_own_stats(self):
        for method, (args, _) in EVERY_WRITE.items():
            with self.subTest(method=method):
                store = Recorder()
                pub = publisher.Publisher(store, 'm-1', 'nova', enabled=False)
                getattr(pub, method)(*args)
                self.assertEqual(
                    {'stats': 1} if method == 'stats' else {},
                    dict(store.attempts),
                )

    def test_settled_writes_its_event_and_end_phase(self):
        store = Recorder()
        pub = publisher.Publisher(store, 'm-1', 'nova')
        pub.settled('failed', 'rollback', 'libvirtd was down')
        self.assertEqual(
            [('livemigrate_rollback', 'libvirtd was down')], store.events
        )
        self.assertEqual(
            publisher.metadata_keys(
                'm-1', 'nova', 'failed', 'rollback', 'libvirtd was down'
            ),
            store.keys[-1],
        )
