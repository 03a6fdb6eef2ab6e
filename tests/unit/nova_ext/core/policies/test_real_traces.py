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
"""Replay job stats recorded on real hosts through the adaptive policy.

Hand-built samples show what we expect libvirt to report; these traces
(``benchmarks/traces/``, written by ``python -m benchmarks.real``) are what
libvirt 11 / QEMU 10 really reported, saw-tooth, zero pages and all. The
replay does what the monitor does (phase and downtime follow the applied
decisions), so a policy change that alters real behaviour shows up here.
"""

import json
import os
import unittest

from nova_ext.core import observation
from nova_ext.core.observation import Action
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase
from nova_ext.core import phases
from nova_ext.core.policies import adaptive

TRACES = os.path.join(
    os.path.dirname(__file__),
    '..',
    '..',
    '..',
    '..',
    '..',
    'benchmarks',
    'traces',
)


def load(name):
    with open(os.path.join(TRACES, name)) as fh:
        return json.load(fh)


def replay(trace, policy=None):
    """:returns: [(elapsed_s, action, reason, downtime_ms)] of every action."""
    permits = Permits.named(trace['permits'])
    policy = policy or adaptive.AdaptivePolicy(
        MigrationContext(trace['ram_bytes'], permits), {}
    )
    phase, downtime, out = Phase.PRECOPY, None, []
    for elapsed, stats in trace['samples']:
        obs = observation.from_job_info(stats, elapsed, phase, downtime)
        decision = policy.decide(obs)
        if decision.action is Action.NOTHING:
            continue
        out.append(
            (
                round(elapsed, 1),
                decision.action.value,
                decision.reason,
                decision.downtime_ms,
            )
        )
        if decision.action is Action.SET_DOWNTIME:
            downtime = decision.downtime_ms
        phase = phases.phase_after(phase, decision.action)
    return out


ALL = (
    'real-adaptive-calm-none.json',
    'real-adaptive-calm-pause.json',
    'real-adaptive-calm-postcopy.json',
    'real-adaptive-hot-none.json',
    'real-adaptive-hot-pause.json',
    'real-adaptive-hot-postcopy.json',
    'real-adaptive-warm-none.json',
    'real-adaptive-warm-pause.json',
    'real-adaptive-warm-postcopy.json',
)


class TestRealTraces(unittest.TestCase):
    def check(self, name, expected):
        got = replay(load(name))
        self.assertEqual(expected, [(d[0], d[1], d[3]) for d in got])

    def test_hot_postcopy_is_not_judged_within_the_recording(self):
        # NOTE: expectation changed with issue 9. Recorded with the old
        # adaptive, which switched to post-copy at 22.3 s after two flat
        # rounds; the recording ends there. The new policy judges a
        # post-copy switch only after 2 s + RAM/bandwidth (512 MiB at
        # about 20 MiB/s: about 28 s), so within these samples it only
        # sets the downtime. What it does later needs a new recording on
        # the real hosts (the real-guest half of issue 9); the trace
        # stays as recorded.
        self.check('real-adaptive-hot-postcopy.json', EXPECTED_HOT_POSTCOPY)

    def test_calm_none_sets_the_permitted_downtime(self):
        # NOTE: expectation changed with issue 9: the permitted maximum
        # (500 ms) at once instead of 300 ms; the calm guest completed
        # at 6.5 s either way.
        self.check('real-adaptive-calm-none.json', EXPECTED_CALM_NONE)

    def test_every_recording_ends_before_the_new_horizon(self):
        """Why no replay escalates: each trace ends before it is judged.

        The old policy escalated at 12-25 s in the hot and warm traces;
        the new one waits for T_obs (120 s + 3 x RAM/bandwidth, about
        197 s here) or, with post-copy, 2 s + RAM/bandwidth.
        """
        for name in ALL:
            with self.subTest(trace=name):
                trace = load(name)
                permits = Permits.named(trace['permits'])
                policy = adaptive.AdaptivePolicy(
                    MigrationContext(trace['ram_bytes'], permits), {}
                )
                got = replay(trace, policy)
                self.assertEqual(['set-downtime'], [d[1] for d in got], got)
                self.assertLess(trace['samples'][-1][0], policy.horizon_s())


# NOTE: pinned from the replay of the stored traces: (elapsed_s, action,
# downtime_ms).
EXPECTED_HOT_POSTCOPY = [(0.5, 'set-downtime', 500)]
EXPECTED_CALM_NONE = [(0.5, 'set-downtime', 500)]
