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
"""The contract table names everything the driver publishes, and only that.

The replay scenarios of :mod:`test_monitor_replay` run every policy,
operator request and fault the unit tests know; every key, phase, action
and event the publisher wrote there must be in :mod:`nova_ext.core.contract`.
"""

import unittest

from nova_ext.compute import publisher
from nova_ext.core import contract
from tests.unit.nova_ext.compute import replays


class TestContract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keys, cls.events = set(), set()
        cls.phases, cls.actions = set(), set()
        for kw in replays.scenarios().values():
            record, _ = replays.replay(**kw)
            for entry in record['published']:
                if entry[0] == 'event':
                    cls.events.add(entry[1])
                elif entry[0] == 'metadata':
                    keys = dict(entry[1])
                    cls.keys.update(keys)
                    cls.phases.add(keys[contract.PHASE_KEY])
                    if contract.ACTION_KEY in keys:
                        cls.actions.add(keys[contract.ACTION_KEY])

    def test_every_written_key_is_in_the_contract(self):
        self.assertLessEqual(self.keys, contract.KEYS)
        self.assertIn(contract.PHASE_KEY, self.keys)

    def test_every_published_phase_and_action_is_in_the_contract(self):
        self.assertLessEqual(self.phases, contract.PHASES)
        self.assertLessEqual(self.actions, contract.ACTIONS)
        self.assertIn(contract.PHASE_POSTCOPY_FAILED, self.phases)
        self.assertIn('pause', self.actions)

    def test_every_event_is_in_the_contract(self):
        self.assertLessEqual(self.events, contract.EVENTS)
        self.assertIn('livemigrate_postcopy-resumed', self.events)

    def test_an_abort_before_any_action_shows_aborted_as_action(self):
        # NOTE: an API abort in the first poll: the monitor applied nothing
        store = replays.Store()
        pub = publisher.Publisher(store, 'm-1', 'nova')
        pub.started()
        pub.finished(contract.PHASE_ABORTED, 'abort requested')
        keys = dict(store.written[-1][1])
        self.assertEqual(contract.PHASE_ABORTED, keys[contract.ACTION_KEY])
        self.assertIn(keys[contract.ACTION_KEY], contract.ACTIONS)

    def test_every_name_is_ours(self):
        for key in contract.KEYS:
            self.assertTrue(key.startswith(contract.PREFIX), key)
        self.assertIn(contract.POLICY_KEY, contract.KEYS)
        self.assertEqual('livemigrate:policy', contract.POLICY_KEY)
