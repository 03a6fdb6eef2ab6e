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
from testbed.cloud import session
from tests.functional.cloud import servers

SMALL = computes.WORKLOADS[0]
BUSY = computes.WORKLOADS[1]


@pytest.fixture(scope='module')
def busy(libvirt_cloud):
    """One WORKLOADS[1] guest booted on host A, deleted at the end."""
    c = libvirt_cloud
    with servers.booted(c, BUSY, 'lm-cli-busy', c.hosts[0]) as sid:
        yield sid


#: a project member (no admin role) of the project owning the test servers
MEMBER = 'lm-cli-member'
MEMBER_PASSWORD = 'lm-cli-member-pw'
IN_FLIGHT = ('queued', 'preparing', 'running', 'running (post-copy)')


@pytest.fixture(scope='module')
def member_env(libvirt_cloud):
    """OS_* variables of a user with only the ``member`` role in the
    admin project, which owns the servers these tests boot; removed after.
    """
    c = libvirt_cloud
    c.openstack(
        'user',
        'create',
        '--or-show',
        '--domain',
        'default',
        '--password',
        MEMBER_PASSWORD,
        MEMBER,
    )
    try:
        c.openstack(
            'role', 'add', '--user', MEMBER, '--project', 'admin', 'member'
        )
        roles = c.openstack_json(
            'role', 'assignment', 'list', '--user', MEMBER, '--names'
        )
        assert [r['Role'] for r in roles] == ['member'], roles
        env = dict(os.environ, **c.env())
        env.update(
            OS_USERNAME=MEMBER,
            OS_PASSWORD=MEMBER_PASSWORD,
            PYTHONWARNINGS='ignore',
        )
        yield env
    finally:
        c.openstack('user', 'delete', MEMBER, check=False)


#: a user with only nova's ``manager`` role in that project: may
#: live-migrate its servers (without naming a host), sees no hosts
MANAGER = 'lm-cli-manager'
MANAGER_PASSWORD = 'lm-cli-manager-pw'


@pytest.fixture
def manager_env(libvirt_cloud):
    """OS_* variables of a project manager of the admin project; removed
    after.
    """
    c = libvirt_cloud
    c.openstack('role', 'create', '--or-show', 'manager')
    c.openstack(
        'user',
        'create',
        '--or-show',
        '--domain',
        'default',
        '--password',
        MANAGER_PASSWORD,
        MANAGER,
    )
    try:
        c.openstack(
            'role', 'add', '--user', MANAGER, '--project', 'admin', 'manager'
        )
        env = dict(os.environ, **c.env())
        env.update(
            OS_USERNAME=MANAGER,
            OS_PASSWORD=MANAGER_PASSWORD,
            PYTHONWARNINGS='ignore',
        )
        yield env
    finally:
        c.openstack('user', 'delete', MANAGER, check=False)


def outcome_lines(c, host, sid, words):
    """nova's outcome lines (``words``) for ``sid`` in the nova-compute log
    of ``host``, as ``(level, logger, message)``.
    """
    with open(c.layout.log('nova-compute-%s' % host), errors='replace') as f:
        lines = [ln for ln in f if '[instance: %s] %s' % (sid, words) in ln]
    out = []
    for line in lines:
        # 2026-12-01 12:24:40.581 9561 INFO nova.virt.libvirt.driver [...]
        fields = line.split(None, 5)
        out.append((fields[3], fields[4], line.split('] ', 2)[-1].strip()))
    return out


