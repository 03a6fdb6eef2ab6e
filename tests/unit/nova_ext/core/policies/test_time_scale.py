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
"""``time_scale``: the same decisions at the scale of a test guest.

Real-level tests move 256-512 MiB guests over a 20 MiB/s link, where one
copy takes 13-26 s but the policies' floors are production's (adaptive's
120 s, nova's 800 s per GiB). One parameter scales every duration a policy
counts in seconds; nothing else about its decisions may change.
"""

import unittest

from nova_ext.core.observation import Action
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.policies import adaptive
from nova_ext.core.policies import base
from nova_ext.core.policies import kubevirt
from nova_ext.core.policies import nova
from nova_ext.core.policies import schedule
from nova_ext.core.sim import model
from nova_ext.core.sim import runner
from tests import fakes

BUILTINS = (
    nova.NovaPolicy,
    schedule.SchedulePolicy,
    adaptive.AdaptivePolicy,
    kubevirt.KubevirtPolicy,
)
#: the durations each built-in counts, which time_scale must reach
DURATIONS = {
    'nova': {'downtime_delay_s', 'completion_timeout_s'},
    'schedule': set(),
    'adaptive': {
        'observe_s',
        'completion_timeout_s_per_gib',
        'postcopy_observe_s',
        'pause_stall_s',
    },
    'kubevirt': {'completion_timeout_per_gib', 'progress_timeout'},
}
ABORT_ONLY = Permits.named('none')


def _first(policy, action, until_s=4000, step_s=0.5, **obs):
    """Feed a migration that never shrinks; when is ``action`` decided?"""
    t = 0.0
    while t < until_s:
        t += step_s
        decision = policy.decide(fakes.observation(t, **obs))
        if decision.action is action:
            return t
    return None


class TestParameter(unittest.TestCase):
    def test_every_builtin_accepts_it_and_scales_its_durations(self):
        for cls in BUILTINS:
            ctx = MigrationContext(GIB)
            plain = cls(ctx).params
            scaled = cls(ctx, {'time_scale': '0.1'}).params
            self.assertEqual(1.0, plain['time_scale'], cls.name)
            for name, value in plain.items():
                if name == 'time_scale':
                    continue
                want = value * 0.1 if name in DURATIONS[cls.name] else value
                self.assertEqual(want, scaled[name], (cls.name, name))
            declared = {p.name for p in cls.PARAMS if p.seconds}
            self.assertEqual(DURATIONS[cls.name], declared, cls.name)

    def test_scale_one_leaves_values_and_types_alone(self):
        params = nova.NovaPolicy(MigrationContext(GIB)).params
        self.assertIs(int, type(params['completion_timeout_s']))

    def test_bad_scales_are_refused_in_one_line(self):
        for raw in ('0', '-1', 'fast'):
            with self.assertRaisesRegex(
                base.PolicyError, '^policy nova: parameter time_scale'
            ):
                nova.NovaPolicy(MigrationContext(GIB), {'time_scale': raw})


class TestDecisionsMove(unittest.TestCase):
    def test_nova_completion_timeout(self):
        # 1 GiB counts as nova's minimum of 2 GiB: 1600 s, scaled 160 s
        for scale, want in (('1', 1600.5), ('0.1', 160.5)):
            p = nova.NovaPolicy(
                MigrationContext(GIB, ABORT_ONLY), {'time_scale': scale}
            )
            self.assertEqual(want, _first(p, Action.ABORT), scale)

    def test_nova_downtime_steps(self):
        p = nova.NovaPolicy(MigrationContext(GIB), {'time_scale': '0.1'})
        # 75 s/GiB x 2 GiB x 0.1: a step every 15 s
        self.assertEqual(15, p.steps[1][0])
        self.assertEqual(150, p.steps[-1][0])

    def test_kubevirt_progress_timeout(self):
        # the first sample (0.5 s) is the last progress seen
        for scale, want in (('1', 151.0), ('0.1', 16.0)):
            p = kubevirt.KubevirtPolicy(
                MigrationContext(GIB, ABORT_ONLY), {'time_scale': scale}
            )
            self.assertEqual(want, _first(p, Action.ABORT), scale)

    def test_schedule_time_triggers_only(self):
        p = schedule.SchedulePolicy(
            MigrationContext(GIB, ABORT_ONLY),
            {'steps': 'i1:dt100 t60:abort', 'time_scale': '0.1'},
        )
        self.assertEqual(1, p.steps[0].limit)  # an iteration, not a time
        self.assertEqual(6.0, _first(p, Action.ABORT))

    def test_adaptive_judges_a_stall_after_the_scaled_floor(self):
        # 256 MiB at 20 MiB/s, rewriting 64 MiB at 100 MiB/s: one copy is
        # 12.8 s; T_obs is 120 + 38.4 s, or 12 + 38.4 s at 0.1
        work = model.Workload(256 * MIB, 100 * MIB, 64 * MIB)
        link = model.Link(20 * MIB)
        first = {}
        for scale in ('1', '0.1'):
            policy = adaptive.AdaptivePolicy(
                MigrationContext(work.ram_bytes, ABORT_ONLY),
                {'time_scale': scale},
            )
            result = runner.simulate(policy, work, link, max_s=3600)
            self.assertEqual('aborted', result.outcome, scale)
            first[scale] = result.escalation_s
        self.assertGreaterEqual(first['1'], 158.4)
        self.assertGreaterEqual(first['0.1'], 50.4)
        self.assertLess(first['0.1'], 0.5 * first['1'])
