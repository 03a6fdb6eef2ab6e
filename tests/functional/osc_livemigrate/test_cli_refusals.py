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
"""What the CLI refuses, and how it says so, against the mini-cloud's nova:
a move to the server's own host or to a host nova refuses, an unknown
server, a migration no longer in progress, a microversion too old.
"""

import uuid


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
