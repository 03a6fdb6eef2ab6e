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
"""The mini-cloud in fake mode, through its Python API, its CLI and the real
``openstack`` CLI: every service answers on loopback, a server boots on
compute1 and live-migrates to compute2, ``up`` is idempotent, failures are one
clear line, and ``down`` leaves nothing running.

The last test takes the cloud down and brings it back, so it stays last here.
"""

import os
import socket
import subprocess
import sys
import time

from testbed.cloud import cloud as cloudmod
from testbed.cloud import layout
from testbed.cloud import probes
from testbed.cloud import procs
from testbed.cloud import seed
from testbed.cloud import services
from testbed.cloud import session

ROOT = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)


def _tool(*args, env=None, timeout=900):
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, '-m', 'testbed.cloud'] + list(args),
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_every_service_answers(cloud):
    rows = cloud.status()
    assert [r[0] for r in rows] == services.names(cloud.layout)
    down = [
        '%s: %s' % (name, detail) for name, _, ok, detail in rows if not ok
    ]
    assert not down, down


def test_every_server_listens_on_loopback_only(cloud):
    sockets = procs.listening_sockets(cloud.table.our_pids())
    ports = {port for _, _, port in sockets}
    listeners = [s for s in services.table(cloud.layout) if s.port]
    assert len(listeners) == 8, listeners
    for s in listeners:
        assert cloud.layout.ports[s.port] in ports, s.name
    exposed = [s for s in sockets if s[1] not in ('127.0.0.1', '::1')]
    assert not exposed, exposed


def test_status_command_lists_every_service_up(cloud):
    r = _tool('status')
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    for name in services.names(cloud.layout):
        line = [ln for ln in lines if ln.split()[0] == name]
        assert line and ' up ' in line[0], (name, r.stdout)


def test_openrc_and_env_give_admin_credentials(cloud):
    with open(cloud.layout.openrc) as f:
        text = f.read()
    for key, value in cloud.env().items():
        assert 'export %s=' % key in text
    assert 'OS_AUTH_URL=http://127.0.0.1:' in _tool('env').stdout
    token = cloud.openstack(
        'token', 'issue', '-f', 'value', '-c', 'id'
    ).stdout.strip()
    assert token


def test_flavors_image_and_network_exist(cloud):
    flavors = {f['Name'] for f in cloud.openstack_json('flavor', 'list')}
    assert {'m1.tiny', 'm1.small'} <= flavors
    image = cloud.openstack_json('image', 'show', seed.IMAGE)
    assert image['status'] == 'active'
    nets = {n['Name'] for n in cloud.openstack_json('network', 'list')}
    assert seed.NETWORK in nets


def test_server_boots_on_compute1_and_live_migrates_to_compute2(cloud):
    name = 'lm-test-%d' % os.getpid()
    server = cloud.openstack_json(
        'server',
        'create',
        '--flavor',
        'm1.tiny',
        '--image',
        seed.IMAGE,
        '--nic',
        'none',
        '--availability-zone',
        'nova:compute1',
        '--wait',
        name,
    )
    try:
        assert server['status'] == 'ACTIVE'
        assert server['OS-EXT-SRV-ATTR:host'] == 'compute1'
        cloud.openstack(
            'server',
            'migrate',
            '--live-migration',
            '--host',
            'compute2',
            '--wait',
            name,
        )
        shown = cloud.openstack_json('server', 'show', name)
        assert shown['status'] == 'ACTIVE'
        assert shown['OS-EXT-SRV-ATTR:host'] == 'compute2'
        migrations = cloud.openstack_json(
            'server', 'migration', 'list', '--server', name
        )
        assert len(migrations) == 1, migrations
        m = migrations[0]
        assert m['Type'] == 'live-migration'
        assert (m['Source Compute'], m['Dest Compute']) == (
            'compute1',
            'compute2',
        )
        assert m['Status'] == 'completed', m
    finally:
        cloud.openstack('server', 'delete', '--wait', name, check=False)


def _create(c, name, host):
    return c.openstack_json(
        'server',
        'create',
        '--flavor',
        'm1.tiny',
        '--image',
        seed.IMAGE,
        '--nic',
        'none',
        '--availability-zone',
        'nova:' + host,
        '--wait',
        name,
    )['id']


