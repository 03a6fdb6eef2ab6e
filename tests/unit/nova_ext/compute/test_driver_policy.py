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
"""The policy in charge of a watched migration: the choice and its
refusals, shadow policies, operator requests, the post-copy switch.
"""

import collections
import json
import unittest
from unittest import mock

from nova_ext.core.observation import Permits
from tests.unit.nova_ext.compute.driver_runs import COMPLETED
from tests.unit.nova_ext.compute.driver_runs import make_driver
from tests.unit.nova_ext.compute.driver_runs import make_instance
from tests.unit.nova_ext.compute.driver_runs import MonitorRuns
from tests.unit.nova_ext.compute.driver_runs import stalled_script
from tests.unit.nova_ext.compute.driver_runs import UUID


class TestPolicyInCharge(MonitorRuns, unittest.TestCase):
    def test_forbidden_user_policy_is_refused_and_published(self):
        drv = make_driver()
        instance = make_instance(metadata={'livemigrate:policy': 'kubevirt'})
        _, store, _, _ = self._monitor(
            drv, stalled_script()[:2] + [COMPLETED], instance, policy='nova'
        )
        self.assertIn('livemigrate_policy-refused', store.events)
        self.assertEqual('nova', store.keys[0]['livemigrate:policy_used'])
        self.assertIn(
            'does not let users choose', store.keys[0]['livemigrate:reason']
        )

    def test_refusal_key_names_asked_used_and_reason(self):
        drv = make_driver()
        instance = make_instance(metadata={'livemigrate:policy': 'turbo'})
        _, store, _, _ = self._monitor(
            drv, stalled_script()[:2] + [COMPLETED], instance, policy='nova'
        )
        refusal = json.loads(store.keys[0]['livemigrate:policy_refused'])
        self.assertEqual(
            ('turbo', 'nova'), (refusal['asked'], refusal['used'])
        )
        self.assertIn("'turbo', which is not installed", refusal['reason'])

    def test_a_shadow_policy_is_recorded_and_never_acts(self):
        drv = make_driver()
        self.flags(permit_pause=False, shadow_policies=['adaptive'])
        guest, store, post, _ = self._monitor(
            drv, stalled_script() + [COMPLETED], make_instance(), policy='nova'
        )
        # adaptive alone aborts this migration (see the policy abort test)
        self.assertIn('livemigrate_shadow:adaptive:abort', store.events)
        self.assertNotIn(('abort',), guest.calls)
        self.assertEqual({'downtime'}, {c[0] for c in guest.calls})
        self.assertEqual('adaptive', store.keys[0]['livemigrate:shadows'])
        self.assertEqual('nova', store.keys[0]['livemigrate:policy_used'])
        post.assert_called_once()

    def test_allowed_user_policy_is_used(self):
        drv = make_driver()
        self.flags(user_selectable_policies=['kubevirt'])
        instance = make_instance(metadata={'livemigrate:policy': 'kubevirt'})
        _, store, _, _ = self._monitor(
            drv, stalled_script()[:2] + [COMPLETED], instance, policy='nova'
        )
        self.assertEqual('kubevirt', store.keys[0]['livemigrate:policy_used'])

    def test_api_force_complete_uses_novas_queue(self):
        drv = make_driver()
        self.flags(permit_pause=True)
        drv.active_migrations[UUID] = collections.deque(['force-complete'])
        guest, _, _, _ = self._monitor(
            drv, stalled_script()[:2] + [COMPLETED], make_instance()
        )
        self.assertIn(('pause',), guest.calls)

    def test_ports_move_once_at_the_switch_to_postcopy(self):
        drv = make_driver()
        drv._permits = lambda instance, flags: Permits.named('postcopy')
        drv._activate_destination_ports = mock.Mock()
        guest, store, _, _ = self._monitor(
            drv, stalled_script() + [COMPLETED], make_instance()
        )
        self.assertEqual(1, guest.calls.count(('postcopy',)))
        drv._activate_destination_ports.assert_called_once_with(
            'ctx', mock.ANY, mock.ANY
        )
        self.assertIn('livemigrate_postcopy', store.events)
