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
"""Tests for the forced-disconnect rules (unit level; see tests/e2e too)."""

import threading
import unittest

from nova_ext.compute import brick


class Connector:
    def __init__(self):
        self.calls = []

    def disconnect_volume(self, props, info, force=False, **kw):
        self.calls.append((force, kw.get('ignore_errors', False)))


class VolumeDriver:
    def __init__(self):
        self.connector = Connector()

    def disconnect_volume(self, connection_info, instance, force=False):
        self.connector.disconnect_volume(connection_info, None, force=force)


class TestRules(unittest.TestCase):
    def test_every_rule_forces_and_says_why(self):
        for path, rule in brick.PATHS.items():
            with self.subTest(path=path):
                self.assertTrue(rule.force)
                self.assertGreater(len(rule.why), 40)

    def test_force_only_inside_a_path(self):
        self.assertFalse(brick.should_force(False))
        self.assertTrue(brick.should_force(True))
        with brick.giving_up('detach_volume'):
            self.assertTrue(brick.should_force(False))
        self.assertFalse(brick.should_force(False))

    def test_unknown_path_is_an_error(self):
        with self.assertRaises(KeyError):
            with brick.giving_up('somewhere'):
                pass

    def test_ignore_errors_only_where_the_rule_says(self):
        drv = VolumeDriver()
        with brick.giving_up('swap_volume'):
            brick.with_rule(drv).connector.disconnect_volume(
                {}, None, force=True
            )
        with brick.giving_up('detach_volume'):
            brick.with_rule(drv).connector.disconnect_volume(
                {}, None, force=True
            )
        self.assertEqual([(True, True), (True, False)], drv.connector.calls)
        self.assertIsInstance(drv.connector, Connector)  # cache untouched

    def test_direct_volume_driver_calls_are_forced_under_a_rule(self):
        """nova's encryptor rollback calls the volume driver without force."""
        drv = VolumeDriver()
        drv.disconnect_volume({}, None)
        with brick.giving_up('connect_rollback'):
            brick.with_rule(drv).disconnect_volume({}, None)
        self.assertEqual([(False, False), (True, False)], drv.connector.calls)

    def test_rules_are_per_thread(self):
        seen = []
        with brick.giving_up('detach_volume'):
            thread = threading.Thread(
                target=lambda: seen.append(brick.current())
            )
            thread.start()
            thread.join()
        self.assertEqual([None], seen)
