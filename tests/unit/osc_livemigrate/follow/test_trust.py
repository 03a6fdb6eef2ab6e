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
"""What a project member can forge is marked, and counts for no verdict
that nova's own events do not back.
"""

import types
import unittest

from osc_livemigrate.follow import final
from osc_livemigrate.follow import trust
from osc_livemigrate.follow import waiting

UUID = 'a0000000-0000-4000-8000-000000000001'
REFUSED = 'livemigrate_policy-refused'


class TestMarks(unittest.TestCase):
    def test_header(self):
        self.assertEqual('Policy [owner-writable]', trust.header('Policy'))

    def test_tagged_only_when_owner_writable_and_shown(self):
        self.assertEqual(
            ('post-copy [owner-writable]', 'pre-copy', None),
            (
                trust.tagged('post-copy', True),
                trust.tagged('pre-copy', False),
                trust.tagged(None, True),
            ),
        )

    def test_every_final_figure_is_marked(self):
        # every one comes from livemigrate:last_migration
        self.assertEqual(6, len(final.ROWS))
        for header, _ in final.ROWS:
            self.assertTrue(header.endswith(' [owner-writable]'), header)

    def test_a_shadow_known_only_from_metadata_is_marked(self):
        # decisions are nova's events; a name without any is metadata's
        self.assertEqual(
            'kubevirt: postcopy; forged: nothing [owner-writable]',
            final.shadow_summary(
                ['kubevirt', 'forged'],
                ['livemigrate_shadow:kubevirt:postcopy'],
            ),
        )


class TestVouched(unittest.TestCase):
    def test_an_event_nova_recorded_vouches(self):
        self.assertTrue(trust.vouched('policy-refused', ['x', REFUSED]))

    def test_no_event_denies(self):
        self.assertIs(
            False,
            trust.vouched('policy-refused', ['livemigrate_set-downtime']),
        )

    def test_unread_events_say_nothing(self):
        self.assertIsNone(trust.vouched('policy-refused', None))


class TestRefusalClaim(unittest.TestCase):
    def test_backed_by_nova(self):
        self.assertEqual(
            ('not allowed', None),
            trust.refusal_claim('not allowed', [REFUSED]),
        )

    def test_denied_by_nova_is_dropped_with_a_note(self):
        refused, note = trust.refusal_claim('not allowed', [])
        self.assertIsNone(refused)
        self.assertEqual(
            'owner-writable server metadata says the driver refused the '
            'policy (not allowed), but nova recorded no event '
            'livemigrate_policy-refused: not counted',
            note,
        )

    def test_kept_when_events_cannot_be_read(self):
        # only the owner's own server: they fool no one but themselves
        self.assertEqual(
            ('not allowed', None), trust.refusal_claim('not allowed', None)
        )

    def test_no_claim(self):
        self.assertEqual((None, None), trust.refusal_claim(None, []))


def _srv(host, metadata):
    return types.SimpleNamespace(compute_host=host, metadata=metadata)


class TestVerdict(unittest.TestCase):
    """waiting.verdict: a forged refusal does not turn a completed move
    into a failure once nova's events are read.
    """

    record = types.SimpleNamespace(status='completed', uuid=UUID)
    forged = {
        'livemigrate:migration': UUID,
        'livemigrate:policy_used': 'forged',
    }

    def test_before_the_events_are_read_the_claim_fails_the_move(self):
        # judge() reads the events only for a failure: this one
        o = waiting.verdict('c1', _srv('c2', self.forged), self.record, 'a')
        self.assertFalse(o.ok)

    def test_events_without_the_drivers_refusal(self):
        o = waiting.verdict(
            'c1',
            _srv('c2', self.forged),
            self.record,
            'a',
            events=[('compute_live_migration', 'x')],
        )
        self.assertTrue(o.ok, o.reason)
        self.assertIn('the driver ran policy forged instead of a', o.reason)
        self.assertIn('not counted', o.reason)

    def test_events_with_the_drivers_refusal(self):
        o = waiting.verdict(
            'c1',
            _srv('c2', self.forged),
            self.record,
            'a',
            events=[(REFUSED, 'a is not installed')],
        )
        self.assertFalse(o.ok)
        self.assertIn('event %s: a is not installed' % REFUSED, o.reason)

    def test_judge_reads_the_events_and_drops_the_forged_claim(self):
        class Compute:
            def server_actions(self, server_id):
                return [
                    types.SimpleNamespace(
                        action='live-migration', request_id='r', start_time='1'
                    )
                ]

            def get_server_action(self, request_id, server_id):
                return types.SimpleNamespace(
                    events=[{'event': 'compute_live_migration'}]
                )

        o = waiting.judge(
            Compute(), 's-1', 'c1', _srv('c2', self.forged), self.record, 'a'
        )
        self.assertTrue(o.ok, o.reason)

    def test_judge_keeps_the_claim_when_events_cannot_be_read(self):
        class Compute:
            def server_actions(self, server_id):
                raise RuntimeError('403')

        o = waiting.judge(
            Compute(), 's-1', 'c1', _srv('c2', self.forged), self.record, 'a'
        )
        self.assertFalse(o.ok)
