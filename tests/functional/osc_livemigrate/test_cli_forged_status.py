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
"""A project member forges the driver's ``livemigrate:*`` keys; the admin's
``--wait``, ``watch``, ``list --long`` and ``show`` do not present them as
the driver's.

The member (only the ``member`` role in the project owning the server)
writes the keys through nova's server metadata API, which nova allows the
owner by default. Fake-mode computes run nova's FakeLiveMigrateDriver, not
ours, so every ``livemigrate:*`` value here is forged and nova holds none
of the driver's events: whatever the CLI shows of the keys must carry the
owner-writable mark, and the forged refusal must not fail the admin's
``--wait``. The keys of the live status are written while the migration
runs (about 5 s on this driver, as ``test_cli_in_flight`` relies on too);
the final figures once it ended.
"""

import json
import subprocess
import time

from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from openstack import connection
import pytest

from testbed.cloud import layout as lay
from testbed.cloud import services as svc
from tests.functional.cloud import faults
from tests.functional.osc_livemigrate import cli

MEMBER = 'lm-forger'
MEMBER_PASSWORD = 'lm-forger-pw'
MARK = '[owner-writable]'
FORGED_REASON = 'FORGED by a project member'


@pytest.fixture
def member(cloud):
    """An SDK connection of a user with only the ``member`` role in the
    admin project, which owns the test server; the user is removed after.
    """
    ident = cloud.connection().identity
    old = ident.find_user(MEMBER, domain_id='default')
    if old is not None:
        ident.delete_user(old)
    user = ident.create_user(
        name=MEMBER, password=MEMBER_PASSWORD, domain_id='default'
    )
    try:
        project = ident.find_project('admin', ignore_missing=False)
        role = ident.find_role('member', ignore_missing=False)
        ident.assign_project_role_to_user(project, user, role)
        roles = [a.role['id'] for a in ident.role_assignments(user_id=user.id)]
        assert roles == [role.id], roles
        auth = v3.Password(
            auth_url=cloud.env()['OS_AUTH_URL'],
            username=MEMBER,
            password=MEMBER_PASSWORD,
            project_name='admin',
            user_domain_name='Default',
            project_domain_name='Default',
        )
        yield connection.Connection(
            session=ks_session.Session(auth=auth, timeout=60),
            region_name=lay.REGION,
            interface='public',
            compute_api_version=lay.COMPUTE_API_VERSION,
        )
    finally:
        ident.delete_user(user, ignore_missing=True)


