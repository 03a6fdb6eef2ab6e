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
"""Tests for what every policy gets from the base class."""

import unittest

from nova_ext.core import loader
from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase
from nova_ext.core.policies import adaptive
from nova_ext.core.policies import base
from nova_ext.core.policies import kubevirt
from nova_ext.core.policies import nova
from nova_ext.core.policies import schedule
from tests import fakes

BUILTINS = (
    nova.NovaPolicy,
    schedule.SchedulePolicy,
    adaptive.AdaptivePolicy,
    kubevirt.KubevirtPolicy,
)


class Scripted(base.ConvergencePolicy):
    """Answers with a fixed list of decisions, to exercise the guard."""

    name = 'scripted'

    def __init__(self, context, script):
        self.script = list(script)
        super().__init__(context)

    def _decide(self, obs):
        return self.script.pop(0)


class TestParams(unittest.TestCase):
    def test_unknown_parameter_is_named(self):
        with self.assertRaisesRegex(
            base.PolicyError, '^policy adaptive: unknown parameter bogus'
        ):
            adaptive.AdaptivePolicy(MigrationContext(GIB), {'bogus': '1'})

    def test_bad_values_are_refused_in_one_line(self):
        cases = [
            (
                adaptive.AdaptivePolicy,
                {'min_rounds': 'two'},
                'min_rounds must be int',
            ),
            (
                adaptive.AdaptivePolicy,
                {'min_rounds': '1'},
                'min_rounds must be >= 2',
            ),
            (
                nova.NovaPolicy,
                {'timeout_action': 'explode'},
                'timeout_action must be one of abort, force_complete',
            ),
            (
                nova.NovaPolicy,
                {'downtime_ms': '50'},
                'downtime_ms must be >= 100',
            ),
            (
                kubevirt.KubevirtPolicy,
                {'allow_workload_disruption': 'maybe'},
                'allow_workload_disruption must be bool',
            ),
            (
                schedule.SchedulePolicy,
                {'preset': 'turbo'},
                'preset must be one of fast, gentle, stepped',
            ),
        ]
        for cls, params, message in cases:
            with self.subTest(cls=cls.name, params=params):
                with self.assertRaises(base.PolicyError) as ctx:
                    cls(MigrationContext(GIB), params)
                self.assertIn(message, str(ctx.exception))
                self.assertNotIn('\n', str(ctx.exception))

    def test_string_values_are_typed(self):
        policy = adaptive.AdaptivePolicy(
            MigrationContext(GIB),
            {'min_rounds': '3', 'observe_s': '90.5'},
        )
        self.assertEqual(3, policy.params['min_rounds'])
        self.assertEqual(90.5, policy.params['observe_s'])

    def test_deprecated_parameters_are_accepted_with_a_warning(self):
        """A deployment that set a removed parameter keeps starting."""
        with self.assertLogs('nova_ext.core.policies.base', 'WARNING') as logs:
            policy = adaptive.AdaptivePolicy(
                MigrationContext(GIB),
                {'stall_rounds': 'zero', 'backstop_s_per_gib': '150'},
            )
        self.assertNotIn('stall_rounds', policy.params)
        self.assertEqual(2, len(logs.records))
        self.assertIn(
            'parameter backstop_s_per_gib is deprecated and ignored: '
            'replaced by completion_timeout_s_per_gib',
            logs.output[0],
        )

    def test_config_options_feed_declared_parameters(self):
        for name in loader.available_policies():
            cls = loader.policy_class(name)
            declared = {p.name for p in cls.PARAMS}
            with self.subTest(policy=name):
                self.assertLessEqual(set(cls.CONFIG_OPTIONS), declared)
                for group, option in cls.CONFIG_OPTIONS.values():
                    self.assertIsInstance(group, str)
                    self.assertIsInstance(option, str)

    def test_parse_param_string(self):
        self.assertEqual(
            {'steps': 'i1:dt100 s2:abort', 'preset': 'fast'},
            base.parse_param_string('steps=i1:dt100 s2:abort; preset=fast'),
        )
        self.assertEqual({}, base.parse_param_string(''))
        with self.assertRaisesRegex(base.PolicyError, 'expected key=value'):
            base.parse_param_string('oops')
        with self.assertRaisesRegex(base.PolicyError, 'given twice'):
            base.parse_param_string('a=1;a=2')


class TestGuard(unittest.TestCase):
    def _policy(self, permits, script):
        return Scripted(MigrationContext(4 * GIB, permits), script)

    def test_guard_refuses_what_the_deployment_forbids(self):
        policy = self._policy(
            Permits.named('none'),
            [
                Decision(Action.POSTCOPY, 'want'),
                Decision(Action.PAUSE, 'want'),
            ],
        )
        for _ in range(2):
            decision = policy.decide(fakes.observation(1))
            self.assertIs(Action.NOTHING, decision.action)
            self.assertIn('not permitted', decision.reason)

    def test_guard_never_aborts_during_postcopy(self):
        permits = Permits(postcopy=True, pause=True, abort=True)
        for action in (Action.ABORT, Action.PAUSE, Action.POSTCOPY):
            with self.subTest(action=action):
                policy = self._policy(permits, [Decision(action, 'want')])
                decision = policy.decide(
                    fakes.observation(1, phase=Phase.POSTCOPY)
                )
                self.assertIs(Action.NOTHING, decision.action)
                self.assertIn('post-copy has started', decision.reason)

    def test_guard_no_postcopy_for_a_paused_guest(self):
        policy = self._policy(
            Permits(postcopy=True, pause=True),
            [Decision(Action.POSTCOPY, 'want'), Decision(Action.ABORT, 'x')],
        )
        paused = fakes.observation(1, phase=Phase.PAUSED)
        self.assertIs(Action.NOTHING, policy.decide(paused).action)
        self.assertIs(Action.ABORT, policy.decide(paused).action)

    def test_guard_caps_downtime_and_drops_repeats(self):
        policy = self._policy(
            Permits(max_downtime_ms=400),
            [
                Decision(Action.SET_DOWNTIME, 'up', 900),
                Decision(Action.SET_DOWNTIME, 'again', 700),
            ],
        )
        first = policy.decide(fakes.observation(1))
        self.assertEqual(
            (Action.SET_DOWNTIME, 400), (first.action, first.downtime_ms)
        )
        self.assertIn('capped', first.reason)
        self.assertIs(
            Action.NOTHING, policy.decide(fakes.observation(2)).action
        )

    def test_builtins_never_act_during_postcopy(self):
        """Whatever they saw before, no built-in acts once post-copy runs."""
        permits = Permits(postcopy=True, pause=True, abort=True)
        for cls in BUILTINS:
            with self.subTest(policy=cls.name):
                policy = cls(
                    MigrationContext(4 * GIB, permits),
                    {'completion_timeout_s': '3'}
                    if cls is nova.NovaPolicy
                    else None,
                )
                samples = fakes.sawtooth(
                    [4 * GIB] + [2 * GIB] * 6, phase=Phase.POSTCOPY
                )
                self.assertEqual([], fakes.actions(policy, samples))
