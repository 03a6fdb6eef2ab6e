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
"""Tests for what the source does at startup with a migration it lost."""

import doctest
import unittest
from unittest import mock

from nova import exception

from nova_ext.compute import settle
from nova_ext.core import contract
from nova_ext.core import restart
from nova_ext.core.restart import Seen
from nova_ext.core.restart import Step


class TestClassify(unittest.TestCase):
    def test_docstring_examples(self):
        result = doctest.testmod(restart)
        self.assertEqual(0, result.failed)
        self.assertGreaterEqual(result.attempted, 4)

    def test_every_libvirt_view(self):
        table = [
            # present, job, post-copy, post-copy failed
            ((False, True, True, False), Seen.GONE),
            ((True, True, True, False), Seen.POSTCOPY),
            ((True, True, False, False), Seen.PRECOPY),
            ((True, False, False, False), Seen.IDLE),
            ((True, True, True, True), Seen.POSTCOPY_FAILED),
            ((True, False, False, True), Seen.POSTCOPY_FAILED),
        ]
        for args, seen in table:
            self.assertIs(seen, restart.classify(*args), args)


class TestDecide(unittest.TestCase):
    def test_the_table(self):
        self.assertEqual(Step.COMPLETE, restart.decide(Seen.GONE).step)
        self.assertEqual(Step.WAIT, restart.decide(Seen.POSTCOPY).step)
        self.assertEqual(Step.ABORT, restart.decide(Seen.PRECOPY).step)
        self.assertEqual(Step.ROLLBACK, restart.decide(Seen.IDLE).step)
        self.assertEqual(Step.LEAVE, restart.decide(Seen.POSTCOPY_FAILED).step)

    def test_gone_completes_with_an_event_saying_why(self):
        d = restart.decide(Seen.GONE)
        self.assertEqual('completed', d.status)
        self.assertEqual(contract.ACTION_RESTART_COMPLETED, d.action)
        self.assertIn('libvirt finished the migration', d.reason)
        self.assertIn(contract.EVENT_PREFIX + d.action, contract.EVENTS)

    def test_a_job_ended_unwatched_rolls_back_as_an_error(self):
        d = restart.decide(Seen.IDLE)
        self.assertEqual('error', d.status)
        self.assertEqual(contract.ACTION_RESTART_ROLLED_BACK, d.action)
        self.assertIn('the guest runs on the source', d.reason)
        self.assertIn(contract.EVENT_PREFIX + d.action, contract.EVENTS)

    def test_the_reason_names_our_abort(self):
        self.assertIn(
            'restarted during pre-copy',
            restart.decide(Seen.IDLE, aborted=True).reason,
        )
        self.assertIn(
            'before the abort took hold',
            restart.decide(Seen.GONE, aborted=True).reason,
        )


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.now += s


class TestSettle(unittest.TestCase):
    def _settle(self, views):
        views = list(views)
        aborts = []
        clock = FakeClock()

        def observe():
            return views.pop(0) if len(views) > 1 else views[0]

        decision = restart.settle(
            observe, lambda: aborts.append(clock.now), clock, clock.sleep
        )
        return decision, aborts, clock.now

    def test_postcopy_is_waited_out_never_aborted(self):
        decision, aborts, _ = self._settle(
            [Seen.POSTCOPY, Seen.POSTCOPY, Seen.GONE]
        )
        self.assertEqual(Step.COMPLETE, decision.step)
        self.assertEqual([], aborts)

    def test_precopy_is_aborted_once_then_rolled_back(self):
        decision, aborts, _ = self._settle(
            [Seen.PRECOPY, Seen.PRECOPY, Seen.PRECOPY, Seen.IDLE]
        )
        self.assertEqual(Step.ROLLBACK, decision.step)
        self.assertEqual(1, len(aborts))
        self.assertIn('restarted during pre-copy', decision.reason)

    def test_a_precopy_that_finishes_before_the_abort_completes(self):
        decision, aborts, _ = self._settle([Seen.PRECOPY, Seen.GONE])
        self.assertEqual(Step.COMPLETE, decision.step)
        self.assertEqual(1, len(aborts))

    def test_a_job_that_never_ends_is_left_to_nova(self):
        decision, _, waited = self._settle([Seen.POSTCOPY])
        self.assertEqual(Step.LEAVE, decision.step)
        self.assertGreaterEqual(waited, restart.WAIT_S)
        self.assertLess(waited, restart.WAIT_S + 2 * restart.POLL_S)

    def test_a_broken_postcopy_is_left_to_nova_at_once(self):
        decision, aborts, waited = self._settle([Seen.POSTCOPY_FAILED])
        self.assertEqual(Step.LEAVE, decision.step)
        self.assertEqual(([], 0.0), (aborts, waited))


