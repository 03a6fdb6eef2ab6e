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
"""``server migrate --wait`` when the driver refused the asked policy: a
failed move although it completed, told once, as it appears.
"""

from osc_lib import exceptions

from tests.unit.osc_livemigrate.v1 import migrate_base as base


class TestMigrateServerRefusal(base.Base):
    def test_wait_refused_policy_fails_although_completed(self):
        md = {
            'livemigrate:migration': base.UUID,
            'livemigrate:action': 'policy-refused',
            'livemigrate:reason': 'adaptive is not allowed here',
        }
        self.script(metadata=md)
        base.driver_events(
            self, ('livemigrate_policy-refused', 'adaptive is not allowed')
        )
        with self.assertRaisesRegex(
            exceptions.CommandError,
            'policy refused by the driver: adaptive is not allowed',
        ):
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'adaptive'
            )

    def test_wait_refusal_is_a_json_object_of_its_own(self):
        base.refused_at_tick(self, 3)
        with self.assertRaises(exceptions.CommandError) as ctx:
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            )
        lines = self.json_lines()
        kinds = [line['type'] for line in lines]
        self.assertEqual(1, kinds.count('policy_refused'), kinds)
        at = kinds.index('policy_refused')
        self.assertIn('progress', kinds[:at])
        self.assertIn('progress', kinds[at + 1 :])
        refusal = lines[at]
        self.assertEqual(
            ('turbo', 'nova', 'vm1', base.UUID),
            (
                refusal['asked'],
                refusal['used'],
                refusal['server'],
                refusal['migration'],
            ),
        )
        self.assertIn("'turbo', which is not installed", refusal['reason'])
        self.assertIn('policy turbo refused', str(ctx.exception))

    def test_refusal_of_an_earlier_migration_is_not_told(self):
        md = dict(base.REFUSAL, **{'livemigrate:migration': 'older'})
        self.script(metadata=md)
        self.assertEqual(
            0,
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            ),
        )
        kinds = [line['type'] for line in self.json_lines()]
        self.assertNotIn('policy_refused', kinds)

    def test_wait_refusal_seen_only_in_policy_used_still_fails(self):
        """The refusal key is soon overwritten; policy_used is not."""
        md = {
            'livemigrate:migration': base.UUID,
            'livemigrate:policy_used': 'nova',
            'livemigrate:action': 'set-downtime',
        }
        self.script(metadata=md)
        base.driver_events(self, base.REFUSED_EVENT)
        with self.assertRaises(exceptions.CommandError) as ctx:
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            )
        text = str(ctx.exception)
        self.assertIn('the driver ran policy nova instead of turbo', text)
        self.assertIn(
            "event livemigrate_policy-refused: policy 'turbo', which is not "
            'installed',
            text,
        )

    def test_a_refusal_nova_has_no_event_for_does_not_fail_the_wait(self):
        """A project member can write the refusal keys; only nova writes
        events: a refusal without the driver's event is not counted, and
        the verdict says so.
        """
        base.refused_at_tick(self, 3)
        base.driver_events(self, ('compute_live_migration', None))
        self.assertEqual(
            0,
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            ),
        )
        lines = self.json_lines()
        refusal = [x for x in lines if x['type'] == 'policy_refused']
        self.assertIn(
            'owner-writable server metadata says the driver refused',
            refusal[0]['message'],
        )
        result = lines[-1]
        self.assertTrue(result['ok'], result)
        self.assertIn(
            'owner-writable server metadata says the driver refused the '
            'policy (policy turbo refused, policy nova ran: ',
            result['reason'],
        )
        self.assertIn(
            'nova recorded no event livemigrate_policy-refused: not counted',
            result['reason'],
        )

    def test_a_forged_policy_used_does_not_fail_the_wait(self):
        md = {
            'livemigrate:migration': base.UUID,
            'livemigrate:policy_used': 'forged',
        }
        self.script(metadata=md)
        base.driver_events(self, ('livemigrate_set-downtime', None))
        self.assertEqual(
            0,
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            ),
        )
        self.assertIn(
            'the driver ran policy forged instead of turbo), but nova '
            'recorded no event',
            self.json_lines()[-1]['reason'],
        )


class TestMigrateServerRefusalTTY(base.Base):
    TTY = True

    def test_refusal_warned_once_as_it_appears_then_progress_goes_on(self):
        base.refused_at_tick(self, 2)
        with self.assertRaises(exceptions.CommandError):
            self.run_cmd(
                'vm1', '--live-migration', '--wait', '--policy', 'turbo'
            )
        out = self.app.stdout.getvalue()
        warning = (
            'Warning: owner-writable server metadata says the driver '
            'refused policy turbo for server vm1 and runs policy nova: '
            "server metadata asks for policy 'turbo', which is not "
            'installed (installed: nova)\n'
        )
        self.assertEqual(1, out.count(warning), out)
        before, after = out.split(warning)
        # two bars first (the tags leave no room for the bar's cells at 100
        # columns), then progress goes on
        self.assertEqual(2, before.count('\r'), before)
        self.assertIn('\r', after)
        self.assertIn(
            'requested policy refused by the driver: policy turbo refused, '
            'policy nova ran: server metadata asks',
            after,
        )
