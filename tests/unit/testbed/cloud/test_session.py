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
"""testbed.cloud.session: what a test session may delete and stop.

A stand-in cloud records the calls; the same behaviour runs against the
real mini-cloud in tests/functional/cloud/test_cloud.py.
"""

import types

import pytest

from testbed.cloud import cli
from testbed.cloud.procs import CloudError
from testbed.cloud import session


class _Cloud:
    mode = 'fake'
    hosts = ('compute1', 'compute2')

    def __init__(
        self, running, rows=(), owner='pytest', fail_up=False, leaks=()
    ):
        self._running = running
        self.leaks = list(leaks)
        self.owner = owner
        self.fail_up = fail_up
        self.calls = []
        self.rows = [
            types.SimpleNamespace(
                id=sid,
                name=sid,
                compute_host=host,
                metadata={session.OWNER_KEY: who} if who else {},
            )
            for sid, host, who in rows
        ]

    def running(self):
        return self._running

    def up(self):
        self.calls.append('up')
        if self.fail_up:
            raise CloudError('mariadb', 'port taken')

    def down(self, quiet=False):
        self.calls.append('down')

    def connection(self):
        rows = self.rows
        return types.SimpleNamespace(
            compute=types.SimpleNamespace(servers=lambda **kw: list(rows))
        )

    def openstack(self, *args, **kw):
        self.calls.append(' '.join(args))

    def orphaned_allocations(self):
        return list(self.leaks)

    def release_orphaned_allocations(self):
        released, self.leaks = self.leaks, []
        if released:
            self.calls.append('release %s' % ' '.join(released))
        return released


ROWS = (
    ('demo', 'compute1', None),
    ('mine', 'compute2', 'pytest'),
    ('other', 'compute2', 'someone'),
)


def test_a_cloud_found_running_stays_up_and_only_marked_go():
    c = _Cloud(running=True, rows=ROWS)
    with session.borrowed(c, say=lambda _: None):
        pass
    assert c.calls == ['up', 'server delete --wait mine']


def test_a_cloud_the_session_started_goes_down_again():
    c = _Cloud(running=False)
    with session.borrowed(c, say=lambda _: None):
        assert c.calls == ['up']
    assert c.calls == ['up', 'down']


def test_keep_leaves_a_started_cloud_up():
    c = _Cloud(running=False)
    with session.borrowed(c, keep=True, say=lambda _: None):
        pass
    assert c.calls == ['up']


def test_a_failed_up_stops_only_a_cloud_it_started():
    for running, calls in ((False, ['up', 'down']), (True, ['up'])):
        c = _Cloud(running=running, fail_up=True)
        with pytest.raises(CloudError):
            with session.borrowed(c, say=lambda _: None):
                pass
        assert c.calls == calls


def test_a_leak_in_the_session_fails_it_naming_the_consumer():
    """A leak made by the session's tests is released and reported; the
    cloud is left as it was found all the same.
    """
    for running, end in ((False, ['down']), (True, [])):
        c = _Cloud(running=running)
        with pytest.raises(CloudError) as err:
            with session.borrowed(c, say=lambda _: None):
                c.leaks = ['9de0767a']
        assert 'leaked allocations' in str(err.value)
        assert str(err.value).endswith('9de0767a')
        assert c.calls == ['up', 'release 9de0767a'] + end


def test_a_leak_found_at_the_start_is_an_earlier_sessions():
    c = _Cloud(running=True, leaks=['5ffb4fa2'])
    with session.borrowed(c, say=lambda _: None):
        pass
    assert c.calls == ['up', 'release 5ffb4fa2']


def test_drain_hosts_picks_a_host_without_foreign_servers():
    c = _Cloud(running=True, rows=ROWS[:2])
    assert session.drain_hosts(c) == ('compute2', 'compute1')
    c = _Cloud(running=True, rows=ROWS)
    with pytest.raises(CloudError, match='demo on compute1; other on comp'):
        session.drain_hosts(c)


def test_an_owner_marks_only_server_create():
    c = cli.AdminCli(layout=None, owner='pytest')
    assert c.marked(('server', 'create', 'vm')) == (
        'server',
        'create',
        '--property',
        'testbed:owner=pytest',
        'vm',
    )
    assert c.marked(('server', 'show', 'vm')) == ('server', 'show', 'vm')
    c.owner = None
    assert c.marked(('server', 'create', 'vm')) == ('server', 'create', 'vm')