def follow(c, argv, on_line, timeout=600):
    """Run ``openstack argv`` as admin, calling ``on_line(obj)`` for every
    JSON line as it arrives. :returns: (exit code, JSON lines, stderr).
    """
    proc = subprocess.Popen(
        [c.openstack_bin] + argv,
        env=dict(os.environ, **dict(c.env(), PYTHONWARNINGS='ignore')),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    lines = []
    try:
        deadline = time.monotonic() + timeout
        for raw in proc.stdout:
            if raw.startswith('{'):
                lines.append(json.loads(raw))
                on_line(lines[-1])
            assert time.monotonic() < deadline, lines[-5:]
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, lines, err


# ------------------------------------------------------------ 1b
def test_wait_reports_a_refused_policy_and_deletion_leaves_nothing(
    libvirt_cloud, member_env
):
    """--policy turbo (not installed): the driver falls back to its default
    and publishes the refusal; --wait warns as soon as it shows, goes on
    with progress, and does not call the move a success.

    A busy guest (no convergence by itself), so that the nova policy runs
    long enough to tell "as soon as it shows" from "at the end"; once the
    warning and a later in-flight progress line were seen, an API
    force-complete (post-copy) ends it on B. The
    ``livemigrate:policy_refused`` key stays for the whole migration, and a
    project member (not admin) reads it with ``server show``. The source's
    nova-compute logs nova's own completed line, with ours after it.
    """
    c = libvirt_cloud
    src, dst = c.hosts
    sid = servers.boot(c, BUSY, 'lm-cli-refused-%d' % int(time.time()), src)
    seen = {}

    def on_line(ln):
        if ln['type'] == 'policy_refused' and 'warning' not in seen:
            seen['warning'] = ln
            r = subprocess.run(
                [c.openstack_bin, 'server', 'show', sid, '-f', 'json'],
                env=member_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            seen['member'] = (r.returncode, r.stdout, r.stderr)
        elif ln['type'] == 'progress' and 'warning' in seen:
            seen.setdefault('after', []).append(ln['status'])
            if len(seen['after']) == 1 and ln['status'] in IN_FLIGHT:
                # the nova fallback would take many minutes on this guest
                c.openstack(
                    'server',
                    'migration',
                    'force',
                    'complete',
                    sid,
                    str(servers.latest(c, sid)['Id']),
                )

    try:
        servers.active(c, sid, src)
        servers.heartbeats(c, sid, 2)
        rc, lines, err = follow(
            c,
            [
                'server',
                'migrate',
                '--live-migration',
                '--host',
                dst,
                '--wait',
                '--poll-interval',
                '1',
                '--policy',
                'turbo',
                sid,
            ],
            on_line,
        )
        out = json.dumps(lines)[-3000:] + err[-3000:]
        assert rc != 0, out
        # the warning: once, naming asked, used and reason, while the
        # migration is in flight, and progress goes on after it
        kinds = [ln['type'] for ln in lines]
        assert kinds.count('policy_refused') == 1, out
        warning = seen['warning']
        assert (warning['asked'], warning['used']) == ('turbo', 'nova'), out
        assert "'turbo', which is not installed" in warning['reason'], out
        assert warning['message'].startswith(
            'Warning: the driver refused policy turbo for server'
        ), out
        assert seen.get('after') and seen['after'][0] in IN_FLIGHT, seen
        # the server's owner, not admin, reads the refusal while it runs
        code, shown, why = seen['member']
        assert code == 0, why
        props = json.loads(shown)['properties']
        refusal = json.loads(props['livemigrate:policy_refused'])
        assert (refusal['asked'], refusal['used']) == ('turbo', 'nova'), props
        # the verdict
        result = [ln for ln in lines if ln['type'] == 'result']
        assert len(result) == 1, out
        assert result[0]['ok'] is False, result
        assert result[0]['status'] == 'completed', result
        assert result[0]['host'] == dst, result
        assert (
            'requested policy refused by the driver: policy turbo refused, '
            'policy nova ran' in result[0]['reason']
        ), result
        assert 'not installed' in result[0]['reason'], result
        assert 'did not complete' in err, err
        assert 'event livemigrate_policy-refused' in result[0]['reason'], (
            result
        )
        meta = servers.show(c, sid)['properties']
        assert meta['livemigrate:policy_used'] == 'nova', meta
        assert meta['livemigrate:phase'] == 'completed', meta
        # the refusal outlived every later action of the fallback policy
        assert json.loads(meta['livemigrate:policy_refused']) == refusal
        # nova's own line on the source, with ours after it
        done = outcome_lines(c, src, sid, 'Migration operation has completed')
        assert len(done) == 1, done
        level, logger, message = done[0]
        assert (level, logger) == ('INFO', 'nova.virt.libvirt.driver'), done
        assert message.startswith(
            'Migration operation has completed: policy nova, last action '
        ), done
        assert ' bytes moved, measured downtime ' in message, done
        assert int(message.split(' bytes moved')[0].rsplit(' ', 1)[1]) > 0
        # test 4: the migrated guest runs on B from files in B's instance
        # folder only; no block device, no volume
        sources = servers.disk_sources(c, servers.host_letter(c, dst), sid)
        assert sources, sources
        for kind, path in sources:
            assert kind == 'file', sources
            assert path.startswith(computes.INSTANCES_PATH + '/' + sid), (
                sources
            )
    finally:
        servers.delete(c, sid)
    servers.assert_nothing_left(c, sid)


# ------------------------------------------------------------ 1d
def test_a_project_manager_waits_for_a_live_migration(
    libvirt_cloud, manager_env
):
    """Not only admin: nova lets a project manager live-migrate, and
    --wait follows it to its verdict although nova hides the hosts and
    one migration's details from that user.
    """
    c = libvirt_cloud
    src, dst = c.hosts
    sid = servers.boot(c, SMALL, 'lm-cli-manager-%d' % int(time.time()), src)
    try:
        servers.active(c, sid, src)
        r = subprocess.run(
            [
                c.openstack_bin,
                'server',
                'migrate',
                '--live-migration',
                '--wait',
                '--poll-interval',
                '1',
                '-f',
                'json',
                sid,
            ],
            env=manager_env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
        out = r.stdout[-3000:] + r.stderr[-3000:]
        assert r.returncode == 0, out
        result = [
            ln for ln in servers.json_lines(r.stdout) if ln['type'] == 'result'
        ]
        assert len(result) == 1, out
        assert result[0]['ok'] is True, result
        assert result[0]['reason'] == (
            'completed: server now on a host nova names to admins only'
        ), result
        assert servers.where(c, sid)[:2] == ('ACTIVE', dst)
    finally:
        servers.delete(c, sid)
    servers.assert_nothing_left(c, sid)


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
    cancelled = outcome_lines(
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
        proc.send_signal(signal.SIGINT)
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


# ------------------------------------------------------------ 3
def test_drain_moves_every_guest_and_rerun_changes_nothing(libvirt_cloud):
    c = libvirt_cloud
    # a host none but our servers run on: the demo's guest stays put
    src, dst = session.drain_hosts(c)
    stamp = int(time.time())
    sids = []
    try:
        for i in range(3):
            sids.append(
                servers.boot(c, SMALL, 'lm-cli-drain-%d-%d' % (stamp, i), src)
            )
        for sid in sids:
            servers.active(c, sid, src)
        mine = set(sids)
        others = [
            s
            for s in c.openstack_json(
                'server', 'list', '--all-projects', '--host', src
            )
            if s['ID'] not in mine
        ]
        assert not others, 'other servers on %s: %s' % (src, others)
        t0 = time.monotonic()
        r = c.openstack(
            'compute',
            'host',
            'drain',
            src,
            '--poll-interval',
            '1',
            '-f',
            'json',
            check=False,
            timeout=900,
        )
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        rows = json.loads(r.stdout)
        names = {servers.show(c, s)['name']: s for s in sids}
        assert sorted(row['Server'] for row in rows) == sorted(names), rows
        for row in rows:
            assert row['Result'] == 'migrated', rows
            assert row['Destination'] == dst, rows
        for sid in sids:
            status, host, _ = servers.where(c, sid)
            assert (status, host) == ('ACTIVE', dst), (sid, status, host)
            assert sid in servers.domains(c, servers.host_letter(c, dst))
            assert sid not in servers.domains(c, servers.host_letter(c, src))
            assert [m['Status'] for m in servers.migrations(c, sid)] == [
                'completed'
            ]
        # re-run: nothing left to do, nothing started
        r2 = c.openstack(
            'compute', 'host', 'drain', src, '-f', 'json', check=False
        )
        assert r2.returncode == 0, r2.stdout + r2.stderr
        assert json.loads(r2.stdout) == [], r2.stdout
        assert 'Nothing to drain' in r2.stderr, r2.stderr
        for sid in sids:
            assert [m['Status'] for m in servers.migrations(c, sid)] == [
                'completed'
            ]
            assert servers.where(c, sid)[:2] == ('ACTIVE', dst)
        print('\ndrain of 3 guests took %.1f s' % took)
    finally:
        for sid in sids:
            servers.delete(c, sid)
    for sid in sids:
        servers.assert_nothing_left(c, sid)
