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
"""The plugin through the real ``openstack`` entry point against the
mini-cloud's nova.

Fake-mode computes (nova's FakeLiveMigrateDriver) take about 5 s per live
migration and report no memory statistics, so byte counters stay empty here;
progress bytes and the driver's ``livemigrate:*`` keys are covered by unit
tests until the libvirt-backed cloud exists. The drain test is last: it
disables and re-enables the host it drains.
"""

import json
import os
import signal
import subprocess
import time
import uuid

import pytest

from testbed.cloud import session

IMAGE = 'tiny'
FLAVOR = 'm1.tiny'


def _env(cloud):
    env = dict(os.environ)
    env.update(cloud.env())
    env.setdefault('PYTHONWARNINGS', 'ignore')
    return env


def _json_lines(text):
    return [
        json.loads(line) for line in text.splitlines() if line.startswith('{')
    ]


def _host(cloud, name):
    return cloud.openstack_json('server', 'show', name)['OS-EXT-SRV-ATTR:host']


@pytest.fixture
def server(cloud):
    """One ACTIVE server on compute1, deleted afterwards."""
    name = 'osc-lm-%s' % uuid.uuid4().hex[:8]
    cloud.openstack(
        'server',
        'create',
        '--flavor',
        FLAVOR,
        '--image',
        IMAGE,
        '--nic',
        'none',
        '--availability-zone',
        'nova:compute1',
        '--wait',
        name,
    )
    yield name
    cloud.openstack('server', 'delete', '--wait', name, check=False)


def test_help_lists_every_plugin_command(cloud):
    out = cloud.openstack('--help').stdout
    for words in (
        'server migrate ',
        'server migration list',
        'server migration show',
        'server migration abort',
        'server migration force complete',
        'server migration watch',
        'compute host drain',
    ):
        line = [ln for ln in out.splitlines() if ln.strip().startswith(words)]
        assert line and '(osc-livemigrate)' in line[0], words


def test_migrate_wait_completes_on_other_host(cloud, server):
    r = cloud.openstack(
        'server',
        'migrate',
        '--live-migration',
        '--wait',
        '--policy',
        'nova',
        '--poll-interval',
        '1',
        server,
    )
    lines = _json_lines(r.stdout)
    assert lines[0]['type'] == 'progress'
    result = lines[-1]
    assert (
        result['type'],
        result['ok'],
        result['host'],
        result['status'],
    ) == ('result', True, 'compute2', 'completed'), result
    assert _host(cloud, server) == 'compute2'
    shown = cloud.openstack_json('server', 'show', server)
    assert (
        "'livemigrate:policy': 'nova'" in str(shown['properties'])
        or shown['properties'].get('livemigrate:policy') == 'nova'
    )


