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
"""What ``server migrate --wait`` tells on real guests, and to whom.

A policy the driver refused is a failed move even when the guest arrived,
and the project member who owns the server reads the refusal; a project
manager (no admin role) waits for its own live migration to a verdict
although nova hides the hosts from it. Each test boots its own guest.
"""

import json
import os
import subprocess
import time

import pytest

from testbed.cloud import computes
from tests.functional.cloud import servers

SMALL = computes.WORKLOADS[0]
BUSY = computes.WORKLOADS[1]

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
            'Warning: owner-writable server metadata says the driver '
            'refused policy turbo for server'
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
        done = servers.outcome_lines(
            c, src, sid, 'Migration operation has completed'
        )
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