def test_a_session_leaves_other_servers_and_a_running_cloud_as_found(cloud):
    """What the session fixtures do (``session.borrowed``), run on the
    cloud this session found or started: a server created without the
    mark (as the demo's) survives on its host, a marked one an earlier
    session left is deleted, and the cloud that was up stays up.
    """
    stamp = '%d-%d' % (os.getpid(), int(time.time()))
    outsider = cloudmod.Cloud(mode='fake')  # the demo, an operator
    earlier = cloudmod.Cloud(mode='fake', owner='pytest-selftest-' + stamp)
    foreign = _create(outsider, 'lm-foreign-' + stamp, 'compute1')
    leftover = _create(earlier, 'lm-leftover-' + stamp, 'compute2')
    said = []
    try:
        assert cloud.running()
        with session.borrowed(earlier, say=said.append) as c:
            ids = {s[0] for s in session.servers(c)}
            assert leftover not in ids, said
            assert foreign in ids, said
        assert said[0] == (
            'deleting 1 server(s) an earlier session left: %s' % leftover
        ), said
        assert said[-1] == (
            'leaving the fake-mode cloud running, as this session found it'
        ), said
        assert cloud.running()
        shown = outsider.openstack_json('server', 'show', foreign)
        assert (shown['status'], shown['OS-EXT-SRV-ATTR:host']) == (
            'ACTIVE',
            'compute1',
        ), shown
        assert shown['properties'].get(session.OWNER_KEY) is None, shown
        assert (
            outsider.openstack_json(
                'server', 'migration', 'list', '--server', foreign
            )
            == []
        )
        # a test that empties a host picks the one without it
        assert session.drain_hosts(cloud) == ('compute2', 'compute1')
    finally:
        outsider.openstack(
            'server', 'delete', '--wait', foreign, leftover, check=False
        )


def test_up_again_is_a_quick_no_op(cloud):
    before = {n: cloud.table.pid(n) for n in services.names(cloud.layout)}
    t0 = time.monotonic()
    r = _tool('up')
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert 'already up' in r.stderr
    assert took < 60, took
    after = {n: cloud.table.pid(n) for n in services.names(cloud.layout)}
    assert after == before


def test_service_that_cannot_start_is_one_line_naming_it(cloud, tmp_path):
    """A second cloud in another work folder (sharing the venvs, with its own
    epmd port) starts epmd, then finds MariaDB's port taken by the running
    cloud: one line naming mariadb and its log, exit 1; down then ends the
    epmd it did start.
    """
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        epmd_port = s.getsockname()[1]
    env = {
        layout.DIR_ENV: str(tmp_path),
        layout.VENVS_ENV: cloud.layout.venvs,
        layout.PORTS_ENV: 'epmd=%d' % epmd_port,
    }
    other = cloudmod.Cloud(base=str(tmp_path))
    try:
        r = _tool('up', env=env, timeout=300)
        assert r.returncode == 1, r.stdout + r.stderr
        # the stages it went through, then one line for the failure
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if 'ERROR' in ln]
        assert len(errors) == 1 and errors[0] == lines[-1], r.stderr
        assert 'Traceback' not in r.stderr
        line = lines[-1]
        assert line.startswith('testbed.cloud: ERROR: mariadb: ')
        assert 'port 127.0.0.1:%d' % cloud.layout.ports['mariadb'] in line
        assert line.endswith(
            'see %s' % os.path.join(str(tmp_path), 'logs', 'mariadb.log')
        )
        assert other.table.pid('epmd'), 'epmd of the second cloud not started'
    finally:
        r = _tool('down', env=env)
    assert 'epmd' in r.stderr
    # the failed attempt left nothing running, and the real cloud is unharmed
    assert other.table.our_pids() == []
    assert probes.port_free(layout.HOST, epmd_port)
    assert all(ok for _, _, ok, _ in cloud.status())


def test_status_of_a_cloud_that_is_not_up(tmp_path):
    r = _tool(
        'status',
        env={
            layout.DIR_ENV: str(tmp_path),
            layout.PORTS_ENV: 'keystone=1,nova-api=2',
        },
    )
    assert r.returncode == 1
    assert 'not running' in r.stdout
    assert 'Traceback' not in r.stderr


def test_down_leaves_nothing_running_and_up_restores(cloud):
    """Keep last: it restarts the cloud (fake computes cannot restart on old
    state, so up after down builds a fresh cloud). That would wipe servers
    the session did not create, so it refuses when there are any.
    """
    foreign = session.unowned(cloud)
    assert not foreign, (
        'the fake-mode cloud holds servers this session did not create '
        '(%s); restarting it would wipe them, so this test does not run '
        'on it: delete them or use another work folder' % foreign
    )
    pids = cloud.table.our_pids()
    assert pids
    r = _tool('down')
    assert r.returncode == 0, r.stderr
    alive = [p for p in pids if procs.pid_alive(p)]
    assert not alive, alive
    assert cloud.table.our_pids() == []
    busy = [
        name
        for name, port in cloud.layout.ports.items()
        if not probes.port_free(layout.HOST, port)
    ]
    assert not busy, busy
    assert _tool('status').returncode == 1
    took = cloud.up()
    assert all(ok for _, _, ok, _ in cloud.status())
    print('warm up after down: %.0f s' % took)
