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
"""A test session's use of a mini-cloud it may share with others.

The demo leaves its cloud up with its guest in it, and an operator may
keep servers of their own there. A session therefore marks every server it
creates (``Cloud(owner=...)`` adds the server metadata ``OWNER_KEY``),
removes at its start only what an earlier, killed session of the same
owner left, and stops at its end only a cloud it had to start.

A placement allocation that no instance or migration owns at the end of a
session is a leak, and the session fails naming it: clean-up at the next
start would hide it.
"""

import contextlib

from testbed.cloud.procs import CloudError

#: server metadata naming who created the server (``Cloud(owner=...)``)
OWNER_KEY = 'testbed:owner'
#: the owner the test suite's session fixtures create servers as
SUITE_OWNER = 'pytest'


def servers(cloud):
    """Every server of every project: [(id, name, host, owner or None)]."""
    out = []
    for s in cloud.connection().compute.servers(all_projects=True):
        owner = (s.metadata or {}).get(OWNER_KEY)
        out.append((s.id, s.name, s.compute_host, owner))
    return out


def unowned(cloud, host=None):
    """The servers ``cloud``'s owner did not create, on ``host`` if given."""
    return [
        s
        for s in servers(cloud)
        if s[3] != cloud.owner and (host is None or s[2] == host)
    ]


def drain_hosts(cloud):
    """(source, destination) for a test that empties a host: the source is
    a host on which only the session's own servers run.

    :raises CloudError: when every host runs someone else's server; the
        test then fails saying so instead of moving that server.
    """
    for src in cloud.hosts:
        if not unowned(cloud, src):
            return src, next(h for h in cloud.hosts if h != src)
    raise CloudError(
        'session',
        'every host runs servers this test session did not create (%s); '
        "a test that drains a host moves nobody else's: delete them or "
        'use another cloud'
        % '; '.join(
            '%s on %s' % (name, host) for _, name, host, _ in unowned(cloud)
        ),
    )


def delete_leftovers(cloud, say=print):
    """Delete the servers an earlier session of ``cloud``'s owner left
    (killed before its own clean-up), and the placement allocations that
    no instance or migration owns. Nobody else's server is touched.

    :returns: the IDs of the servers deleted.
    """
    left = [sid for sid, _, _, owner in servers(cloud) if owner == cloud.owner]
    if left:
        say(
            'deleting %d server(s) an earlier session left: %s'
            % (len(left), ', '.join(left))
        )
        cloud.openstack('server', 'delete', '--wait', *left, timeout=600)
    leaked = cloud.release_orphaned_allocations()
    if leaked:
        say(
            'released placement allocations no server or migration owns '
            '(left by an earlier session): %s' % ', '.join(leaked)
        )
    return left


def assert_no_leaked_allocations(cloud):
    """Fail on allocations nobody owns, after releasing them so the next
    session starts clean.

    :raises CloudError: naming the leaked consumers.
    """
    leaked = cloud.orphaned_allocations()
    if leaked:
        cloud.release_orphaned_allocations()
        raise CloudError(
            'placement',
            'this test session leaked allocations that no instance or '
            'migration owns (released now): %s' % ', '.join(leaked),
        )


@contextlib.contextmanager
def borrowed(cloud, keep=False, say=print):
    """The cloud running for the block, left as it was found.

    A cloud that already answered stays up afterwards, with whatever else
    runs in it; one this call started goes down again unless ``keep``.
    Servers the owner left earlier are deleted first.

    :raises CloudError: when the cloud does not come up (one this call
        started is stopped again first, unless ``keep``), or when the block
        leaked placement allocations (the cloud is still left as found).
    """
    if not cloud.owner:
        raise ValueError('a borrowed cloud needs an owner for its servers')
    found_running = cloud.running()
    stop = not (keep or found_running)
    try:
        cloud.up()
    except CloudError:
        if stop:
            cloud.down(quiet=True)
        raise
    delete_leftovers(cloud, say=say)
    yield cloud
    try:
        assert_no_leaked_allocations(cloud)
    finally:
        _leave(cloud, stop, found_running, say)


def _leave(cloud, stop, found_running, say):
    if stop:
        cloud.down()
    elif found_running:
        say(
            'leaving the %s-mode cloud running, as this session found it'
            % cloud.mode
        )