class TestResume(unittest.TestCase):
    """The shell: which servers nova still gets to reset."""

    def setUp(self):
        self.started = []
        patches = {
            '_action_context': mock.Mock(return_value='ctx'),
            '_running_migration': mock.Mock(
                side_effect=lambda ctx, inst: inst.get('migration')
            ),
            '_abort': mock.Mock(),
        }
        decide = mock.patch.object(
            restart,
            'settle',
            side_effect=lambda observe, abort, *_: restart.decide(observe()),
        )
        decide.start()
        self.addCleanup(decide.stop)
        for name, value in patches.items():
            patcher = mock.patch.object(settle, name, value)
            patcher.start()
            self.addCleanup(patcher.stop)
        thread = mock.patch.object(
            settle.threading,
            'Thread',
            side_effect=lambda target, args, daemon: (
                self.started.append(args) or mock.Mock()
            ),
        )
        thread.start()
        self.addCleanup(thread.stop)

    def _resume(self, instances, seen):
        observe = mock.patch.object(
            settle,
            '_observe',
            side_effect=lambda driver, inst: seen[inst['uuid']],
        )
        driver = mock.Mock()
        with (
            observe,
            mock.patch.object(
                settle.objects,
                'InstanceList',
                side_effect=lambda c, objects: objects,
                create=True,  # nova registers its objects at service start
            ),
        ):
            return settle.resume(driver, 'ctx', instances)

    def test_only_settled_servers_are_kept_from_nova(self):
        mig = mock.Mock(uuid='m', dest_compute='b')
        moved = {'uuid': 'moved', 'migration': mig}
        broken = {'uuid': 'broken', 'migration': mig}
        idle = {'uuid': 'idle'}
        left = self._resume(
            [moved, broken, idle],
            {'moved': Seen.GONE, 'broken': Seen.POSTCOPY_FAILED},
        )
        self.assertEqual([broken, idle], left)
        self.assertEqual(1, len(self.started))
        self.assertEqual(Step.COMPLETE, self.started[0][-1].step)

    def test_a_failure_leaves_the_server_to_nova(self):
        mig = mock.Mock(uuid='m', dest_compute='b')
        inst = {'uuid': 'x', 'migration': mig}
        with mock.patch.object(
            settle, '_observe', side_effect=RuntimeError('libvirt down')
        ):
            restart.settle.side_effect = lambda observe, abort, *_: observe()
            left = settle.resume(mock.Mock(), 'ctx', [inst])
        self.assertEqual([inst], left)
        self.assertEqual([], self.started)

    def test_without_the_manager_nothing_is_touched(self):
        driver = mock.Mock()
        driver.virtapi = object()
        instances = [{'uuid': 'x'}]
        self.assertIs(instances, settle.resume(driver, 'ctx', instances))


class TestAfterLibvirtd(unittest.TestCase):
    """Only a lost libvirt, only a migration nova has not settled."""

    def _call(self, exc, status='running', task='migrating'):
        post, recover = mock.Mock(), mock.Mock()
        data = mock.Mock()
        instance = mock.Mock(task_state=task)
        with (
            mock.patch.object(
                settle.objects,
                'Migration',
                create=True,  # nova registers its objects at service start
                **{'get_by_id.return_value.status': status},
            ),
            mock.patch.object(
                restart,
                'settle',
                return_value=restart.decide(Seen.IDLE, down=restart.LIBVIRTD),
            ),
            mock.patch.object(settle, '_record') as record,
        ):
            done = settle.after_libvirtd(
                mock.Mock(), exc, 'ctx', instance, 'b', post, recover, data
            )
        return done, post, recover, record

    def test_a_lost_libvirtd_rolls_back_with_novas_own_callback(self):
        done, post, recover, record = self._call(
            exception.HypervisorUnavailable(host='a')
        )
        self.assertTrue(done)
        post.assert_not_called()
        recover.assert_called_once()
        self.assertIn(
            'libvirtd on the source was down', record.call_args[0][3].reason
        )

    def test_other_failures_are_novas(self):
        done, post, recover, _ = self._call(RuntimeError('401 from neutron'))
        self.assertFalse(done)
        post.assert_not_called()
        recover.assert_not_called()

    def test_a_migration_nova_already_settled_is_left_alone(self):
        done, post, recover, _ = self._call(
            exception.HypervisorUnavailable(host='a'), status='error'
        )
        self.assertFalse(done)
        recover.assert_not_called()