def test_migrate_wait_reports_rollback_after_ctrl_c_abort(cloud, server):
    p = subprocess.Popen(
        [
            cloud.openstack_bin,
            'server',
            'migrate',
            '--live-migration',
            '--wait',
            '--on-interrupt',
            'abort',
            '--poll-interval',
            '0.5',
            server,
        ],
        env=_env(cloud),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        seen.append(line)
        if '"status": "running"' in line or not line:
            break
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, (seen, out, err)
    result = _json_lines(out)[-1]
    assert (result['ok'], result['status'], result['host']) == (
        False,
        'cancelled',
        'compute1',
    )
    assert (
        'did not complete: migration cancelled; server still on compute1'
        in err
    )
    assert _host(cloud, server) == 'compute1'


def test_migrate_to_its_own_host_is_refused_before_nova(cloud, server):
    r = cloud.openstack(
        'server',
        'migrate',
        '--live-migration',
        '--host',
        'compute1',
        '--wait',
        server,
        check=False,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        'Server %s is already on host compute1: --host must name another '
        'host' % server
    ], r.stderr


def test_migrate_to_a_host_that_refuses(cloud, server):
    r = cloud.openstack(
        'server',
        'migrate',
        '--live-migration',
        '--host',
        'no-such-host',
        '--wait',
        server,
        check=False,
    )
    assert r.returncode == 1
    assert 'live-migrate server %s failed (HTTP 400)' % server in r.stderr
    assert 'Traceback' not in r.stderr


def test_unknown_server(cloud):
    for args in (
        ('server', 'migrate', '--live-migration', '--wait', 'ghost-server'),
        ('server', 'migration', 'show', 'ghost-server', '1'),
        ('server', 'migration', 'watch', '--server', 'ghost-server'),
    ):
        r = cloud.openstack(*args, check=False)
        assert r.returncode == 1, args
        assert (
            "No server with a name or ID of 'ghost-server' exists" in r.stderr
        ), r.stderr


def test_no_migration_in_progress(cloud, server):
    r = cloud.openstack(
        'server', 'migration', 'abort', server, '999999', check=False
    )
    assert r.returncode == 1
    assert 'has no migration 999999' in r.stderr, r.stderr
    cloud.openstack('server', 'migrate', '--live-migration', '--wait', server)
    done = cloud.openstack_json(
        'server', 'migration', 'list', '--server', server
    )[0]
    for verb in (('show',), ('abort',), ('force', 'complete')):
        r = cloud.openstack(
            'server', 'migration', *verb, server, done['UUID'], check=False
        )
        assert r.returncode == 1, verb
        assert 'is completed, not in progress' in r.stderr, r.stderr


def test_too_old_microversion(cloud, server):
    cases = (
        (
            '2.22',
            ('server', 'migration', 'show', server, '1'),
            '--os-compute-api-version 2.23 or greater is required for server '
            'migration show',
        ),
        (
            '2.23',
            ('server', 'migration', 'abort', server, '1'),
            '--os-compute-api-version 2.24 or greater is required for server '
            'migration abort',
        ),
        (
            '2.21',
            ('server', 'migration', 'force', 'complete', server, '1'),
            '2.22 or greater is required for server migration force complete',
        ),
        (
            '2.58',
            ('server', 'migration', 'show', server, str(uuid.uuid4())),
            '2.59 or greater is required for server migration show with a '
            'migration UUID',
        ),
        (
            '2.22',
            ('server', 'migration', 'watch'),
            '2.23 or greater is required for server migration watch',
        ),
        (
            '2.29',
            (
                'server',
                'migrate',
                '--live-migration',
                '--host',
                'compute2',
                server,
            ),
            '2.30 or greater is required for --host compute2',
        ),
    )
    for version, args, msg in cases:
        r = cloud.openstack(
            '--os-compute-api-version', version, *args, check=False
        )
        assert r.returncode == 1, args
        assert msg in r.stderr, (args, r.stderr)


def _running_migration(cloud, name):
    """The in-flight migration record of a server, read over REST (fast: the
    fake driver's live migration lasts only about 5 s).
    """
    sid = cloud.openstack_json('server', 'show', name)['id']
    cloud.openstack('server', 'migrate', '--live-migration', name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = (
            cloud.connection()
            .compute.get(
                '/os-migrations?instance_uuid=%s' % sid, microversion='2.95'
            )
            .json()
        )
        running = [
            m
            for m in found['migrations']
            if m['status'] not in ('completed', 'error', 'failed', 'cancelled')
        ]
        if running:
            return running[0]
        time.sleep(0.2)
    raise AssertionError('no migration of %s started' % name)


def _run_all(cloud, *commands):
    """Start several CLI runs at once (each takes ~1.5 s to start)."""
    procs = [
        subprocess.Popen(
            [cloud.openstack_bin] + list(c),
            env=_env(cloud),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for c in commands
    ]
    return [
        (p.returncode, out, err)
        for p in procs
        for out, err in [p.communicate(60)]
    ]


def test_list_and_show_while_running_then_force_complete(cloud, server):
    m = _running_migration(cloud, server)
    (rc1, listed, err1), (rc2, shown, err2) = _run_all(
        cloud,
        (
            'server',
            'migration',
            'list',
            '--server',
            server,
            '--long',
            '-f',
            'json',
        ),
        ('server', 'migration', 'show', server, str(m['id']), '-f', 'json'),
    )
    assert rc1 == 0, err1
    rows = json.loads(listed)
    assert {
        'Progress',
        'Memory Remaining Bytes',
        'Disk Remaining Bytes',
        'UUID',
        'Type',
    } <= set(rows[0])
    assert rows[0]['UUID'] == m['uuid']
    if rc2 == 0:
        shown = json.loads(shown)
        assert shown['UUID'] == m['uuid'] and 'Memory Remaining Bytes' in shown
    else:  # the 5 s fake migration may end first: then the error must say so
        assert 'is completed, not in progress' in err2, err2
    _wait_completed(cloud, server)
    m = _running_migration(cloud, server)
    r = cloud.openstack(
        'server',
        'migration',
        'force',
        'complete',
        server,
        m['uuid'],
        check=False,
    )
    assert r.returncode == 0 or 'is completed, not in progress' in r.stderr, (
        r.stderr
    )
    _wait_completed(cloud, server)
    assert _host(cloud, server) == 'compute1'  # there and back again


def _wait_completed(cloud, server):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = cloud.openstack_json('server', 'show', server)
        rows = cloud.openstack_json(
            'server', 'migration', 'list', '--server', server
        )
        if (
            rows[0]['Status'] == 'completed'
            and not shown['OS-EXT-STS:task_state']
        ):
            return
        time.sleep(1)
    raise AssertionError(
        'migration of %s did not complete: %s' % (server, rows[0])
    )


@pytest.mark.parametrize('scope', ['server', 'host'])
def test_watch_until_none_remain(cloud, server, scope):
    cloud.openstack('server', 'migrate', '--live-migration', server)
    target = server if scope == 'server' else 'compute1'
    r = cloud.openstack(
        'server',
        'migration',
        'watch',
        '--%s' % scope,
        target,
        '--interval',
        '1',
        timeout=120,
    )
    refreshes = _json_lines(r.stdout)
    assert all(x['type'] == 'refresh' for x in refreshes)
    assert refreshes[-1]['migrations'] == []
    assert any(x['migrations'] for x in refreshes), refreshes


def test_token_is_never_printed_even_with_debug(cloud):
    token = cloud.openstack(
        'token', 'issue', '-f', 'value', '-c', 'id'
    ).stdout.strip()
    r = cloud.openstack('--debug', 'server', 'migration', 'list')
    assert token and token not in r.stdout + r.stderr
    assert (
        'X-Auth-Token' in r.stderr
    )  # the header is logged, its value redacted


def test_drain_22_servers_with_concurrency_4_then_rerun_changes_nothing(cloud):
    prefix = 'osc-lm-drain-%s' % uuid.uuid4().hex[:6]
    # a host none but our servers run on: nobody else's server moves
    src, dst = session.drain_hosts(cloud)
    cloud.openstack(
        'quota',
        'set',
        '--instances',
        '100',
        '--cores',
        '200',
        '--ram',
        '204800',
        'admin',
    )
    cloud.openstack(
        'server',
        'create',
        '--flavor',
        FLAVOR,
        '--image',
        IMAGE,
        '--nic',
        'none',
        '--availability-zone',
        'nova:' + src,
        '--min',
        '22',
        '--max',
        '22',
        prefix,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            servers = cloud.openstack_json('server', 'list', '--name', prefix)
            if len(servers) == 22 and all(
                s['Status'] == 'ACTIVE' for s in servers
            ):
                break
            time.sleep(2)
        on_host = cloud.openstack_json(
            'server', 'list', '--all-projects', '--host', src
        )
        before = len(cloud.openstack_json('server', 'migration', 'list'))
        t0 = time.monotonic()
        r = cloud.openstack(
            'compute',
            'host',
            'drain',
            src,
            '--concurrency',
            '4',
            '--disable',
            '--disable-reason',
            'osc-livemigrate drain test',
            '--poll-interval',
            '1',
            '-f',
            'json',
            timeout=900,
            check=False,
        )
        took = time.monotonic() - t0
        bad = [
            row
            for row in json.loads(r.stdout or '[]')
            if row['Result'] != 'migrated'
        ]
        assert r.returncode == 0, (bad, r.stderr[-1500:])
        rows = json.loads(r.stdout)
        assert len(rows) == len(on_host) >= 22
        assert {row['Result'] for row in rows} == {'migrated'}, rows
        assert {row['Destination'] for row in rows} == {dst}
        assert all(row['Duration'] > 0 for row in rows)
        assert (
            cloud.openstack_json(
                'server', 'list', '--all-projects', '--host', src
            )
            == []
        )
        svc = cloud.openstack_json(
            'compute',
            'service',
            'list',
            '--host',
            src,
            '--service',
            'nova-compute',
            '--long',
        )[0]
        assert svc['Status'] == 'disabled'
        assert svc['Disabled Reason'] == 'osc-livemigrate drain test'
        migrations = cloud.openstack_json('server', 'migration', 'list')
        assert len(migrations) == before + len(rows)
        print('drained %d servers in %.0f s' % (len(rows), took))
        # a re-run finds nothing to do and changes nothing
        again = cloud.openstack(
            'compute',
            'host',
            'drain',
            src,
            '--concurrency',
            '4',
            '--disable',
            '--disable-reason',
            'osc-livemigrate drain test',
            '-f',
            'json',
        )
        assert json.loads(again.stdout) == []
        assert 'already disabled' in again.stderr
        assert len(cloud.openstack_json('server', 'migration', 'list')) == len(
            migrations
        )
    finally:
        cloud.openstack(
            'compute',
            'service',
            'set',
            '--enable',
            src,
            'nova-compute',
            check=False,
        )
        for s in cloud.openstack_json('server', 'list', '--name', prefix):
            cloud.openstack('server', 'delete', s['ID'], check=False)
