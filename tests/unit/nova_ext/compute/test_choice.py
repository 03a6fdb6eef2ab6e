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
"""The options each policy declares reach it as parameters."""

import unittest
from unittest import mock

from nova.conf import libvirt as nova_libvirt_conf
from oslo_config import cfg

from nova_ext.compute import choice
from nova_ext import conf as lm_conf
from nova_ext.core import loader
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.policies import base
from nova_ext.core.policies import kubevirt


def _conf():
    conf = cfg.ConfigOpts()
    nova_libvirt_conf.register_opts(conf)
    lm_conf.register_opts(conf)
    conf([], default_config_files=[])
    return conf


class TestConfiguredParams(unittest.TestCase):
    def test_adaptive_reads_max_pause_ms(self):
        conf = _conf()
        conf.set_override('max_pause_ms', 1234, group='livemigrate')
        self.assertEqual(
            {'max_pause_ms': 1234}, choice.configured_params('adaptive', conf)
        )

    def test_nova_reads_the_libvirt_options(self):
        conf = _conf()
        conf.set_override('live_migration_downtime', 700, group='libvirt')
        conf.set_override(
            'live_migration_timeout_action', 'force_complete', group='libvirt'
        )
        params = choice.configured_params('nova', conf)
        self.assertEqual(700, params['downtime_ms'])
        self.assertEqual('force_complete', params['timeout_action'])
        self.assertEqual(
            conf.libvirt.live_migration_completion_timeout,
            params['completion_timeout_s'],
        )

    def test_a_policy_without_options_gets_none(self):
        self.assertEqual({}, choice.configured_params('kubevirt', _conf()))

    def test_every_declared_option_is_registered(self):
        conf = _conf()
        for name in loader.available_policies():
            with self.subTest(policy=name):
                cls = loader.policy_class(name)
                params = choice.configured_params(name, conf)
                self.assertEqual(set(cls.CONFIG_OPTIONS), set(params))
                # the option's default is a value the parameter accepts
                cls(MigrationContext(GIB), params)

    def test_an_unregistered_option_is_a_policy_error(self):
        class Typo(kubevirt.KubevirtPolicy):
            CONFIG_OPTIONS = {'progress_timeout': ('livemigrate', 'nope')}

        with mock.patch.object(loader, 'policy_class', return_value=Typo):
            with self.assertRaisesRegex(
                base.PolicyError, r'\[livemigrate\] nope'
            ):
                choice.configured_params('typo', _conf())
