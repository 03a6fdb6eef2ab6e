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
"""Shadow policies decide on the monitor's samples and never act.

The monitor runs on the scripted fake guest of tests/fakes.py, whose
``calls`` hold every libvirt write (RecordedWrites); the real-level check
is tests/functional/libvirt_cloud/test_libvirt_migration.py.
"""

import unittest

from nova_ext.compute import publisher
from nova_ext.compute import shadows
from nova_ext.core import loader
from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.policies import base
from tests import fakes
from tests.unit.nova_ext.compute import monitor_runs
from tests.unit.nova_ext.compute.stores import Recorder
from tests.unit.nova_ext.compute.stores import WRITES

COMPLETED = 3


class Always:
    """A policy answering the same decision to every sample."""

    def __init__(self, decision):
        self.decision = decision
        self.seen = []

    def decide(self, obs):
        self.seen.append(obs)
        return self.decision


class Broken:
    """A policy that raises on its second sample."""

    def __init__(self):
        self.calls = 0

    def decide(self, obs):
        self.calls += 1
        if self.calls >= 2:
            raise ZeroDivisionError('shadow bug')
        return Decision(Action.NOTHING, 'fine')


def _script(polls):
    return fakes.job_stats(fakes.sawtooth([4 * GIB] + [2 * GIB] * polls))[
        :polls
    ] + [COMPLETED]


def _run(shadow_policies, polls=10, interval_s=2.0):
    """Active: the nova policy with its defaults; shadows beside it."""
    recorded = []
    active = loader.build_policy('nova', MigrationContext(4 * GIB))
    sh = shadows.Shadows(
        shadow_policies,
        interval_s,
        lambda name, d: recorded.append((name, d.action.value)),
    )
    outcome, guest, decisions, _ = monitor_runs.run(
        active, _script(polls), stats_interval_s=interval_s, shadows=sh
    )
    return outcome, guest, decisions, recorded


class TestShadows(unittest.TestCase):
    def test_a_shadow_sees_every_sample_and_libvirt_only_the_active(self):
        shadow = Always(Decision(Action.ABORT, 'I would give up'))
        _, alone, _, _ = _run({})
        with self.assertLogs('nova_ext.compute.shadows', 'DEBUG') as logs:
            outcome, guest, decisions, recorded = _run({'quitter': shadow})
        self.assertEqual('completed', outcome.job)
        # the libvirt writes are the active policy's, as without a shadow
        self.assertEqual(alone.calls, guest.calls)
        self.assertNotIn(('abort',), guest.calls)
        self.assertEqual(10, len(shadow.seen))
        # every decision logged, at INFO and recorded once per 2 s interval
        # (0.5 s polls), at DEBUG between
        self.assertEqual(10, len(logs.records))
        self.assertEqual(
            ['INFO', 'DEBUG', 'DEBUG', 'DEBUG'] * 2 + ['INFO', 'DEBUG'],
            [r.levelname for r in logs.records],
        )
        self.assertIn(
            'shadow policy quitter would abort at 0.0 s: I would give up',
            logs.records[0].getMessage(),
        )
        self.assertEqual([('quitter', 'abort')] * 3, recorded)

    def test_a_shadow_that_raises_never_disturbs_the_migration(self):
        _, alone, alone_decisions, _ = _run({})
        other = Always(Decision(Action.POSTCOPY, 'switch'))
        broken = Broken()
        with self.assertLogs('nova_ext.compute.shadows', 'WARNING') as logs:
            outcome, guest, decisions, recorded = _run(
                {'broken': broken, 'other': other}
            )
        self.assertEqual('completed', outcome.job)
        self.assertEqual(alone.calls, guest.calls)
        self.assertEqual(alone_decisions, decisions)
        # dropped after its failure, with one warning; the other goes on
        self.assertEqual(2, broken.calls)
        self.assertEqual(1, len(logs.records))
        self.assertIn('broken failed at 0.5 s', logs.records[0].getMessage())
        self.assertEqual(10, len(other.seen))
        self.assertEqual([('other', 'postcopy')] * 3, recorded)

    def test_a_new_decision_is_recorded_inside_the_interval(self):
        """A schedule's two steps 4.9 s apart on 5 s polls: two events.

        The cloud's shadow case (t5:dt300 t10:postcopy) once recorded only
        the downtime step: the throttle counted any decision, and the
        schedule states its post-copy step once, so it was lost.
        """
        recorded = []
        policy = loader.build_policy(
            'schedule',
            MigrationContext(4 * GIB, Permits(postcopy=True)),
            {'steps': 't5:dt300 t10:postcopy'},
        )
        repeat = Always(Decision(Action.ABORT, 'again'))
        sh = shadows.Shadows(
            {'schedule': policy, 'repeat': repeat},
            5.0,
            lambda name, d: recorded.append((name, d.action.value)),
        )
        for t in (0.4, 5.4, 10.3, 12.0, 15.4):
            sh.observe(fakes.observation(t))
        self.assertEqual(
            [
                ('repeat', 'abort'),
                ('schedule', 'set-downtime'),
                ('repeat', 'abort'),
                ('schedule', 'postcopy'),
                ('repeat', 'abort'),
            ],
            recorded,
        )

    def test_a_store_failing_every_write_only_warns(self):
        # NOTE: the record is the publisher's listener, as in the driver;
        # the publisher's guard is the only one on the way
        store = Recorder(broken=WRITES)
        pub = publisher.Publisher(store, 'm-1', 'nova')
        sh = shadows.Shadows(
            {'q': Always(Decision(Action.PAUSE, 'p'))},
            0,
            publisher.Listener(pub, at_postcopy=None).shadow,
        )
        with self.assertLogs('nova_ext.compute.publisher', 'WARNING') as logs:
            sh.observe(fakes.observation(1))
            sh.observe(fakes.observation(2))
        self.assertEqual({'event': 2}, dict(store.attempts))
        self.assertEqual(2, sum('db down' in line for line in logs.output))
        self.assertEqual(['q'], sh.names)  # a failed write drops no shadow

    def test_a_shadow_that_cannot_be_built_is_left_out(self):
        def build(name, context_, params):
            if name == 'nope':
                raise base.PolicyError('unknown migration policy %r' % name)
            return loader.build_policy(name, context_, params)

        with self.assertLogs('nova_ext.compute.shadows', 'WARNING'):
            built = shadows.build(
                ['kubevirt', 'nope', 'kubevirt'],
                MigrationContext(4 * GIB, Permits()),
                lambda name: {},
                build,
            )
        self.assertEqual(['kubevirt'], list(built))


class TestPublisherShadow(unittest.TestCase):
    def test_event_name_and_the_shadows_key(self):
        store = Recorder()
        pub = publisher.Publisher(store, 'm-1', 'nova')
        pub.started(shadows=['adaptive', 'kubevirt'])
        pub.shadow('adaptive', Decision(Action.ABORT, 'hopeless'))
        self.assertEqual(
            'adaptive,kubevirt', store.keys[0]['livemigrate:shadows']
        )
        self.assertEqual(
            [('livemigrate_shadow:adaptive:abort', None)], store.events
        )
