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
"""Migrations in flight seen through the CLI against the mini-cloud's nova:
list and show while one runs, force complete, watch until none remain, and
no token printed even with ``--debug``.

Fake-mode computes (nova's FakeLiveMigrateDriver) take about 5 s per live
migration and report no memory statistics, so byte counters stay empty here;
progress bytes and the driver's ``livemigrate:*`` keys on real guests are
covered against the libvirt-mode mini-cloud (our driver on two libvirt
hosts), in ``tests/functional/libvirt_cloud/test_libvirt_*.py``.
"""

import json
import subprocess
import time

import pytest

from testbed.cloud import services as svc
from tests.functional.cloud import faults
from tests.functional.cloud import servers
from tests.functional.osc_livemigrate import cli


def _migrations(cloud, sid):
    """A server's migration records, read over REST (fast: the fake
    driver's live migration lasts only about 5 s).
    """
    return (
        cloud.connection()
        .compute.get(
            '/os-migrations?instance_uuid=%s' % sid, microversion='2.95'
        )
        .json()['migrations']
    )


def _running_migration(cloud, name):
    """Start a live migration of a server; :returns: its in-flight record."""
    sid = cloud.openstack_json('server', 'show', name)['id']
    cloud.openstack('server', 'migrate', '--live-migration', name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        running = [
            m
            for m in _migrations(cloud, sid)
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
            env=cli.env(cloud),
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
    assert cli.host(cloud, server) == 'compute1'  # there and back again


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


def _held_in_flight(cloud, name):
    """Start a live migration of ``name`` and hold it in flight: once nova
    runs it, the destination's nova-compute is frozen, so the source's
    post-migration call to it waits (thaw within oslo.messaging's 60 s
    call monitor). :returns: the pid to give ``faults.thaw``.

    Why: the fake migration lasts 5 s, and an ``openstack`` child started
    on a loaded machine took 8-10 s to make its first request (CI, both
    lanes running): the watch then found nothing in flight.
    """
    started = _running_migration(cloud, name)
    m = servers.wait_for(
        'migration %s running' % started['id'],
        lambda: next(
            (
                x
                for x in _migrations(cloud, started['instance_uuid'])
                if x['id'] == started['id'] and x['status'] == 'running'
            ),
            None,
        ),
        30,
        every=0.2,
    )
    return faults.freeze(cloud, svc.compute_name(m['dest_compute']))


@pytest.mark.parametrize('scope', ['server', 'host'])
def test_watch_until_none_remain(cloud, server, scope):
    target = server if scope == 'server' else 'compute1'
    frozen = _held_in_flight(cloud, server)
    try:
        proc = subprocess.Popen(
            [cloud.openstack_bin, 'server', 'migration', 'watch']
            + ['--%s' % scope, target, '--interval', '1'],
            env=cli.env(cloud),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        first = proc.stdout.readline()  # NOTE: the CLI flushes each line
    finally:
        faults.thaw(frozen)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    refreshes = cli.json_lines(first + out)
    assert all(x['type'] == 'refresh' for x in refreshes)
    assert refreshes[0]['migrations'], refreshes
    assert refreshes[-1]['migrations'] == [], refreshes


def test_token_is_never_printed_even_with_debug(cloud):
    token = cloud.openstack(
        'token', 'issue', '-f', 'value', '-c', 'id'
    ).stdout.strip()
    r = cloud.openstack('--debug', 'server', 'migration', 'list')
    assert token and token not in r.stdout + r.stderr
    assert (
        'X-Auth-Token' in r.stderr
    )  # the header is logged, its value redacted
