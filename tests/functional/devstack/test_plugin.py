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
"""devstack/ judged by the config file nova-compute would start with.

``ministack.sh`` plays what devstack's stack.sh does to nova's config files
(devstack commit 493835a61a996731a7031861f80c7629acd5d6f2): nova.conf
written afresh by create_nova_conf, the plugin phases in order,
configure_neutron_nova running asynchronously around post-config, and
start_nova_compute's ``cp $NOVA_CONF $NOVA_CPU_CONF`` plus local.conf's
post-config merge. The file nova-compute is started with is kept, and the
plugin's own ``nova-livemigrate-status upgrade check`` runs for real
against it (with the python running these tests, which has nova).

The wrong plugins under ``variants/`` are how the plugin used to configure
nova-compute (``$NOVA_CPU_CONF`` at post-config, up to commit 6106346) and
the obvious half-fix (``$NOVA_CONF`` at post-config); the harness has to
fail both, or it proves nothing about the real one.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
HERE = pathlib.Path(__file__).resolve().parent
MINISTACK = HERE / 'ministack.sh'
VARIANTS = HERE / 'variants'
SCRIPTS = [
    ROOT / 'devstack' / 'settings',
    ROOT / 'devstack' / 'plugin.sh',
    ROOT / 'devstack' / 'lib' / 'osc-livemigrate',
    MINISTACK,
]
PASSWORD = 'Pw-must-not-leak-7f3a'
DRIVER = 'livemigrate.LibvirtDriver'


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


class Stack:
    """One ministack run: its directory, output and exit code."""

    def __init__(self, tmp_path, plugin_dir, mode='stack', **env):
        self.dir = tmp_path
        tmp_path.mkdir(parents=True, exist_ok=True)
        full = {
            'PATH': os.environ['PATH'],
            'HOME': os.environ.get('HOME', '/'),
            'LANG': 'C.UTF-8',
            'MINISTACK_DIR': str(tmp_path),
            'MINISTACK_PYTHON': sys.executable,
            'MINISTACK_CODE_DIR': str(ROOT),
            'LIVEMIGRATE_DIR': str(ROOT),
            'ADMIN_PASSWORD': PASSWORD,
            'SERVICE_PASSWORD': PASSWORD,
            'OS_NOVA_DISABLE_EVENTLET_PATCHING': 'True',
        }
        full.update(env)
        proc = subprocess.run(
            ['bash', str(MINISTACK), str(plugin_dir), mode],
            env=full,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.returncode = proc.returncode
        self.output = proc.stdout + proc.stderr

    @property
    def started(self):
        """The config file nova-compute was started with."""
        return self.dir / 'n-cpu.started.conf'

    @property
    def nova_conf(self):
        return self.dir / 'etc' / 'nova' / 'nova.conf'

    @property
    def cpu_conf(self):
        return self.dir / 'etc' / 'nova' / 'nova-cpu.conf'

    def calls(self):
        return (self.dir / 'calls').read_text().splitlines()


def _stack(tmp_path, plugin_dir=ROOT, **env):
    """A run whose upgrade check is only recorded: the file is judged here.

    (The real check imports nova: seconds a run; the tests that need its
    verdict ask for it with ``_checked_stack``.)
    """
    env.setdefault('MINISTACK_PYTHON', '')
    return Stack(tmp_path, plugin_dir, **env)


def _checked_stack(tmp_path, plugin_dir=ROOT, **env):
    """A run whose plugin runs the real upgrade check on nova-cpu.conf."""
    return Stack(tmp_path, plugin_dir, **env)


@pytest.mark.parametrize('race', ['window', 'none'])
def test_nova_compute_starts_with_the_driver(tmp_path, race):
    run = _checked_stack(tmp_path, MINISTACK_RACE=race)
    assert run.returncode == 0, run.output
    conf = run.started
    assert _values(conf, 'DEFAULT', 'compute_driver') == [DRIVER]
    assert _values(conf, 'livemigrate', 'default_policy') == ['adaptive']
    assert _values(conf, 'livemigrate', 'user_selectable_policies') == [
        'adaptive,nova'
    ]
    assert _values(conf, 'livemigrate', 'policy_params') == []
    # adaptive escalates to post-copy: nova must permit it
    assert _values(conf, 'libvirt', 'live_migration_permit_post_copy') == [
        'True'
    ]
    assert _values(conf, 'service_user', 'send_service_user_token') == ['True']
    # devstack's own edits survive ours, the asynchronous ones included
    assert _values(conf, 'neutron', 'region_name') == ['RegionOne']
    assert _values(conf, 'DEFAULT', 'vif_plugging_timeout') == ['300']
    assert _values(conf, 'key_manager', 'fixed_key') == ['0123456789abcdef']
    assert _values(conf, 'libvirt', 'virt_type') == ['qemu']
    assert _values(conf, 'workarounds', 'libvirt_disable_apic') == ['True']
    assert _values(conf, 'database', 'connection') == []
    # the plugin's upgrade check ran, for real, on that file
    assert run.output.count('Result: Success') == 3, run.output
    assert (
        'nova-livemigrate-status --config-file %s upgrade check'
        % (run.cpu_conf)
        in run.calls()
    )
    assert run.calls().index('run_phase stack install') < run.calls().index(
        'run_process n-cpu nova-compute --config-file %s' % run.cpu_conf
    )
    assert PASSWORD not in run.output
    assert not [c for c in run.calls() if c.startswith('xtrace')]


def test_both_halves_are_installed_with_their_extras(tmp_path):
    # NOTE: requirements.txt holds only what both halves share; without
    # the extras nova-compute would miss prometheus-client
    run = _stack(tmp_path)
    assert run.returncode == 0, run.output
    assert 'setup_develop %s cli,driver' % ROOT in run.calls()


def test_service_token_is_devstacks_to_send(tmp_path):
    # NOTE: devstack writes [service_user] with the nova user's
    # credentials; the plugin leaves the section as devstack wrote it.
    run = _stack(tmp_path)
    assert run.returncode == 0, run.output
    assert _values(run.started, 'service_user', 'username') == ['nova']
    assert _values(run.started, 'service_user', 'password') == [PASSWORD]
    assert PASSWORD not in run.output


def test_service_token_off_stays_off(tmp_path):
    # NOTE: the plugin used to force send_service_user_token on here,
    # leaving nova-compute to send a token it had no credentials for.
    run = _checked_stack(tmp_path, NOVA_USE_SERVICE_TOKEN='False')
    assert run.returncode == 0, run.output
    assert 'service_user' not in _parse(run.started)
    assert _values(run.started, 'DEFAULT', 'compute_driver') == [DRIVER]
    # the real check warns about exactly that, and the stack goes on
    assert 'send_service_user_token is false' in run.output
    assert 'NOVA_USE_SERVICE_TOKEN=False' in run.output
    assert run.calls()[-1] == 'run_phase stack test-config'


def test_service_token_off_does_not_hide_a_wrong_driver(tmp_path):
    local = tmp_path / 'in.local.conf'
    local.write_text(
        '[[post-config|$NOVA_CPU_CONF]]\n'
        '[DEFAULT]\n'
        'compute_driver = libvirt.LibvirtDriver\n'
    )
    run = _checked_stack(
        tmp_path / 'stack',
        NOVA_USE_SERVICE_TOKEN='False',
        LOCAL_CONF=str(local),
    )
    assert run.returncode != 0
    assert 'upgrade check failed' in run.output


def test_local_conf_post_config_sections_still_win(tmp_path):
    local = tmp_path / 'in.local.conf'
    local.write_text(
        '[[local|localrc]]\n'
        'LIVEMIGRATE_POLICY=adaptive\n'
        '\n'
        '[[post-config|$NOVA_CPU_CONF]]\n'
        '[livemigrate]\n'
        'default_policy = nova\n'
        'policy_params = adaptive:stall_rounds=4\n'
        'policy_params = schedule:preset=gentle\n'
        '[libvirt]\n'
        'live_migration_permit_post_copy = False\n'
    )
    run = _stack(tmp_path / 'stack', LOCAL_CONF=str(local))
    assert run.returncode == 0, run.output
    conf = run.started
    assert _values(conf, 'DEFAULT', 'compute_driver') == [DRIVER]
    assert _values(conf, 'livemigrate', 'default_policy') == ['nova']
    assert _values(conf, 'livemigrate', 'policy_params') == [
        'adaptive:stall_rounds=4',
        'schedule:preset=gentle',
    ]
    assert _values(conf, 'libvirt', 'live_migration_permit_post_copy') == [
        'False'
    ]


def test_settings_from_the_environment(tmp_path):
    run = _stack(
        tmp_path,
        LIVEMIGRATE_POLICY='schedule',
        LIVEMIGRATE_USER_SELECTABLE='schedule,adaptive,nova',
        LIVEMIGRATE_POLICY_PARAMS=(
            'schedule:preset=gentle adaptive:stall_rounds=3;margin_pct=5'
        ),
    )
    assert run.returncode == 0, run.output
    conf = run.started
    assert _values(conf, 'livemigrate', 'default_policy') == ['schedule']
    assert _values(conf, 'livemigrate', 'user_selectable_policies') == [
        'schedule,adaptive,nova'
    ]
    assert _values(conf, 'livemigrate', 'policy_params') == [
        'schedule:preset=gentle',
        'adaptive:stall_rounds=3;margin_pct=5',
    ]
    # schedule escalates only where its steps say so: no post-copy default
    assert _values(conf, 'libvirt', 'live_migration_permit_post_copy') == [
        'False'
    ]


@pytest.mark.parametrize(
    'policy,explicit,expected',
    [
        ('kubevirt', '', 'True'),
        ('nova', '', 'False'),
        ('adaptive', 'False', 'False'),
        ('nova', 'True', 'True'),
    ],
)
def test_post_copy_follows_the_policy(tmp_path, policy, explicit, expected):
    env = {'LIVEMIGRATE_POLICY': policy}
    if explicit:
        env['LIVEMIGRATE_PERMIT_POST_COPY'] = explicit
    run = _stack(tmp_path, **env)
    assert run.returncode == 0, run.output
    assert _values(
        run.started, 'libvirt', 'live_migration_permit_post_copy'
    ) == [expected]


def test_host_without_n_cpu_is_left_alone(tmp_path):
    run = _stack(tmp_path, ENABLED_SERVICES='key,n-api,n-cond,placement-api')
    assert run.returncode == 0, run.output
    assert not run.started.exists()
    assert 'livemigrate' not in _parse(run.nova_conf)
    assert _values(run.nova_conf, 'DEFAULT', 'compute_driver') == []
    assert _values(run.nova_conf, 'neutron', 'region_name') == ['RegionOne']
    assert run.calls()[-2:] == [
        'openstack --os-cloud devstack-admin server migration list',
        'run_phase stack test-config',
    ]


def test_clean_puts_nova_back(tmp_path):
    run = _stack(tmp_path)
    assert run.returncode == 0, run.output
    clean = Stack(tmp_path, ROOT, mode='clean')
    assert clean.returncode == 0, clean.output
    assert 'pip_uninstall osc-livemigrate' in clean.calls()
    for conf in (clean.nova_conf, clean.cpu_conf):
        assert _values(conf, 'DEFAULT', 'compute_driver') == [
            'libvirt.LibvirtDriver'
        ]
        assert (
            'livemigrate' not in _parse(conf)
            or not _parse(conf)['livemigrate']
        )
        assert _values(conf, 'neutron', 'region_name') == ['RegionOne']


@pytest.mark.parametrize('race', ['window', 'none'])
def test_harness_fails_the_post_config_nova_cpu_conf_plugin(tmp_path, race):
    # NOTE: how the plugin worked up to 6106346: start_nova_compute copies
    # nova.conf over what it wrote, so the upgrade check warns and the
    # plugin stops stack.sh.
    run = _checked_stack(
        tmp_path, VARIANTS / 'cpu-conf-at-post-config', MINISTACK_RACE=race
    )
    assert run.returncode != 0
    assert 'upgrade check failed' in run.output
    assert _values(run.started, 'DEFAULT', 'compute_driver') == [
        'libvirt.LibvirtDriver'
    ]
    assert 'livemigrate' not in _parse(run.started)


def test_harness_fails_the_post_config_nova_conf_plugin(tmp_path):
    # NOTE: nova.conf at post-config is lost to configure_neutron_nova's
    # concurrent rewrite in the widest interleaving stack.sh allows ...
    run = _stack(
        tmp_path / 'window',
        VARIANTS / 'nova-conf-at-post-config',
        MINISTACK_RACE='window',
    )
    assert _values(run.started, 'DEFAULT', 'compute_driver') == [
        'libvirt.LibvirtDriver'
    ]
    assert 'livemigrate' not in _parse(run.started)
    # ... and survives when the job happens to finish first: a race.
    run = _stack(
        tmp_path / 'none',
        VARIANTS / 'nova-conf-at-post-config',
        MINISTACK_RACE='none',
    )
    assert run.returncode == 0, run.output
    assert _values(run.started, 'DEFAULT', 'compute_driver') == [DRIVER]


def test_a_run_that_dies_mid_stack_leaves_no_job_behind(tmp_path):
    # NOTE: configure_neutron_nova waits for async_wait; a plugin that
    # dies at post-config never gets there, and the job must not outlive
    # the run (it used to poll forever).
    plugin = tmp_path / 'dies' / 'devstack'
    plugin.mkdir(parents=True)
    (plugin / 'settings').write_text('define_plugin dies\n')
    (plugin / 'plugin.sh').write_text(
        'if [[ "$2" == post-config ]]; then die 1 "dies here"; fi\n'
    )
    run = _stack(tmp_path / 'run', plugin.parent)
    assert run.returncode == 1
    assert 'dies here' in run.output
    left = subprocess.run(
        ['pgrep', '-f', 'ministack.sh %s' % plugin.parent],
        capture_output=True,
        text=True,
        check=False,
    )
    assert left.stdout == '', left.stdout


@pytest.fixture(scope='module')
def shellcheck():
    """shellcheck, installed with apt-get when missing (bindep.txt)."""
    path = shutil.which('shellcheck')
    if path is None:
        sudo = [] if os.geteuid() == 0 else ['sudo', '-n']
        proc = subprocess.run(
            sudo + ['apt-get', 'install', '-y', '-q', 'shellcheck'],
            env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'),
            capture_output=True,
            text=True,
            check=False,
        )
        path = shutil.which('shellcheck')
        assert path, 'cannot install shellcheck: %s' % proc.stderr[-2000:]
    return path


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

    def test_scripts_pass_shellcheck(self, shellcheck):
        proc = subprocess.run(
            [shellcheck, '-x', '-s', 'bash', '-S', 'warning']
            + [str(p.relative_to(ROOT)) for p in SCRIPTS],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
