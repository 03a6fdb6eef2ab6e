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
"""One busy guest through the ``openstack`` CLI: a migration aborted
(through the API, by --wait's Ctrl-C, by another CLI), completed by
adaptive's post-copy, force-completed, and the guest deleted after.
"""

# NOTE: the tests of this module run in file order and share one busy guest
# (WORKLOADS[1], never converges by itself): abort leaves it on A, an
# interrupted --wait leaves it on A, adaptive moves it to B, it is moved back
# and force-completed to B, then deleted. Keeping one guest keeps the 2-core
# machine responsive; every test checks its starting state first, and each
# test's teardown settles the guest (aborts a migration it left running), so
# that one failed test does not fail the next ones.

import json
import os
import subprocess
import time

import pytest

from testbed.cloud import computes
from tests.functional.cloud import servers
from tests.functional import interrupt

BUSY = computes.WORKLOADS[1]
#: adaptive at this guest's scale (testing.rst, "Policies at the guest's
#: scale"): one round of 512 MiB over the cloud's 40 MiB/s is 12.8 s, so
#: its observation floor is 12 + 3 x 12.8 s instead of 120 + 3 x 12.8 s
ADAPTIVE_SCALED = {'livemigrate': {'policy_params': 'adaptive:time_scale=0.1'}}


@pytest.fixture(scope='module')
def busy_guest(libvirt_cloud):
    """One WORKLOADS[1] guest booted on host A, deleted at the end; the
    computes run adaptive at the guest's scale meanwhile.
    """
    c = libvirt_cloud
    c.reconfigure(compute=ADAPTIVE_SCALED)
    try:
        with servers.booted(c, BUSY, 'lm-cli-busy', c.hosts[0]) as sid:
            yield sid
    finally:
        c.reconfigure()


@pytest.fixture
def busy(libvirt_cloud, busy_guest):
    """The module's busy guest, settled again after each test: no
    migration left in flight, the server ACTIVE (or deleted).
    """
    yield busy_guest
    servers.settle(libvirt_cloud, busy_guest)


