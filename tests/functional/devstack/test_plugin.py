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
"""devstack/plugin.sh, every mode and phase, against stub devstack.

devstack cannot run here, so each phase is sourced the way stack.sh,
unstack.sh and clean.sh source it (``source plugin.sh <mode> [phase]``,
after ``settings``, under ``errexit``) with ``stubs.sh`` standing in for
devstack's functions. The ini functions edit a real nova-cpu.conf, and
``setup_develop`` / ``pip_uninstall`` run pip for real in a throwaway
virtualenv holding nova 34.0.0 (no dependencies: only nova's files
matter), so the shim's install and removal are real.

shellcheck runs if it is installed (``apt-get install -y shellcheck``) and
fails the test on any warning; without it only that check is skipped.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
HERE = pathlib.Path(__file__).resolve().parent
STUBS = HERE / 'stubs.sh'
SCRIPTS = [
    ROOT / 'devstack' / 'settings',
    ROOT / 'devstack' / 'plugin.sh',
    ROOT / 'devstack' / 'lib' / 'osc-livemigrate',
    STUBS,
]
PHASES = [
    ('stack', 'pre-install'),
    ('stack', 'install'),
    ('stack', 'post-config'),
    ('stack', 'extra'),
    ('stack', 'test-config'),
    ('unstack', ''),
    ('clean', ''),
]
PASSWORD = 'Pw-must-not-leak-7f3a'
PASSWORD_VARS = (
    'ADMIN_PASSWORD',
    'SERVICE_PASSWORD',
    'DATABASE_PASSWORD',
    'RABBIT_PASSWORD',
    'OS_PASSWORD',
)
NOVA_CPU_CONF = """\
[DEFAULT]
# written by devstack's lib/nova
compute_driver = libvirt.LibvirtDriver
debug = True

[libvirt]
virt_type = qemu
"""
FIND = (
    'import importlib.util, json; s = importlib.util.find_spec('
    '"nova.virt.livemigrate"); print(json.dumps(s and s.origin))'
)


def _parse(path):
    """``{section: [(option, value), ...]}``, repeated options kept."""
    sections, current = {}, None
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        if line.startswith('['):
            current = sections.setdefault(line.strip('[]'), [])
        else:
            key, _, value = line.partition('=')
            current.append((key.strip(), value.strip()))
    return sections


def _values(conf, section, option):
    return [v for k, v in _parse(conf).get(section, []) if k == option]


@pytest.fixture(scope='module')
def venv(tmp_path_factory):
    """A virtualenv with nova 34.0.0's files and nothing of ours."""
    path = tmp_path_factory.mktemp('devstack-venv') / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(path)], check=True)
    subprocess.run(
        [
            str(path / 'bin' / 'python'),
            '-m',
            'pip',
            'install',
            '-q',
            '--no-deps',
            'nova==34.0.0',
        ],
        check=True,
        capture_output=True,
    )
    return path


