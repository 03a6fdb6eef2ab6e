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
"""Forced os-brick disconnects (nova bug 2004555, OSSN-0092), level: real
nova and os-brick code over an emulated iSCSI host.

The test boundary is os-brick's REAL connector code, the os-brick that
nova 34.0.0 installs (``ISCSIConnector`` and ``LinuxSCSI``, unmodified),
running over a command runner and a sysfs/dev tree that the test
provides. This machine has no iSCSI, NVMe-oF or multipath kernel support,
so nothing below os-brick is real:

- Real: ``nova_ext.compute.driver.LibvirtDriver`` and, for the control, nova's
  stock ``LibvirtDriver``, built as nova's own unit tests build it
  (``nova.tests.fixtures.LibvirtFixture`` and fakelibvirt, no libvirtd);
  their ``post_live_migration``, ``rollback_live_migration_at_destination``
  (which runs nova's ``destroy``/``cleanup``), ``migrate_disk_and_power_off``,
  ``detach_volume`` (a shut-off guest defined in fakelibvirt) and
  ``destroy``; nova's ``LibvirtISCSIVolumeDriver``; os-brick's
  ``ISCSIConnector.disconnect_volume`` with its locks, device map,
  flush, SCSI device removal, wait for removal, logout and node deletion.
- Emulated (``brickfake.host``): the commands os-brick runs, answered by a
  runner put in place of os-brick's default one
  (``os_brick.privileged.rootwrap.execute``, which the connector, its
  ``LinuxSCSI`` and ``LinuxSCSI.is_multipath_running`` all use):
  ``iscsiadm`` (sessions, nodes, discoverydb, logout, node update and
  delete), ``blockdev --flushbufs`` (made to FAIL with EIO), ``multipathd``
  and ``multipath`` (not installed), and ``tee -a
  /sys/block/sdX/device/delete``, which removes the disk from the tree as
  the kernel and udev would. The runner fails at once where the real one
  would retry a failed flush twice (os-brick asks for 3 attempts).
  Any other command, and any call to ``processutils.execute``, fails the
  test. The tree is the layout an iSCSI login leaves in sysfs and /dev
  (session, target, H:C:T:L, block device, by-path and by-id links).
- How os-brick sees that tree: it reads fixed paths (``/sys/class/
  scsi_host/host*/device/session*/...``, ``/sys/block/sdX/device/delete``,
  ``/dev/sdX``) with ``glob``/``os.path``, which cannot be redirected
  without patching os-brick. So the scenarios run in one child process
  under ``unshare --mount --propagation private`` (we are root) with tmpfs
  over ``/sys`` and ``/dev`` (see ``brickfake.mounts``); os-brick's own
  code runs unmodified against the tree, and the mounts vanish with the
  child.

Each scenario has its own session and disk whose flush fails; the tests
read what the child recorded: the kwargs that reached the connector's
``disconnect_volume``, what was raised and logged, the commands, and what
is left of the disk.

Needs root, ``unshare`` and nova 34 with its test fixtures (nova==34.0.0,
fixtures, oslotest, testtools, wsgi-intercept, SQLAlchemy<2.1); anything
missing fails the test, it does not skip. Run from the repo root:
``OS_NOVA_DISABLE_EVENTLET_PATCHING=True /work/venvs/brick/bin/python -m
pytest tests/functional/nova_ext/test_brick_disconnect.py``.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

from tests.functional.nova_ext.brickfake import mounts

ROOT = pathlib.Path(__file__).resolve().parents[3]
CHILD = 'tests.functional.nova_ext.brickfake.child'
TIMEOUT_S = 120
CHAINER = 'os_brick.exception.ExceptionChainer'

# nova_ext scenarios: the driver method and the nova_ext.compute.brick rule
FORCED = (
    'post_live_migration',
    'rollback_live_migration_at_destination',
    'migrate_disk_and_power_off',
    'detach_volume',
    'destroy',
)
RAISING = (
    'rollback_live_migration_at_destination',
    'migrate_disk_and_power_off',
    'detach_volume',
)


@pytest.fixture(scope='module')
def child():
    """Run every scenario once in the namespaced child; its JSON report."""
    unshare = shutil.which('unshare')
    if unshare is None:
        pytest.fail('unshare (util-linux) is not installed', pytrace=False)
    if os.geteuid() != 0:
        pytest.fail(
            'needs root for unshare --mount and tmpfs mounts', pytrace=False
        )
    workdir = tempfile.mkdtemp(prefix='brickfake-')
    os.mkdir(os.path.join(workdir, 'scratch'))
    env = dict(
        os.environ,
        OS_NOVA_DISABLE_EVENTLET_PATCHING='True',
        PYTHONDONTWRITEBYTECODE='1',
    )
    env[mounts.PARENT_NS_ENV] = mounts.mount_ns()
    proc = subprocess.Popen(
        [
            unshare,
            '--mount',
            '--propagation',
            'private',
            '--',
            sys.executable,
            '-W',
            'ignore',
            '-m',
            CHILD,
            workdir,
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        try:
            output = proc.communicate(timeout=TIMEOUT_S)[0].decode(
                errors='replace'
            )
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail('child did not finish in %d s' % TIMEOUT_S)
        path = os.path.join(workdir, 'result.json')
        if not os.path.exists(path):
            pytest.fail(
                'child wrote no report (exit %s):\n%s'
                % (proc.returncode, output[-8000:]),
                pytrace=False,
            )
        with open(path) as f:
            result = json.load(f)
    finally:
        shutil.rmtree(workdir)
    if result['error'] or proc.returncode:
        pytest.fail(
            'child failed (exit %s):\n%s\n%s'
            % (proc.returncode, result['error'], output[-4000:]),
            pytrace=False,
        )
    result['pgid'] = proc.pid
    return result


def _commands(scenario):
    return [' '.join(c['cmd']) for c in scenario['commands']]


def _exit_code(scenario, command):
    codes = [
        c['exit_code']
        for c in scenario['commands']
        if ' '.join(c['cmd']) == command
    ]
    assert codes, '%s did not run: %s' % (command, _commands(scenario))
    return codes[-1]


def _warnings(scenario, logger_prefix):
    return [
        r['message']
        for r in scenario['logs']
        if r['level'] == 'WARNING' and r['logger'].startswith(logger_prefix)
    ]


def test_boundary_is_real_os_brick_over_the_fake_host(child):
    assert child['connector_classes'] == [
        'os_brick.initiator.connectors.iscsi.ISCSIConnector'
    ]
    assert child['linuxscsi_class'] == 'os_brick.initiator.linuxscsi.LinuxSCSI'
    assert child['runner_is_fake'] is True
    assert child['real_commands'] == []
    assert child['unexpected_commands'] == []
    assert {'/sys', '/dev'} <= set(child['mounts'])


def test_nothing_left_mounted_or_running(child):
    with open('/proc/self/mountinfo') as f:
        assert 'brickfake-' not in f.read()
    with pytest.raises(ProcessLookupError):
        os.killpg(child['pgid'], 0)


@pytest.mark.parametrize('name', FORCED)
def test_force_reaches_the_connector_as_the_rule_says(child, name):
    scenario = child['scenarios'][name]
    assert scenario['driver'] == 'nova_ext.compute.driver'
    assert scenario['rule_force'] is True
    calls = scenario['disconnects']
    assert len(calls) == 1, calls
    assert calls[0]['force'] is scenario['rule_force']
    assert calls[0]['ignore_errors'] is scenario['rule_ignore_errors']


@pytest.mark.parametrize('name', FORCED)
def test_failed_flush_with_force_removes_the_device(child, name):
    scenario = child['scenarios'][name]
    dev = scenario['device']
    assert _exit_code(scenario, 'blockdev --flushbufs /dev/' + dev) == 1
    assert (
        _exit_code(scenario, 'tee -a /sys/block/%s/device/delete' % dev) == 0
    )
    assert scenario['leftovers'] == []
    assert not scenario['session_left']
    assert not scenario['node_left']
    assert 'Flushing /dev/%s failed' % dev in _warnings(scenario, 'os_brick')


def test_post_live_migration_logs_and_does_not_raise(child):
    """The devices go; the error is logged by nova with volume and instance.

    No ignore_errors here (see nova_ext/compute/brick.py): nova 34 catches a
    failed
    disconnect on this path itself and names the volume in its log line.
    """
    scenario = child['scenarios']['post_live_migration']
    assert scenario['rule_ignore_errors'] is False
    assert scenario['raised'] is None
    assert scenario['disconnects'][0]['raised'] is not None
    warnings = _warnings(scenario, 'os_brick')
    assert (
        "There were errors removing {'sdb'}, leftovers may remain in "
        'the system' in warnings
    ), warnings
    nova_lines = [
        r['message']
        for r in scenario['logs']
        if r['logger'].startswith('nova')
    ]
    assert any(
        'Ignoring exception while attempting to disconnect volume' in line
        for line in nova_lines
    ), nova_lines


@pytest.mark.parametrize('name', RAISING)
def test_error_reaches_the_caller_and_no_device_is_left(child, name):
    scenario = child['scenarios'][name]
    dev = scenario['device']
    assert scenario['rule_ignore_errors'] is False
    assert scenario['raised'] is not None, 'the failed flush was swallowed'
    assert scenario['raised']['type'] == CHAINER
    assert 'blockdev --flushbufs /dev/' + dev in scenario['raised']['message']
    assert scenario['disconnects'][0]['raised'] == CHAINER
    assert scenario['leftovers'] == []


def test_detach_volume_detached_the_disk_from_the_guest(child):
    assert child['scenarios']['detach_volume']['guest_disks'] == []


def test_destroy_is_nova_own_forced_path(child):
    scenario = child['scenarios']['destroy']
    # nova 34 forces here itself and, deleting the instance, logs the
    # volume error instead of failing the delete
    assert scenario['raised'] is None
    assert scenario['disconnects'][0]['raised'] == CHAINER
    assert any(
        m.startswith('Ignoring Volume Error on vol ')
        for m in _warnings(scenario, 'nova.virt.libvirt')
    )


def test_control_stock_nova_detach_leaves_the_device(child):
    """What the fix changes: stock nova detaches without force."""
    scenario = child['scenarios']['stock_detach_volume']
    dev = scenario['device']
    assert scenario['driver'] == 'nova.virt.libvirt.driver'
    assert scenario['guest_disks'] == []
    calls = scenario['disconnects']
    assert len(calls) == 1 and calls[0]['force'] is False, calls
    assert (
        scenario['raised']['type']
        == 'oslo_concurrency.processutils.ProcessExecutionError'
    )
    assert _exit_code(scenario, 'blockdev --flushbufs /dev/' + dev) == 1
    assert not any(
        c.startswith('tee ') or '--logout' in c for c in _commands(scenario)
    )
    assert '/dev/' + dev in scenario['leftovers']
    assert '/sys/block/' + dev in scenario['leftovers']
    assert scenario['session_left'] and scenario['node_left']