# ------------------------------------------------------------ 2: abort
def test_cli_abort_mid_migration_keeps_the_guest_on_a(libvirt_cloud, busy):
    c = libvirt_cloud
    src, dst = c.hosts
    assert servers.where(c, busy)[:2] == ('ACTIVE', src)
    before = servers.console(c, busy)
    r = c.openstack(
        'server',
        'migrate',
        '--live-migration',
        '--host',
        dst,
        '--policy',
        'nova',
        busy,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    m = servers.running_with_bytes(c, busy)
    c.openstack('server', 'migration', 'abort', busy, str(m['Id']))
    status, host, last = servers.settled(c, busy)
    assert (status, host) == ('ACTIVE', src), (status, host)
    assert last['Id'] == m['Id'] and last['Status'] == 'cancelled', last
    assert busy in servers.domains(c, servers.host_letter(c, src))
    servers.gone_from(c, busy, dst)
    # libvirt cancelled the job: nova's WARNING line on the source
    cancelled = servers.outcome_lines(
        c, src, busy, 'Migration operation was cancelled'
    )
    assert cancelled, cancelled
    level, logger, message = cancelled[-1]
    assert (level, logger) == ('WARNING', 'nova.virt.libvirt.driver')
    assert message.startswith(
        'Migration operation was cancelled: policy nova, last action abort '
        '(abort requested through the API), '
    ), message
    assert message.endswith('measured downtime none'), message
    # alive: heartbeats go on past the ones seen before the migration
    n = len(before.heartbeats)
    after = servers.heartbeats(c, busy, n + 3, timeout=60)
    assert after.heartbeats[-1].t_s > before.heartbeats[-1].t_s
    assert not after.errors and not after.panics and after.corrupt == 0, after
    # its disk on the source lost nothing: two full DISK sweeps after
    k = len(after.disk_verifies)
    disk = servers.wait_for(
        'two DISK sweeps of %s after the abort' % busy,
        lambda: (lambda r: r if len(r.disk_verifies) >= k + 2 else None)(
            servers.console(c, busy)
        ),
        60,
        every=2,
    )
    assert disk.disk_bad == 0, disk.disk_bad_blocks
    assert disk.disk_verifies[-1].blocks == BUSY.disk_mib * 256


# ------------------------------------------------------------ 1c
def test_wait_interrupted_with_abort_exits_non_zero_on_a(libvirt_cloud, busy):
    """No policy can abort here (post-copy is permitted, so every policy
    escalates to post-copy first): the abort comes from --wait's own
    --on-interrupt abort. --wait must exit non-zero and say cancelled.
    """
    c = libvirt_cloud
    src, dst = c.hosts
    assert servers.where(c, busy)[:2] == ('ACTIVE', src)
    env = dict(os.environ, **c.env())
    proc = interrupt.popen(
        [
            c.openstack_bin,
            'server',
            'migrate',
            '--live-migration',
            '--host',
            dst,
            '--policy',
            'nova',
            '--wait',
            '--poll-interval',
            '1',
            '--on-interrupt',
            'abort',
            busy,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        lines = []
        deadline = time.monotonic() + 240
        for raw in proc.stdout:
            if raw.startswith('{'):
                lines.append(json.loads(raw))
                ln = lines[-1]
                if (
                    ln['type'] == 'progress'
                    and (ln.get('processed_bytes') or 0) > 0
                ):
                    break
            assert time.monotonic() < deadline, lines
        interrupt.press_ctrl_c(proc)
        rest, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines += servers.json_lines(rest)
    out = json.dumps(lines)[-3000:] + err[-3000:]
    assert proc.returncode not in (0, 130), out
    kinds = [ln['type'] for ln in lines]
    assert 'notice' in kinds, out
    result = [ln for ln in lines if ln['type'] == 'result']
    assert len(result) == 1 and result[0]['ok'] is False, out
    assert result[0]['status'] == 'cancelled', out
    assert (
        'migration cancelled; server still on %s' % src in result[0]['reason']
    ), out
    assert 'did not complete' in err, err
    status, host, last = servers.settled(c, busy)
    assert (status, host) == ('ACTIVE', src)
    assert last['Status'] == 'cancelled', last
    servers.gone_from(c, busy, dst)


def test_wait_reports_an_abort_from_another_cli(libvirt_cloud, busy):
    """--wait follows; a second ``openstack`` aborts the migration: the
    waiting one exits non-zero and says cancelled, server still on A.
    """
    c = libvirt_cloud
    src, dst = c.hosts
    assert servers.where(c, busy)[:2] == ('ACTIVE', src)
    env = dict(os.environ, **c.env())
    proc = subprocess.Popen(
        [
            c.openstack_bin,
            'server',
            'migrate',
            '--live-migration',
            '--host',
            dst,
            '--policy',
            'nova',
            '--wait',
            '--poll-interval',
            '1',
            busy,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        m = servers.running_with_bytes(c, busy)
        c.openstack('server', 'migration', 'abort', busy, m['UUID'])
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = servers.json_lines(out)
    text = out[-3000:] + err[-3000:]
    assert proc.returncode not in (0, 130), text
    result = [ln for ln in lines if ln['type'] == 'result']
    assert len(result) == 1 and result[0]['ok'] is False, text
    assert result[0]['status'] == 'cancelled', text
    assert result[0]['migration'] == m['UUID'], text
    assert (
        'migration cancelled; server still on %s' % src in result[0]['reason']
    ), text
    assert any(
        ln['type'] == 'progress' and ln.get('status') == 'running'
        for ln in lines
    ), text
    status, host, last = servers.settled(c, busy)
    assert (status, host) == ('ACTIVE', src)
    assert last['Status'] == 'cancelled', last
    servers.gone_from(c, busy, dst)


# ------------------------------------------------------------ 1a
def test_wait_adaptive_postcopy_completes_with_progress(libvirt_cloud, busy):
    c = libvirt_cloud
    src, dst = c.hosts
    assert servers.where(c, busy)[:2] == ('ACTIVE', src)
    r, lines = servers.migrate_wait(c, busy, dst, 'adaptive')
    out = r.stdout[-4000:] + r.stderr[-3000:]
    assert r.returncode == 0, out
    progress = [ln for ln in lines if ln['type'] == 'progress']
    phases = []
    for ln in progress:
        if ln.get('phase') and (not phases or phases[-1] != ln['phase']):
            phases.append(ln['phase'])
    assert 'pre-copy' in phases and 'post-copy' in phases, phases
    assert phases.index('pre-copy') < phases.index('post-copy'), phases
    assert any((ln.get('processed_bytes') or 0) > 0 for ln in progress), out
    actions = {ln.get('action') for ln in progress}
    assert 'postcopy' in actions, actions
    assert all(ln.get('migration') for ln in progress[-3:]), progress[-3:]
    result = [ln for ln in lines if ln['type'] == 'result']
    assert len(result) == 1 and result[0]['ok'] is True, out
    assert result[0]['host'] == dst and result[0]['status'] == 'completed'
    status, host, _ = servers.where(c, busy)
    assert (status, host) == ('ACTIVE', dst)
    meta = servers.show(c, busy)['properties']
    assert meta['livemigrate:policy_used'] == 'adaptive', meta
    assert meta['livemigrate:action'] == 'postcopy', meta
    assert busy in servers.domains(c, servers.host_letter(c, dst))
    assert busy not in servers.domains(c, servers.host_letter(c, src))


# ------------------------------------------------------------ 2: force
def test_cli_force_complete_finishes_on_b_memory_intact(libvirt_cloud, busy):
    c = libvirt_cloud
    src, dst = c.hosts
    # back to A first (through the CLI as well)
    if servers.where(c, busy)[1] != src:
        r, _ = servers.migrate_wait(c, busy, src, 'adaptive')
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert servers.where(c, busy)[:2] == ('ACTIVE', src)
    servers.heartbeats(c, busy, 2)
    r = c.openstack(
        'server',
        'migrate',
        '--live-migration',
        '--host',
        dst,
        '--policy',
        'nova',
        busy,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    m = servers.running_with_bytes(c, busy)
    c.openstack('server', 'migration', 'force', 'complete', busy, str(m['Id']))
    status, host, last = servers.settled(c, busy)
    assert (status, host) == ('ACTIVE', dst), (status, host, last)
    assert last['Id'] == m['Id'] and last['Status'] == 'completed', last
    meta = servers.show(c, busy)['properties']
    assert meta['livemigrate:phase'] == 'completed', meta
    assert meta['livemigrate:action'] == 'postcopy', meta
    assert busy in servers.domains(c, servers.host_letter(c, dst))
    assert busy not in servers.domains(c, servers.host_letter(c, src))
    # the destination's console: heartbeats and a full VERIFY sweep
    after = servers.wait_for(
        'a VERIFY sweep on %s' % dst,
        lambda: (
            lambda rep: (
                rep if len(rep.heartbeats) >= 2 and rep.verifies else None
            )
        )(servers.console(c, busy)),
        180,
        every=2,
    )
    assert not after.errors and not after.panics, after
    assert after.corrupt == 0, after
    assert all(
        v.corrupt == 0 and v.pages == BUSY.written_pages
        for v in after.verifies
    ), after.verifies


# ------------------------------------------------------------ 4
def test_delete_after_migration_leaves_nothing(libvirt_cloud, busy):
    c = libvirt_cloud
    _, dst = c.hosts
    assert servers.where(c, busy)[:2] == ('ACTIVE', dst)
    for kind, path in servers.disk_sources(
        c, servers.host_letter(c, dst), busy
    ):
        assert kind == 'file', (kind, path)
        assert path.startswith(computes.INSTANCES_PATH + '/' + busy), path
    servers.delete(c, busy)
    servers.assert_nothing_left(c, busy)