class Devstack:
    """One fake devstack host: nova-cpu.conf, call log, venv."""

    def __init__(self, tmp_path, venv):
        self.venv = venv
        self.conf = tmp_path / 'nova-cpu.conf'
        self.conf.write_text(NOVA_CPU_CONF)
        self.calls = tmp_path / 'calls'
        self.calls.write_text('')
        self.state = tmp_path / 'xtrace-after'
        self.output = ''

    def env(self, **extra):
        env = {
            'PATH': os.environ['PATH'],
            'HOME': os.environ.get('HOME', '/'),
            'LANG': 'C.UTF-8',
            'STUB_VENV': str(self.venv),
            'STUB_CALLS': str(self.calls),
            'NOVA_CPU_CONF': str(self.conf),
            'DEST': '/opt/stack',
            'LIVEMIGRATE_DIR': str(ROOT),
            'ENABLED_SERVICES': 'key,n-api,n-cpu,placement-api',
        }
        for name in (
            'PIP_CONFIG_FILE',
            'PIP_CONSTRAINT',
            'PIP_FIND_LINKS',
            'PIP_INDEX_URL',
            'PIP_EXTRA_INDEX_URL',
            'PIP_CERT',
        ):
            if name in os.environ:
                env[name] = os.environ[name]
        env.update({name: PASSWORD for name in PASSWORD_VARS})
        env.update(extra)
        return env

    def source(self, mode, phase='', xtrace=False, disabled=False, **extra):
        """Source settings then plugin.sh for one phase, as devstack does.

        :returns: the xtrace state after plugin.sh returned, 'on' or 'off'
        """
        script = '\n'.join(
            [
                'set -o errexit',
                'source %s' % STUBS,
                'source devstack/settings',
                'disable_service livemigrate' if disabled else ':',
                'set -o xtrace' if xtrace else 'set +o xtrace',
                'source devstack/plugin.sh %s %s' % (mode, phase),
                '{ [[ -o xtrace ]] && echo on || echo off; } > %s 2>/dev/null'
                % self.state,
            ]
        )
        proc = subprocess.run(
            ['bash', '-c', script],
            check=False,
            cwd=ROOT,
            env=self.env(**extra),
            capture_output=True,
            text=True,
        )
        self.output += proc.stdout + proc.stderr
        assert proc.returncode == 0, (mode, phase, proc.stdout, proc.stderr)
        return self.state.read_text().strip()

    def call_log(self):
        return self.calls.read_text().splitlines()

    def shim_origin(self):
        out = subprocess.run(
            [str(self.venv / 'bin' / 'python'), '-c', FIND],
            cwd='/',
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(out)


@pytest.fixture
def devstack(tmp_path, venv):
    host = Devstack(tmp_path, venv)
    yield host
    # Leave the module's venv as the next test expects it: nothing of ours.
    subprocess.run(
        [
            str(venv / 'bin' / 'python'),
            '-m',
            'pip',
            'uninstall',
            '-q',
            '-y',
            'osc-livemigrate',
        ],
        check=False,
        capture_output=True,
    )


class TestPluginPhases:
    def test_plugin_every_phase_in_stack_order(self, devstack):
        assert devstack.shim_origin() is None
        devstack.source('stack', 'pre-install', xtrace=True)
        assert devstack.conf.read_text() == NOVA_CPU_CONF
        assert devstack.call_log() == ['define_plugin osc-livemigrate']

        devstack.source('stack', 'install', xtrace=True)
        assert devstack.call_log()[-1] == 'setup_develop %s' % ROOT
        # NOTE: setup_develop is an editable install, so nova.virt resolves
        # "livemigrate" to the repository's file; a wheel install would put
        # the same file at site-packages/nova/virt/livemigrate.py
        # (tests/functional/nova_ext/test_install.py checks that case).
        assert devstack.shim_origin() == str(
            ROOT / 'nova' / 'virt' / 'livemigrate.py'
        )
        assert devstack.conf.read_text() == NOVA_CPU_CONF

        devstack.source('stack', 'post-config', xtrace=True)
        conf = devstack.conf
        assert _values(conf, 'DEFAULT', 'compute_driver') == [
            'livemigrate.LibvirtDriver'
        ]
        assert _values(conf, 'DEFAULT', 'debug') == ['True']
        assert _values(conf, 'libvirt', 'virt_type') == ['qemu']
        assert _values(conf, 'livemigrate', 'default_policy') == ['adaptive']
        assert _values(conf, 'livemigrate', 'user_selectable_policies') == [
            'adaptive,nova'
        ]
        assert _values(conf, 'livemigrate', 'policy_params') == []
        assert _values(conf, 'service_user', 'send_service_user_token') == [
            'True'
        ]
        assert '# written by devstack' in conf.read_text()

        before = len(devstack.call_log())
        devstack.source('stack', 'extra', xtrace=True)
        assert devstack.call_log()[before:] == [
            'define_plugin osc-livemigrate',
            'nova-livemigrate-status --config-file %s upgrade check'
            % devstack.conf,
            'openstack --os-cloud devstack-admin server migration list',
        ]

        configured = devstack.conf.read_text()
        before = len(devstack.call_log())
        devstack.source('stack', 'test-config', xtrace=True)
        devstack.source('unstack', xtrace=True)
        assert (
            devstack.call_log()[before:]
            == ['define_plugin osc-livemigrate'] * 2
        )
        assert devstack.conf.read_text() == configured
        assert devstack.shim_origin() is not None

        devstack.source('clean', xtrace=True)
        assert devstack.call_log()[-1] == 'pip_uninstall osc-livemigrate'
        assert devstack.shim_origin() is None
        assert _values(conf, 'DEFAULT', 'compute_driver') == [
            'libvirt.LibvirtDriver'
        ]
        assert _parse(conf).get('livemigrate', []) == []
        assert _values(conf, 'libvirt', 'virt_type') == ['qemu']

        # Every phase traced (devstack runs under xtrace), no secret shown.
        assert 'iniset' in devstack.output
        assert PASSWORD not in devstack.output
        assert PASSWORD not in devstack.conf.read_text()
        assert PASSWORD not in devstack.calls.read_text()

    def test_post_config_uses_overrides_from_the_environment(self, devstack):
        devstack.source(
            'stack',
            'post-config',
            LIVEMIGRATE_POLICY='schedule',
            LIVEMIGRATE_USER_SELECTABLE='schedule,adaptive,nova',
            LIVEMIGRATE_POLICY_PARAMS=(
                'schedule:preset=gentle adaptive:stall_rounds=3;margin_pct=5'
            ),
        )
        conf = devstack.conf
        assert _values(conf, 'livemigrate', 'default_policy') == ['schedule']
        assert _values(conf, 'livemigrate', 'user_selectable_policies') == [
            'schedule,adaptive,nova'
        ]
        assert _values(conf, 'livemigrate', 'policy_params') == [
            'schedule:preset=gentle',
            'adaptive:stall_rounds=3;margin_pct=5',
        ]

        devstack.source('clean')
        assert _parse(conf).get('livemigrate', []) == []

    def test_post_config_passes_the_real_upgrade_check(self, devstack):
        # NOTE: the stub nova-livemigrate-status only records its call; the
        # real one (from the environment running pytest, which has nova)
        # judges the file post-config wrote, overrides included.
        devstack.source(
            'stack',
            'post-config',
            LIVEMIGRATE_POLICY_PARAMS=(
                'adaptive:stall_rounds=3;margin_pct=5 schedule:preset=gentle'
            ),
        )
        proc = subprocess.run(
            [
                sys.executable,
                '-m',
                'nova_ext.cmd.status',
                '--config-file',
                str(devstack.conf),
                'upgrade',
                'check',
            ],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.count('Result: Success') == 3, proc.stdout

    def test_post_config_leaves_a_host_without_n_cpu_alone(self, devstack):
        devstack.source(
            'stack', 'post-config', ENABLED_SERVICES='key,n-api,placement-api'
        )
        devstack.source(
            'stack', 'extra', ENABLED_SERVICES='key,n-api,placement-api'
        )
        assert devstack.conf.read_text() == NOVA_CPU_CONF
        assert devstack.call_log()[-1] == (
            'openstack --os-cloud devstack-admin server migration list'
        )

    @pytest.mark.parametrize('mode,phase', PHASES)
    def test_disabled_service_makes_phase_a_no_op(self, devstack, mode, phase):
        devstack.source(mode, phase, xtrace=True, disabled=True)
        assert devstack.call_log() == ['define_plugin osc-livemigrate']
        assert devstack.conf.read_text() == NOVA_CPU_CONF
        assert devstack.shim_origin() is None
        assert 'stub summary' not in devstack.output
        assert PASSWORD not in devstack.output

    @pytest.mark.parametrize('xtrace', [True, False])
    @pytest.mark.parametrize(
        'mode,phase',
        [
            ('stack', 'pre-install'),
            ('stack', 'post-config'),
            ('stack', 'extra'),
            ('unstack', ''),
        ],
    )
    def test_plugin_restores_xtrace(self, devstack, mode, phase, xtrace):
        after = devstack.source(mode, phase, xtrace=xtrace)
        assert after == ('on' if xtrace else 'off')
        assert PASSWORD not in devstack.output

    def test_settings_enables_service_with_defaults(self, devstack):
        script = (
            'source %s; source devstack/settings; '
            'echo "$ENABLED_SERVICES|$LIVEMIGRATE_POLICY|'
            '$LIVEMIGRATE_USER_SELECTABLE|$LIVEMIGRATE_DIR"' % STUBS
        )
        out = subprocess.run(
            ['bash', '-c', script],
            cwd=ROOT,
            check=True,
            env=devstack.env(LIVEMIGRATE_DIR=''),
            capture_output=True,
            text=True,
        ).stdout
        assert out.strip() == (
            'key,n-api,n-cpu,placement-api,livemigrate|adaptive|'
            'adaptive,nova|/opt/stack/osc-livemigrate'
        )


class TestScripts:
    @pytest.mark.parametrize('script', SCRIPTS, ids=lambda p: p.name)
    def test_script_parses(self, script):
        proc = subprocess.run(
            ['bash', '-n', str(script)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr

    def test_scripts_pass_shellcheck(self):
        if shutil.which('shellcheck') is None:
            pytest.skip('shellcheck is not installed')
        proc = subprocess.run(
            ['shellcheck', '-x', '-s', 'bash', '-S', 'warning']
            + [str(p.relative_to(ROOT)) for p in SCRIPTS],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
