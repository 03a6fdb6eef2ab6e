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
"""Tests for the [livemigrate] options and their start-up validation."""

import subprocess
import sys
import unittest

from oslo_config import cfg

from nova_ext import conf as lm_conf
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.policies import base


def _conf(**overrides):
    conf = cfg.ConfigOpts()
    lm_conf.register_opts(conf)
    conf([], project='test')
    for name, value in overrides.items():
        conf.set_override(name, value, group='livemigrate')
    return conf


def _validate(conf):
    return lm_conf.validate(conf, lambda: MigrationContext(2 * GIB))


class TestConf(unittest.TestCase):
    def test_defaults_validate(self):
        self.assertEqual({}, _validate(_conf()))

    def test_policy_params_are_parsed_per_policy(self):
        conf = _conf(
            policy_params=[
                'adaptive:stall_rounds=3;margin_pct=5',
                'schedule:preset=fast',
            ]
        )
        self.assertEqual(
            {
                'adaptive': {'stall_rounds': '3', 'margin_pct': '5'},
                'schedule': {'preset': 'fast'},
            },
            _validate(conf),
        )

    def test_invalid_configuration_is_one_line_naming_it(self):
        cases = [
            ({'default_policy': 'turbo'}, "unknown migration policy 'turbo'"),
            (
                {'user_selectable_policies': ['adaptive', 'nope']},
                "unknown migration policy 'nope'",
            ),
            (
                {'policy_params': ['adaptive:min_rounds=zero']},
                'parameter min_rounds must be int',
            ),
            (
                {'shadow_policies': ['kubevirt', 'nope']},
                "shadow_policies: unknown migration policy 'nope'",
            ),
            ({'policy_params': ['adaptive']}, 'expected "POLICY:key=value'),
            (
                {'policy_params': ['adaptive:a=1', 'adaptive:b=2']},
                'given twice',
            ),
        ]
        for overrides, message in cases:
            with self.subTest(overrides=overrides):
                with self.assertRaises(base.PolicyError) as ctx:
                    _validate(_conf(**overrides))
                text = str(ctx.exception)
                self.assertIn(message, text)
                self.assertTrue(text.startswith('[livemigrate]'), text)
                self.assertNotIn('\n', text)

    def test_every_option_has_help(self):
        for group, opts in lm_conf.list_opts():
            for opt in opts:
                with self.subTest(opt=opt.name):
                    self.assertGreater(len(opt.help), 30)

    def test_oslo_config_generator_lists_the_group(self):
        out = subprocess.run(
            [
                sys.executable,
                '-m',
                'oslo_config.generator',
                '--namespace',
                'nova_ext',
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        self.assertIn('[livemigrate]', out)
        for name in (
            'default_policy',
            'policy_params',
            'user_selectable_policies',
            'permit_pause',
            'permit_abort',
            'max_downtime_ms',
            'publish_status',
        ):
            self.assertIn('#%s =' % name, out)
