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
"""What a settled migration publishes, and that a failed write never
keeps nova's steps from running.

Which step is taken is tested with the table in
``tests/unit/nova_ext/core/test_restart.py``.
"""

import types
import unittest
from unittest import mock

from nova import exception

from nova_ext.compute import publisher
from nova_ext.compute import settle
from nova_ext.core import contract
from nova_ext.core import restart
from nova_ext.core.restart import Seen
from tests.unit.nova_ext.compute.stores import Recorder
from tests.unit.nova_ext.compute.stores import WRITES

MIGRATION = types.SimpleNamespace(id=7, uuid='m-1', dest_compute='b')


def _instance():
    return mock.Mock(
        uuid='i-1',
        task_state='migrating',
        metadata={contract.POLICY_USED_KEY: 'adaptive'},
    )


class TestRecord(unittest.TestCase):
    def _store(self, broken=()):
        store = Recorder(broken)
        patcher = mock.patch.object(
            settle.store, 'NovaStore', return_value=store
        )
        patcher.start()
        self.addCleanup(patcher.stop)
        return store

    def test_the_event_and_the_end_phase_say_what_was_done(self):
        store = self._store()
        decision = restart.decide(Seen.GONE)
        settle._record('ctx', _instance(), MIGRATION, decision)
        self.assertEqual(
            [(contract.EVENT_PREFIX + decision.action, decision.reason)],
            store.events,
        )
        self.assertEqual(
            [
                publisher.metadata_keys(
                    'm-1',
                    'adaptive',
                    contract.PHASE_COMPLETED,
                    decision.action,
                    decision.reason,
                )
            ],
            store.keys,
        )

    def _apply(self, decision):
        manager = mock.Mock()
        with (
            mock.patch.object(settle, '_migrate_data'),
            mock.patch.object(
                settle.objects,
                'BlockDeviceMappingList',
                create=True,  # nova registers its objects at service start
            ),
            self.assertLogs('nova_ext.compute.publisher', 'WARNING') as logs,
        ):
            settle._apply(manager, 'ctx', _instance(), MIGRATION, decision)
        self.assertEqual(2, sum('db down' in line for line in logs.output))
        return manager

    def test_a_failed_write_at_startup_still_runs_novas_steps(self):
        store = self._store(broken=WRITES)
        manager = self._apply(restart.decide(Seen.GONE))
        manager._post_live_migration.assert_called_once()
        manager._rollback_live_migration.assert_not_called()
        self.assertEqual({'event': 1, 'metadata': 1}, dict(store.attempts))
        manager = self._apply(restart.decide(Seen.IDLE))
        manager._rollback_live_migration.assert_called_once()

    def test_a_failed_write_after_libvirtd_still_rolls_back(self):
        self._store(broken=WRITES)
        post, recover = mock.Mock(), mock.Mock()
        with (
            mock.patch.object(
                settle.objects,
                'Migration',
                create=True,
                **{'get_by_id.return_value.status': 'running'},
            ),
            mock.patch.object(
                restart,
                'settle',
                return_value=restart.decide(Seen.IDLE, down=restart.LIBVIRTD),
            ),
            self.assertLogs('nova_ext.compute.publisher', 'WARNING'),
        ):
            done = settle.after_libvirtd(
                mock.Mock(),
                exception.HypervisorUnavailable(host='a'),
                'ctx',
                _instance(),
                'b',
                post,
                recover,
                mock.Mock(migration=MIGRATION),
            )
        self.assertTrue(done)
        post.assert_not_called()
        recover.assert_called_once()
