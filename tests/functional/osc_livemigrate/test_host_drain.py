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
"""``compute host drain`` of 22 servers through the CLI against the
mini-cloud's nova. Its file sorts after the other CLI modules on purpose:
the test disables and re-enables the host it drains.
"""

import json
import time
import uuid

from testbed.cloud import session
from tests.functional.osc_livemigrate import cli


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
        cli.FLAVOR,
        '--image',
        cli.IMAGE,
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
