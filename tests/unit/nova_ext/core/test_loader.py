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
"""Tests for finding policies through the stevedore namespace."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from stevedore import driver
from stevedore import extension

from nova_ext.core import loader
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.policies import adaptive
from nova_ext.core.policies import base


class TestLoader(unittest.TestCase):
    def test_builtins_are_registered(self):
        self.assertEqual(
            ['adaptive', 'kubevirt', 'nova', 'schedule'],
            [
                n
                for n in loader.available_policies()
                if n in ('adaptive', 'kubevirt', 'nova', 'schedule')
            ],
        )
        self.assertIs(adaptive.AdaptivePolicy, loader.policy_class('adaptive'))

    def test_each_build_is_a_fresh_object(self):
        ctx = MigrationContext(GIB)
        one = loader.build_policy('adaptive', ctx)
        two = loader.build_policy('adaptive', ctx)
        self.assertIsNot(one, two)
        self.assertIsNot(one.rounds, two.rounds)

    def test_unknown_name_lists_what_is_installed(self):
        with self.assertRaisesRegex(
            base.PolicyError,
            "unknown migration policy 'nope' "
            r'\(installed: .*adaptive',
        ):
            loader.policy_class('nope')

    def test_manager_from_make_test_instance(self):
        ext = extension.Extension(
            'scripted', None, adaptive.AdaptivePolicy, None
        )
        mgr = driver.DriverManager.make_test_instance(
            ext, namespace=loader.NAMESPACE
        )
        self.assertIs(
            adaptive.AdaptivePolicy,
            loader.policy_class('scripted', manager=mgr),
        )

    def test_non_policy_plugin_is_refused(self):
        ext = extension.Extension('bad', None, dict, None)
        mgr = driver.DriverManager.make_test_instance(
            ext, namespace=loader.NAMESPACE
        )
        with self.assertRaisesRegex(
            base.PolicyError, 'not a ConvergencePolicy'
        ):
            loader.policy_class('bad', manager=mgr)


THIRD_PARTY = textwrap.dedent('''
    """A policy shipped by someone else."""
    from nova_ext.core.observation import Action, Decision
    from nova_ext.core.policies import base

    class AlwaysAbort(base.ConvergencePolicy):
        name = 'always-abort'

        def _decide(self, obs):
            return Decision(Action.ABORT, 'third-party says no')
''')

PROBE = textwrap.dedent("""
    import json
    from nova_ext.core import loader
    from nova_ext.core.observation import GIB, MigrationContext
    from nova_ext.core.sim import model, runner
    policy = loader.build_policy('always-abort', MigrationContext(GIB))
    result = runner.simulate(policy, model.Workload(GIB, GIB, GIB),
                             model.Link(GIB))
    print(json.dumps([loader.available_policies(), result.outcome,
                      result.events[0].reason]))
""")


class TestThirdPartyPolicy(unittest.TestCase):
    def test_entry_point_from_another_distribution_is_used(self):
        """A separate installed distribution adds a policy; no code changes.

        The distribution is a real dist-info directory on sys.path, found
        by importlib.metadata in a fresh interpreter.
        """
        with tempfile.TemporaryDirectory() as site:
            with open(os.path.join(site, 'acme_policy.py'), 'w') as fh:
                fh.write(THIRD_PARTY)
            info = os.path.join(site, 'acme_policy-1.0.dist-info')
            os.mkdir(info)
            with open(os.path.join(info, 'METADATA'), 'w') as fh:
                fh.write(
                    'Metadata-Version: 2.1\nName: acme-policy\nVersion: 1.0\n'
                )
            with open(os.path.join(info, 'entry_points.txt'), 'w') as fh:
                fh.write(
                    '[nova_ext.migration_policies]\n'
                    'always-abort = acme_policy:AlwaysAbort\n'
                )
            env = dict(
                os.environ, PYTHONPATH=os.pathsep.join([site] + sys.path)
            )
            out = subprocess.run(
                [sys.executable, '-c', PROBE],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
        names, outcome, reason = json.loads(out.stdout)
        self.assertIn('always-abort', names)
        self.assertIn('adaptive', names)
        self.assertEqual('aborted', outcome)
        self.assertEqual('third-party says no', reason)
