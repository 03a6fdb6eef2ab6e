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
"""nova's post-migration steps across a message-bus outage.

The broker is a script of ping outcomes on a fake clock; the real outage
(RabbitMQ stopped as the job completes) runs on the libvirt-mode
mini-cloud in tests/functional/libvirt_cloud/test_libvirt_restarts.py.
"""

import unittest
from unittest import mock

from nova import baserpc
from nova.objects import base as objects_base
import oslo_messaging

from nova_ext.compute import bus
from tests import fakes

TIMEOUT = oslo_messaging.MessagingTimeout('Timed out waiting for a reply')


class Steps:
    """nova's steps: fail with the given errors, then return 'moved'."""

    def __init__(self, *errors):
        self.errors = list(errors)
        self.runs = 0

    def __call__(self):
        self.runs += 1
        if self.errors:
            raise self.errors.pop(0)
        return 'moved'


class Broker:
    """Pings time out (PING_TIMEOUT_S each) until ``back_at``."""

    def __init__(self, clock, back_at):
        self.clock, self.back_at, self.pings = clock, back_at, 0

    def __call__(self):
        self.pings += 1
        if self.clock() < self.back_at:
            self.clock.sleep(bus.PING_TIMEOUT_S)
            raise oslo_messaging.MessagingTimeout('ping')
        return {'service': 'conductor'}


class TestPostSteps(unittest.TestCase):
    def _steps(self, back_at, window_s=600):
        self.clock = fakes.FakeClock()
        self.broker = Broker(self.clock, back_at)
        return bus.PostSteps(
            self.broker, window_s, self.clock, self.clock.sleep
        )

    def test_with_the_bus_up_the_steps_run_once_after_one_ping(self):
        post, steps = self._steps(back_at=0), Steps()
        self.assertTrue(post.wait())
        self.assertEqual('moved', post.run(steps))
        self.assertEqual(
            (1, 1, None), (steps.runs, self.broker.pings, post.outage)
        )

    def test_a_bus_down_at_the_end_is_waited_for_before_the_steps(self):
        post, steps = self._steps(back_at=60), Steps()
        self.assertTrue(post.wait())
        # 12 pings timed out, the 13th answered at 60 s, and the answers
        # went on every 2 s until 80 s (BUS_SETTLE_S)
        self.assertEqual(80, self.clock())
        self.assertEqual(13 + 10, self.broker.pings)
        self.assertEqual('moved', post.run(steps))
        self.assertEqual(1, steps.runs)
        self.assertIsInstance(post.outage, oslo_messaging.MessagingTimeout)
        self.assertEqual(80, post.waited_s())

    def test_after_an_outage_one_answer_is_not_enough(self):
        """The broker answers once at 10 s, is gone again until 40 s."""
        clock = fakes.FakeClock()
        answers = {10}

        def ping():
            if clock() in answers or clock() >= 40:
                return
            clock.sleep(bus.PING_TIMEOUT_S)
            raise oslo_messaging.MessagingTimeout('ping')

        post = bus.PostSteps(ping, 600, clock, clock.sleep)
        self.assertTrue(post.wait())
        # pings time out at 12, 17, ... 37; the one at 42 answers, and the
        # answers must go on for BUS_SETTLE_S from there
        self.assertEqual(42 + bus.BUS_SETTLE_S, clock())

    def test_a_bus_error_in_the_steps_runs_them_again_once_it_answers(self):
        post, steps = self._steps(back_at=0), Steps(TIMEOUT)
        self.assertEqual('moved', post.run(steps))
        self.assertEqual((2, 2), (steps.runs, post.runs))
        self.assertIs(TIMEOUT, post.outage)

    def test_a_failed_delivery_counts_as_a_bus_error(self):
        failure = oslo_messaging.MessageDeliveryFailure('no broker')
        post, steps = self._steps(back_at=0), Steps(failure)
        self.assertEqual('moved', post.run(steps))
        self.assertIs(failure, post.outage)

    def test_a_bus_that_stays_down_raises_after_the_window(self):
        post = self._steps(back_at=10**6, window_s=300)
        self.assertFalse(post.wait())
        self.assertGreaterEqual(self.clock(), 300)
        self.assertLess(self.clock(), 300 + bus.PING_TIMEOUT_S)
        with self.assertRaises(oslo_messaging.MessagingTimeout):
            post.run(Steps(TIMEOUT))
        self.assertEqual(1, post.runs)

    def test_the_window_counts_from_the_end_of_the_job(self):
        # each run times out after 60 s; the bus answers pings in between:
        # no new run starts once 300 s have passed since the job's end
        post, steps = (
            self._steps(back_at=0, window_s=300),
            Steps(*[TIMEOUT] * 20),
        )

        def slow_steps():
            self.clock.sleep(60)
            return steps()

        with self.assertRaises(oslo_messaging.MessagingTimeout):
            post.run(slow_steps)
        # 60 s a run, then 20 s of answers (BUS_SETTLE_S): 0, 80, 160, 240
        self.assertEqual(4, steps.runs)

    def test_window_zero_is_novas_behaviour(self):
        post, steps = self._steps(back_at=10**6, window_s=0), Steps(TIMEOUT)
        self.assertFalse(post.wait())
        with self.assertRaises(oslo_messaging.MessagingTimeout):
            post.run(steps)
        self.assertEqual((1, 0), (steps.runs, self.broker.pings))

    def test_other_errors_are_raised_at_once(self):
        post, steps = (
            self._steps(back_at=0),
            Steps(RuntimeError('401 neutron')),
        )
        with self.assertRaisesRegex(RuntimeError, '401'):
            post.run(steps)
        self.assertEqual((1, 0), (steps.runs, self.broker.pings))