def _start(cloud, *argv):
    return subprocess.Popen(
        [cloud.openstack_bin] + list(argv),
        env=cli.env(cloud),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _running(cloud, sid, timeout=60):
    """The uuid of the server's live migration once nova says running."""
    compute = cloud.connection().compute
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in compute.migrations(instance_uuid=sid):
            if m.status == 'running':
                return m.uuid
        time.sleep(0.2)
    raise AssertionError('no migration of %s ran' % sid)


def _read_until(proc, done, timeout=120):
    """Lines of ``proc``'s stdout until ``done(json object)``."""
    lines, deadline = [], time.monotonic() + timeout
    for raw in proc.stdout:
        lines.append(raw)
        if raw.startswith('{') and done(json.loads(raw)):
            return lines
        assert time.monotonic() < deadline, lines[-3:]
    raise AssertionError('ended before it showed the keys: %s' % lines)


def _shows_forged(refresh):
    return any(
        m['action'] == 'policy-refused' for m in refresh.get('migrations', [])
    )


def _forged_live(uuid):
    return {
        'livemigrate:migration': uuid,
        'livemigrate:policy_used': 'forged',
        'livemigrate:phase': 'post-copy',
        'livemigrate:action': 'policy-refused',
        'livemigrate:reason': FORGED_REASON,
        'livemigrate:policy_refused': json.dumps(
            {'asked': 'nova', 'used': 'forged', 'reason': FORGED_REASON}
        ),
    }


def _forged_last(uuid):
    return {
        'livemigrate:last_migration': json.dumps(
            {
                'migration': uuid,
                'outcome': 'completed',
                'policy': 'forged',
                'action': 'forged-action',
                'memory_bytes': 4242,
                'disk_bytes': 4343,
                'duration_s': 0.5,
                'downtime_ms': 1,
            }
        )
    }


def _marked(fields, owner_writable, forged):
    """Every field showing a forged value is named owner-writable."""
    return all(
        k in owner_writable
        for k, v in fields.items()
        if isinstance(v, str) and v in forged
    )


def test_forged_keys_are_marked_and_change_no_verdict(cloud, server, member):
    t0 = time.monotonic()
    sid = cloud.connection().compute.find_server(server).id
    waiter = _start(
        cloud,
        'server',
        'migrate',
        '--live-migration',
        '--wait',
        '--poll-interval',
        '0.5',
        '-f',
        'json',
        server,
    )
    uuid = _running(cloud, sid)
    # NOTE: the fake driver's migration lasts about 5 s, less than an
    # `openstack` start on a busy machine: the source's nova-compute is
    # frozen (its copy loop with it) until watch has shown the keys
    frozen = faults.freeze(cloud, svc.compute_name('compute1'))
    try:
        member.compute.set_server_metadata(sid, **_forged_live(uuid))
        watcher = _start(
            cloud,
            'server',
            'migration',
            'watch',
            '--server',
            server,
            '--interval',
            '0.5',
            '-f',
            'json',
        )
        first = _read_until(watcher, _shows_forged)
    finally:
        faults.thaw(frozen)
    rest, watch_err = watcher.communicate(timeout=120)
    watched = ''.join(first) + rest
    waited, wait_err = waiter.communicate(timeout=120)
    member.compute.set_server_metadata(sid, **_forged_last(uuid))
    listed = cloud.openstack_json(
        'server', 'migration', 'list', '--server', server, '--long'
    )
    shown = cloud.openstack_json('server', 'migration', 'show', server, uuid)
    print('forged while running: %s' % json.dumps(_forged_live(uuid)))
    print('forged once ended: %s' % json.dumps(_forged_last(uuid)))
    print('admin --wait -f json (rc %d):\n%s' % (waiter.returncode, waited))
    print('admin watch -f json (rc %d):\n%s' % (watcher.returncode, watched))
    print('admin list --long: %s' % json.dumps(listed, indent=1))
    print('admin show: %s' % json.dumps(shown, indent=1))
    print('wall time: %.1f s' % (time.monotonic() - t0))

    forged = {'post-copy', 'policy-refused', FORGED_REASON}
    # --wait: the forged values are marked where they show, the forged
    # refusal is told as metadata's claim, and the move still succeeds
    lines = cli.json_lines(waited)
    progress = [x for x in lines if x['type'] == 'progress']
    seen = [x for x in progress if x['action'] == 'policy-refused']
    assert seen, 'the forged keys were never read while running: %s' % lines
    for x in progress:
        assert _marked(x, x['owner_writable'], forged), x
    told = [x for x in lines if x['type'] == 'policy_refused']
    assert told and told[0]['message'].startswith(
        'Warning: owner-writable server metadata says'
    ), lines
    result = lines[-1]
    assert waiter.returncode == 0 and result['ok'], (result, wait_err)
    assert (
        'nova recorded no event livemigrate_policy-refused'
        in (result['reason'])
    )
    assert 'owner-writable server metadata says' in result['reason']

    # watch: every forged value it shows is named owner-writable
    refreshes = cli.json_lines(watched)
    rows = [m for r in refreshes for m in r.get('migrations', [])]
    assert watcher.returncode == 0, watch_err
    assert any(m['action'] == 'policy-refused' for m in rows), refreshes
    for m in rows:
        assert _marked(m, m['owner_writable'], forged), m

    # list --long and show: the forged figures only under marked headers
    (row,) = [r for r in listed if r['UUID'] == uuid]
    for shown_as in (row, shown):
        forged_cells = {
            k
            for k, v in shown_as.items()
            if v in ('forged', 'forged-action', 4242, 4343)
        }
        assert forged_cells, shown_as
        assert all(k.endswith(MARK) for k in forged_cells), shown_as
        assert shown_as['Policy %s' % MARK] == 'forged'
        assert 'Policy' not in shown_as and 'Last Action' not in shown_as
