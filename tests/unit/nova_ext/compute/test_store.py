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
"""The nova-object store: how an event is recorded for nova's API."""

import types
import unittest
from unittest import mock

from nova_ext.compute import store
from nova_ext.core import observation

_INSTANCE = types.SimpleNamespace(uuid='11111111-2222-3333-4444-555555555555')


class TestNovaStoreEvents(unittest.TestCase):
    def test_a_refusal_is_recorded_as_a_failed_event_with_its_reason(self):
        nova_store = store.NovaStore('ctx', _INSTANCE, None)
        with mock.patch.object(
            store.objects, 'InstanceActionEvent', create=True
        ) as ev:
            nova_store.event(
                'livemigrate_policy-refused', "'turbo' not installed"
            )
        kwargs = ev.event_finish_with_failure.call_args.kwargs
        self.assertEqual("'turbo' not installed", kwargs['exc_val'])
        self.assertIsNotNone(kwargs['exc_tb'])  # nova: no tb means Success

    def test_an_action_is_recorded_as_success(self):
        nova_store = store.NovaStore('ctx', _INSTANCE, None)
        with mock.patch.object(
            store.objects, 'InstanceActionEvent', create=True
        ) as ev:
            nova_store.event('livemigrate_postcopy', None)
        self.assertIsNone(
            ev.event_finish_with_failure.call_args.kwargs['exc_tb']
        )


class TestNovaStoreStats(unittest.TestCase):
    def test_memory_and_disk_figures_go_to_the_migration_record(self):
        # NOTE: nova's save_stats saves disk_* too; a block migration's
        # disk copy shows in the API's disk_*_bytes
        migration = mock.Mock()
        instance = mock.Mock()
        obs = observation.from_job_info(
            {
                'memory_total': 1000,
                'memory_processed': 400,
                'memory_remaining': 600,
                'disk_total': 5000,
                'disk_processed': 2000,
                'disk_remaining': 3000,
            },
            10,
        )
        store.NovaStore('ctx', instance, migration).stats(obs, 42)
        self.assertEqual(
            (1000, 400, 600, 5000, 2000, 3000),
            (
                migration.memory_total,
                migration.memory_processed,
                migration.memory_remaining,
                migration.disk_total,
                migration.disk_processed,
                migration.disk_remaining,
            ),
        )
        migration.save.assert_called_once_with()
        self.assertEqual(42, instance.progress)
        instance.save.assert_called_once_with()
