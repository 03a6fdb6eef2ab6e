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
"""The upgrade check, run as operators run it: the installed console script."""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

SCRIPT = shutil.which(
    'nova-livemigrate-status', path=os.path.dirname(sys.executable)
)


def _check(text):
    with tempfile.NamedTemporaryFile('w', suffix='.conf') as conf:
        conf.write(textwrap.dedent(text))
        conf.flush()
        return subprocess.run(
            [SCRIPT, '--config-file', conf.name, 'upgrade', 'check'],
            capture_output=True,
            text=True,
            env=dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='True'),
        )


class UpgradeCheck(unittest.TestCase):
    def test_script_is_installed(self):
        self.assertIsNotNone(SCRIPT, 'nova-livemigrate-status not installed')

    def test_good_configuration_passes(self):
        result = _check("""
            [DEFAULT]
            compute_driver = livemigrate.LibvirtDriver
            [livemigrate]
            default_policy = adaptive
            user_selectable_policies = adaptive,kubevirt
            policy_params = adaptive:stall_rounds=3
            [service_user]
            send_service_user_token = true
            """)
        self.assertEqual(0, result.returncode, result.stdout + result.stderr)
        self.assertEqual(3, result.stdout.count('Result: Success'))

    def test_bad_policy_fails_and_missing_service_token_warns(self):
        result = _check("""
            [DEFAULT]
            compute_driver = livemigrate.LibvirtDriver
            [livemigrate]
            default_policy = bogus
            """)
        self.assertEqual(2, result.returncode)
        text = ' '.join(result.stdout.replace('|', ' ').split())
        self.assertIn("default_policy: unknown migration policy 'bogus'", text)
        self.assertIn('Result: Warning', result.stdout)
        self.assertIn('send_service_user_token', result.stdout)

    def test_other_driver_warns(self):
        result = _check("""
            [DEFAULT]
            compute_driver = libvirt.LibvirtDriver
            [service_user]
            send_service_user_token = true
            """)
        self.assertEqual(1, result.returncode)
        self.assertIn(
            "compute_driver is 'libvirt.LibvirtDriver'",
            result.stdout.replace('\n|   ', ' '),
        )
