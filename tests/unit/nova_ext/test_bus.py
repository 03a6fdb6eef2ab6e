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
mini-cloud in tests/functional/cloud/test_libvirt_restarts.py.
"""

import unittest

import oslo_messaging

from nova_ext import bus
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


class TestAcrossOutage(unittest.TestCase):
    def _run(self, steps, back_at, window_s=600):
        clock = fakes.FakeClock()
        broker = Broker(clock, back_at)
        retried = []
        try:
            return (
                bus.across_outage(
                    steps, broker, window_s, retried.append, clock, clock.sleep
                ),
                broker,
                retried,
                clock(),
            )
        finally:
            self.broker, self.retried, self.ended = broker, retried, clock()

    def test_steps_that_succeed_run_once_without_a_ping(self):
        steps = Steps()
        result, broker, retried, _ = self._run(steps, back_at=0)
        self.assertEqual(
            ('moved', 1, 0, []), (result, steps.runs, broker.pings, retried)
        )

    def test_a_bus_timeout_runs_the_steps_again_once_the_bus_answers(self):
        steps = Steps(TIMEOUT)
        result, broker, retried, ended = self._run(steps, back_at=60)
        self.assertEqual(('moved', 2), (result, steps.runs))
        self.assertEqual([TIMEOUT], retried)
        # pinged until the broker was back, not beyond
        self.assertEqual(13, broker.pings)
        self.assertLess(ended - 60, bus.PING_TIMEOUT_S + 1)

    def test_a_failed_delivery_counts_as_a_bus_error(self):
        steps = Steps(oslo_messaging.MessageDeliveryFailure('no broker'))
        result, _, retried, _ = self._run(steps, back_at=0)
        self.assertEqual(('moved', 2), (result, steps.runs))
        self.assertEqual(1, len(retried))

    def test_a_bus_that_stays_down_raises_after_the_window(self):
        steps = Steps(TIMEOUT)
        with self.assertRaises(oslo_messaging.MessagingTimeout):
            self._run(steps, back_at=10**6, window_s=300)
        self.assertEqual(1, steps.runs)
        self.assertEqual([], self.retried)
        self.assertGreaterEqual(self.ended, 300)
        self.assertLess(self.ended, 300 + bus.PING_TIMEOUT_S + 1)

    def test_window_zero_raises_the_first_bus_error(self):
        steps = Steps(TIMEOUT)
        with self.assertRaises(oslo_messaging.MessagingTimeout):
            self._run(steps, back_at=0, window_s=0)
        self.assertEqual((1, 0), (steps.runs, self.broker.pings))

    def test_other_errors_are_raised_at_once(self):
        steps = Steps(RuntimeError('401 from neutron'))
        with self.assertRaisesRegex(RuntimeError, '401'):
            self._run(steps, back_at=0)
        self.assertEqual((1, 0), (steps.runs, self.broker.pings))

    def test_the_window_counts_from_the_first_failure(self):
        # each run times out after 60 s, the bus answers pings in between:
        # the steps stop being retried once 300 s have passed since the first
        steps = Steps(*[TIMEOUT] * 20)
        clock = fakes.FakeClock()

        def slow_steps():
            clock.sleep(60)
            return steps()

        with self.assertRaises(oslo_messaging.MessagingTimeout):
            bus.across_outage(
                slow_steps, lambda: None, 300, clock=clock, sleep=clock.sleep
            )
        self.assertEqual(6, steps.runs)