class Publisher:
    """Writes fail with the given errors, then succeed; events recorded."""

    def __init__(self, *errors):
        self.errors, self.writes, self.events = list(errors), 0, []
        self.last_error = None

    def report(self):
        self.writes += 1
        self.last_error = self.errors.pop(0) if self.errors else None

    def post_steps_waited(self, steps):
        self.events.append((type(steps.outage).__name__, steps.runs))


class TestComplete(unittest.TestCase):
    def _complete(self, publisher, steps, back_at=0):
        clock = fakes.FakeClock()
        post = bus.PostSteps(Broker(clock, back_at), 600, clock, clock.sleep)
        post.complete(publisher.report, steps, publisher)
        return post

    def test_a_final_status_lost_to_the_bus_is_written_again(self):
        publisher, steps = Publisher(TIMEOUT), Steps()
        self._complete(publisher, steps)
        self.assertEqual(
            (2, None, 1), (publisher.writes, publisher.last_error, steps.runs)
        )
        self.assertEqual([('MessagingTimeout', 2)], publisher.events)

    def test_other_status_errors_neither_repeat_nor_stop_the_steps(self):
        # a status write that fails for another reason is only logged
        publisher, steps = Publisher(RuntimeError('db')), Steps()
        self._complete(publisher, steps)
        self.assertEqual(
            (1, 1, []), (publisher.writes, steps.runs, publisher.events)
        )

    def test_without_an_outage_no_event(self):
        publisher, steps = Publisher(), Steps()
        self._complete(publisher, steps)
        self.assertEqual(
            (1, 1, []), (publisher.writes, steps.runs, publisher.events)
        )

    def test_a_bus_down_at_the_end_gets_the_event_though_nothing_failed(self):
        publisher, steps = Publisher(), Steps()
        post = self._complete(publisher, steps, back_at=30)
        self.assertEqual((1, 1), (publisher.writes, steps.runs))
        self.assertEqual([('MessagingTimeout', 1)], publisher.events)
        self.assertEqual(30 + bus.BUS_SETTLE_S, post.waited_s())


class TestServicesPing(unittest.TestCase):
    def test_a_process_without_conductor_has_nothing_to_wait_for(self):
        with (
            mock.patch.object(
                objects_base.NovaObject, 'indirection_api', None
            ),
            mock.patch.object(baserpc, 'BaseAPI') as api,
        ):
            self.assertIsNone(bus.services_ping('ctx', 'lmcB')())
        api.assert_not_called()

    def test_nova_compute_pings_conductor_and_the_destination(self):
        with (
            mock.patch.object(
                objects_base.NovaObject, 'indirection_api', object()
            ),
            mock.patch.object(baserpc, 'BaseAPI') as api,
        ):
            bus.services_ping('ctx', 'lmcB')()
        self.assertEqual(
            [mock.call('conductor'), mock.call('compute')], api.call_args_list
        )
        api.return_value.ping.assert_called_once_with(
            'ctx', 'livemigrate', timeout=bus.PING_TIMEOUT_S
        )
        api.return_value.client.prepare.assert_called_once_with(
            server='lmcB', timeout=bus.PING_TIMEOUT_S
        )
        prepared = api.return_value.client.prepare.return_value
        prepared.call.assert_called_once_with('ctx', 'ping', arg='livemigrate')


class TestNovasStepsRunOnce(unittest.TestCase):
    def test_a_bus_error_in_novas_steps_is_raised_after_one_run(self):
        clock = fakes.FakeClock()
        post = bus.PostSteps(Broker(clock, 0), 600, clock, clock.sleep)
        publisher, steps = Publisher(), Steps(TIMEOUT)
        with self.assertRaises(oslo_messaging.MessagingTimeout):
            post.complete(publisher.report, steps, publisher)
        self.assertEqual((1, 1), (steps.runs, publisher.writes))
