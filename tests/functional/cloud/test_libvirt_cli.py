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
"""The ``openstack`` CLI on real guests: verdicts, abort, drain, delete."""

# NOTE: the tests of this module run in file order and share one busy guest
# (WORKLOADS[1], never converges by itself): abort leaves it on A, an
# interrupted --wait leaves it on A, adaptive moves it to B, it is moved back
# and force-completed to B, then deleted. Keeping one guest keeps the 2-core
# machine responsive; every test checks its starting state first.

import json
import os
import signal
import subprocess
import time

import pytest

from testbed.cloud import computes
from testbed.guest import disk
from testbed.guest import serial

SMALL = computes.WORKLOADS[0]
BUSY = computes.WORKLOADS[1]


# ------------------------------------------------------------ helpers
def _wait_for(what, fn, timeout, every=1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('%s not seen within %d s' % (what, timeout))
        time.sleep(every)


def _console(c, sid):
    return serial.parse_serial(c.openstack('console', 'log', 'show',
                                           sid).stdout)


def _heartbeats(c, sid, n, timeout=180):
    return _wait_for('%d heartbeats of %s' % (n, sid), lambda: (
        lambda r: r if len(r.heartbeats) >= n else None)(_console(c, sid)),
        timeout, every=2)


def _domains(c, letter):
    r = subprocess.run(
        ['virsh', '-c', c.pair.local_uri(letter), 'list', '--all', '--uuid'],
        capture_output=True, text=True, check=True)
    return set(r.stdout.split())


def _letter(c, host):
    return computes.pair_host(c.layout, host)


def _show(c, sid):
    return c.openstack_json('server', 'show', sid)


def _where(c, sid):
    s = _show(c, sid)
    return (s['status'], s['OS-EXT-SRV-ATTR:host'],
            s.get('OS-EXT-STS:task_state'))


def _migrations(c, sid):
    return c.openstack_json('server', 'migration', 'list', '--server', sid)


def _latest(c, sid):
    migs = _migrations(c, sid)
    return max(migs, key=lambda m: m['Id']) if migs else None


def _settled(c, sid, timeout=300):
    """Wait until the server has no task and its last migration ended."""
    def probe():
        status, host, task = _where(c, sid)
        m = _latest(c, sid)
        if task is None and status != 'MIGRATING' and (
                m is None or m['Status'] in ('completed', 'cancelled',
                                             'error', 'failed')):
            return status, host, m
        return None
    return _wait_for('server %s settled' % sid, probe, timeout, every=2)


def _boot(c, spec, name, host):
    server = c.openstack_json(
        'server', 'create', '--flavor', computes.FLAVOR[0], '--image',
        disk.image_name(spec), '--nic', 'none', '--availability-zone',
        'nova:' + host, name)
    return server['id']


def _active(c, sid, host, timeout=300):
    def probe():
        status, at, task = _where(c, sid)
        assert status != 'ERROR', _show(c, sid).get('fault')
        return status == 'ACTIVE' and task is None and at == host
    _wait_for('%s ACTIVE on %s' % (sid, host), probe, timeout, every=2)


def _delete(c, sid):
    c.openstack('server', 'delete', '--wait', sid, check=False, timeout=300)


def _json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('{'):
            out.append(json.loads(line))
    return out


def _migrate_wait(c, sid, dest, policy, *extra, timeout=600):
    args = ['server', 'migrate', '--live-migration', '--host', dest,
            '--wait', '--poll-interval', '1']
    if policy:
        args += ['--policy', policy]
    r = c.openstack(*(args + list(extra) + [sid]), check=False,
                    timeout=timeout)
    return r, _json_lines(r.stdout)


def _running_with_bytes(c, sid, timeout=180):
    """The in-flight migration once libvirt has copied some memory."""
    def probe():
        m = _latest(c, sid)
        if m and m['Status'] == 'running' and m.get('Processed') not in (
                None, '-', 0, '0'):
            return m
        return None
    return _wait_for('a running migration of %s with bytes copied' % sid,
                     probe, timeout, every=2)


def _disk_sources(c, letter, sid):
    r = subprocess.run(
        ['virsh', '-c', c.pair.local_uri(letter), 'domblklist', sid,
         '--details'], capture_output=True, text=True, check=True)
    rows = [ln.split() for ln in r.stdout.splitlines()[2:] if ln.strip()]
    return [(row[0], row[3]) for row in rows if len(row) >= 4]


def _instance_dir(c, host, sid):
    pair = c.pair
    return os.path.join(pair.hostdir(_letter(c, host)),
                        computes.INSTANCES_PATH.lstrip('/'), sid)


def _assert_nothing_left(c, sid):
    """No domain (running or defined) and no instance folder on either
    host, and no block-device attachment on this machine."""
    for host in c.hosts:
        letter = _letter(c, host)
        assert sid not in _domains(c, letter), (sid, host)
        assert not os.path.exists(_instance_dir(c, host, sid)), (
            _instance_dir(c, host, sid))
    # no cinder here: nothing may have attached a block device by path
    # (iSCSI/FC/NVMe-oF attachments appear there) or opened an iSCSI session
    assert not os.path.exists('/dev/disk/by-path') or not [
        e for e in os.listdir('/dev/disk/by-path')
        if 'iscsi' in e or 'fc-' in e or 'nvme' in e], os.listdir(
            '/dev/disk/by-path')
    if os.path.exists('/sys/class/iscsi_session'):
        assert os.listdir('/sys/class/iscsi_session') == []


@pytest.fixture(scope='module')
def busy(libvirt_cloud):
    """One WORKLOADS[1] guest booted on host A, deleted at the end."""
    c = libvirt_cloud
    src, _ = c.hosts
    sid = _boot(c, BUSY, 'lm-cli-busy-%d' % int(time.time()), src)
    try:
        _active(c, sid, src)
        _heartbeats(c, sid, 2)
        yield sid
    finally:
        _delete(c, sid)


# ------------------------------------------------------------ 1b
def test_wait_reports_a_refused_policy_and_deletion_leaves_nothing(
        libvirt_cloud):
    """--policy turbo (not installed): the driver falls back to its default
    and publishes policy-refused; --wait must not call that a success even
    though the server moved, and say why.

    The ``policy-refused`` action is overwritten by the fallback policy's
    first ``set-downtime`` within one monitor interval, so --wait judges by
    ``livemigrate:policy_used`` (nova, not the requested turbo) and names
    the reason from the failed ``livemigrate_policy-refused`` event."""
    c = libvirt_cloud
    src, dst = c.hosts
    sid = _boot(c, SMALL, 'lm-cli-refused-%d' % int(time.time()), src)
    try:
        _active(c, sid, src)
        _heartbeats(c, sid, 2)
        r, lines = _migrate_wait(c, sid, dst, 'turbo')
        out = r.stdout[-3000:] + r.stderr[-3000:]
        assert r.returncode != 0, out
        result = [ln for ln in lines if ln['type'] == 'result']
        assert len(result) == 1, out
        assert result[0]['ok'] is False, result
        assert result[0]['status'] == 'completed', result
        assert result[0]['host'] == dst, result
        assert 'requested policy refused by the driver' in \
            result[0]['reason'], result
        assert "'turbo'" in result[0]['reason'], result
        assert 'not installed' in result[0]['reason'], result
        assert 'did not complete' in r.stderr, r.stderr
        # the refusal is published once and overwritten by the fallback
        # policy's first action, so a progress line may or may not show
        # it; the audit event always holds it, and the verdict names it
        assert 'event livemigrate_policy-refused' in result[0]['reason'], \
            result
        meta = _show(c, sid)['properties']
        assert meta['livemigrate:policy_used'] == 'nova', meta
        assert meta['livemigrate:phase'] == 'completed', meta
        # test 4, on a converging guest: the migrated guest runs on B from
        # files in B's instance folder only; no block device, no volume
        sources = _disk_sources(c, _letter(c, dst), sid)
        assert sources, sources
        for kind, path in sources:
            assert kind == 'file', sources
            assert path.startswith(computes.INSTANCES_PATH + '/' + sid), \
                sources
    finally:
        _delete(c, sid)
    _assert_nothing_left(c, sid)


# ------------------------------------------------------------ 2: abort
def test_cli_abort_mid_migration_keeps_the_guest_on_a(libvirt_cloud, busy):
    c = libvirt_cloud
    src, dst = c.hosts
    assert _where(c, busy)[:2] == ('ACTIVE', src)
    before = _console(c, busy)
    r = c.openstack('server', 'migrate', '--live-migration', '--host', dst,
                    '--policy', 'nova', busy, check=False)
    assert r.returncode == 0, r.stderr
    m = _running_with_bytes(c, busy)
    c.openstack('server', 'migration', 'abort', busy, str(m['Id']))
    status, host, last = _settled(c, busy)
    assert (status, host) == ('ACTIVE', src), (status, host)
    assert last['Id'] == m['Id'] and last['Status'] == 'cancelled', last
    assert busy in _domains(c, _letter(c, src))
    assert busy not in _domains(c, _letter(c, dst))
    # alive: heartbeats go on past the ones seen before the migration
    n = len(before.heartbeats)
    after = _heartbeats(c, busy, n + 3, timeout=60)
    assert after.heartbeats[-1].t_s > before.heartbeats[-1].t_s
    assert not after.errors and not after.panics and after.corrupt == 0, \
        after


# ------------------------------------------------------------ 1c
def test_wait_interrupted_with_abort_exits_non_zero_on_a(libvirt_cloud,
                                                          busy):
    """No policy can abort here (post-copy is permitted, so every policy
    escalates to post-copy first): the abort comes from --wait's own
    --on-interrupt abort. --wait must exit non-zero and say cancelled."""
    c = libvirt_cloud
    src, dst = c.hosts
    assert _where(c, busy)[:2] == ('ACTIVE', src)
    env = dict(os.environ, **c.env())
    proc = subprocess.Popen(
        [c.openstack_bin, 'server', 'migrate', '--live-migration', '--host',
         dst, '--policy', 'nova', '--wait', '--poll-interval', '1',
         '--on-interrupt', 'abort', busy],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL)
    try:
        lines = []
        deadline = time.monotonic() + 240
        for raw in proc.stdout:
            if raw.startswith('{'):
                lines.append(json.loads(raw))
                ln = lines[-1]
                if ln['type'] == 'progress' and (
                        ln.get('processed_bytes') or 0) > 0:
                    break
            assert time.monotonic() < deadline, lines
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines += _json_lines(rest)
    out = json.dumps(lines)[-3000:] + err[-3000:]
    assert proc.returncode not in (0, 130), out
    kinds = [ln['type'] for ln in lines]
    assert 'notice' in kinds, out
    result = [ln for ln in lines if ln['type'] == 'result']
    assert len(result) == 1 and result[0]['ok'] is False, out
    assert result[0]['status'] == 'cancelled', out
    assert 'migration cancelled; server still on %s' % src in \
        result[0]['reason'], out
    assert 'did not complete' in err, err
    status, host, last = _settled(c, busy)
    assert (status, host) == ('ACTIVE', src)
    assert last['Status'] == 'cancelled', last
    assert busy not in _domains(c, _letter(c, dst))


def test_wait_reports_an_abort_from_another_cli(libvirt_cloud, busy):
    """--wait follows; a second ``openstack`` aborts the migration: the
    waiting one exits non-zero and says cancelled, server still on A."""
    c = libvirt_cloud
    src, dst = c.hosts
    assert _where(c, busy)[:2] == ('ACTIVE', src)
    env = dict(os.environ, **c.env())
    proc = subprocess.Popen(
        [c.openstack_bin, 'server', 'migrate', '--live-migration', '--host',
         dst, '--policy', 'nova', '--wait', '--poll-interval', '1', busy],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL)
    try:
        m = _running_with_bytes(c, busy)
        c.openstack('server', 'migration', 'abort', busy, m['UUID'])
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = _json_lines(out)
    text = out[-3000:] + err[-3000:]
    assert proc.returncode not in (0, 130), text
    result = [ln for ln in lines if ln['type'] == 'result']
    assert len(result) == 1 and result[0]['ok'] is False, text
    assert result[0]['status'] == 'cancelled', text
    assert result[0]['migration'] == m['UUID'], text
    assert 'migration cancelled; server still on %s' % src in \
        result[0]['reason'], text
    assert any(ln['type'] == 'progress' and ln.get('status') == 'running'
               for ln in lines), text
    status, host, last = _settled(c, busy)
    assert (status, host) == ('ACTIVE', src)
    assert last['Status'] == 'cancelled', last


# ------------------------------------------------------------ 1a
def test_wait_adaptive_postcopy_completes_with_progress(libvirt_cloud, busy):
    c = libvirt_cloud
    src, dst = c.hosts
    assert _where(c, busy)[:2] == ('ACTIVE', src)
    r, lines = _migrate_wait(c, busy, dst, 'adaptive')
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
    status, host, _ = _where(c, busy)
    assert (status, host) == ('ACTIVE', dst)
    meta = _show(c, busy)['properties']
    assert meta['livemigrate:policy_used'] == 'adaptive', meta
    assert meta['livemigrate:action'] == 'postcopy', meta
    assert busy in _domains(c, _letter(c, dst))
    assert busy not in _domains(c, _letter(c, src))


# ------------------------------------------------------------ 2: force
def test_cli_force_complete_finishes_on_b_memory_intact(libvirt_cloud, busy):
    c = libvirt_cloud
    src, dst = c.hosts
    # back to A first (through the CLI as well)
    if _where(c, busy)[1] != src:
        r, _ = _migrate_wait(c, busy, src, 'adaptive')
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert _where(c, busy)[:2] == ('ACTIVE', src)
    _heartbeats(c, busy, 2)
    r = c.openstack('server', 'migrate', '--live-migration', '--host', dst,
                    '--policy', 'nova', busy, check=False)
    assert r.returncode == 0, r.stderr
    m = _running_with_bytes(c, busy)
    c.openstack('server', 'migration', 'force', 'complete', busy,
                str(m['Id']))
    status, host, last = _settled(c, busy)
    assert (status, host) == ('ACTIVE', dst), (status, host, last)
    assert last['Id'] == m['Id'] and last['Status'] == 'completed', last
    meta = _show(c, busy)['properties']
    assert meta['livemigrate:phase'] == 'completed', meta
    assert meta['livemigrate:action'] == 'postcopy', meta
    assert busy in _domains(c, _letter(c, dst))
    assert busy not in _domains(c, _letter(c, src))
    # the destination's console: heartbeats and a full VERIFY sweep
    after = _wait_for('a VERIFY sweep on %s' % dst, lambda: (
        lambda rep: rep if len(rep.heartbeats) >= 2 and rep.verifies
        else None)(_console(c, busy)), 180, every=2)
    assert not after.errors and not after.panics, after
    assert after.corrupt == 0, after
    assert all(v.corrupt == 0 and v.pages == BUSY.written_pages
               for v in after.verifies), after.verifies


# ------------------------------------------------------------ 4
def test_delete_after_migration_leaves_nothing(libvirt_cloud, busy):
    c = libvirt_cloud
    _, dst = c.hosts
    assert _where(c, busy)[:2] == ('ACTIVE', dst)
    for kind, path in _disk_sources(c, _letter(c, dst), busy):
        assert kind == 'file', (kind, path)
        assert path.startswith(computes.INSTANCES_PATH + '/' + busy), path
    _delete(c, busy)
    _assert_nothing_left(c, busy)


# ------------------------------------------------------------ 3
def test_drain_moves_every_guest_and_rerun_changes_nothing(libvirt_cloud):
    c = libvirt_cloud
    src, dst = c.hosts
    stamp = int(time.time())
    sids = []
    try:
        for i in range(3):
            sids.append(_boot(c, SMALL, 'lm-cli-drain-%d-%d' % (stamp, i),
                              src))
        for sid in sids:
            _active(c, sid, src)
        mine = set(sids)
        others = [s for s in c.openstack_json(
            'server', 'list', '--all-projects', '--host', src)
            if s['ID'] not in mine]
        assert not others, 'other servers on %s: %s' % (src, others)
        t0 = time.monotonic()
        r = c.openstack('compute', 'host', 'drain', src, '--poll-interval',
                        '1', '-f', 'json', check=False, timeout=900)
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        rows = json.loads(r.stdout)
        names = {_show(c, s)['name']: s for s in sids}
        assert sorted(row['Server'] for row in rows) == sorted(names), rows
        for row in rows:
            assert row['Result'] == 'migrated', rows
            assert row['Destination'] == dst, rows
        for sid in sids:
            status, host, _ = _where(c, sid)
            assert (status, host) == ('ACTIVE', dst), (sid, status, host)
            assert sid in _domains(c, _letter(c, dst))
            assert sid not in _domains(c, _letter(c, src))
            assert [m['Status'] for m in _migrations(c, sid)] == \
                ['completed']
        # re-run: nothing left to do, nothing started
        r2 = c.openstack('compute', 'host', 'drain', src, '-f', 'json',
                         check=False)
        assert r2.returncode == 0, r2.stdout + r2.stderr
        assert json.loads(r2.stdout) == [], r2.stdout
        assert 'Nothing to drain' in r2.stderr, r2.stderr
        for sid in sids:
            assert [m['Status'] for m in _migrations(c, sid)] == \
                ['completed']
            assert _where(c, sid)[:2] == ('ACTIVE', dst)
        print('\ndrain of 3 guests took %.1f s' % took)
    finally:
        for sid in sids:
            _delete(c, sid)
    for sid in sids:
        _assert_nothing_left(c, sid)
