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
"""Tests for per-instance policy selection and its permissions."""

import unittest

from nova_ext.core import selection

INSTALLED = ('nova', 'schedule', 'adaptive', 'kubevirt')


def _select(allowed=(), **sources):
    return selection.select_policy('nova', list(allowed), INSTALLED, **sources)


class TestSelectPolicy(unittest.TestCase):
    def test_default_when_nothing_asked(self):
        self.assertEqual(
            ('nova', 'default', (), None), tuple(vars(_select()).values())
        )

    def test_flavor_is_admin_controlled_and_always_counts(self):
        chosen = _select(flavor='adaptive')
        self.assertEqual(
            ('adaptive', 'flavor extra spec'), (chosen.name, chosen.source)
        )

    def test_user_sources_only_within_the_allow_list(self):
        chosen = _select(server='kubevirt', flavor='adaptive')
        self.assertEqual('adaptive', chosen.name)
        self.assertIn('does not let users choose', chosen.refusals[0])
        chosen = _select(
            allowed=['kubevirt'], server='kubevirt', flavor='adaptive'
        )
        self.assertEqual(
            ('kubevirt', 'server metadata'), (chosen.name, chosen.source)
        )

    def test_most_specific_wins(self):
        chosen = _select(
            allowed=['schedule', 'kubevirt'],
            server='schedule',
            image='kubevirt',
            flavor='adaptive',
        )
        self.assertEqual('schedule', chosen.name)
        chosen = _select(
            allowed=['schedule', 'kubevirt'],
            image='kubevirt',
            flavor='adaptive',
        )
        self.assertEqual('kubevirt', chosen.name)

    def test_unknown_policy_is_refused_with_reason(self):
        chosen = _select(allowed=['turbo'], server='turbo')
        self.assertEqual('nova', chosen.name)
        self.assertIn("'turbo', which is not installed", chosen.refusals[0])

    def test_the_first_refused_request_is_the_one_asked_for(self):
        chosen = _select(server='turbo', image='kubevirt')
        self.assertEqual(('nova', 'turbo'), (chosen.name, chosen.asked))
        self.assertEqual(2, len(chosen.refusals))
        chosen = _select(allowed=['kubevirt'], server='kubevirt')
        self.assertIsNone(chosen.asked)
