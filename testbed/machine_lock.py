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
"""One user of each part of this machine's real testbed at a time.

The testbed has parts that share nothing but the machine: the host pair
of the e2e tests and benchmarks (``hosts``), the fake-mode mini-cloud
(``cloud``), the libvirt-mode one with its own host pair
(``cloud-libvirt``, also the demo's) and the post-copy recovery probe's
pair (``pcrecover``). Two users of one part spoil each other's results (a
drain test once found the other run's guest on its host and failed), so
the second waits for the first and says so; users of different parts run
side by side, as ``tools/run-tests`` runs its levels. The lock is an
``flock`` on a file per part in the work folder: the kernel drops it when
its holder dies, so a killed run never leaves it stuck. :func:`held` is
the one lock helper of the testbed: the mini-cloud serialises its
commands on one work folder with it too.
"""

import contextlib
import fcntl
import os
import time

from testbed import hosts

#: the parts of the testbed, each locked on its own (see the docstring)
PARTS = ('hosts', 'cloud', 'cloud-libvirt', 'pcrecover')


def lock_path(part='hosts'):
    """The lock file of one part of the testbed, in the work folder."""
    if part not in PARTS:
        raise ValueError(
            'unknown testbed part %r (one of %s)' % (part, ', '.join(PARTS))
        )
    workdir = hosts.check_workdir(
        os.environ.get(hosts.WORKDIR_ENV, hosts.DEFAULT_WORKDIR)
    )
    return os.path.join(workdir, '.testbed-%s.lock' % part)


@contextlib.contextmanager
def held(path, purpose, say=print, what='the testbed'):
    """Hold an ``flock`` on ``path`` for ``purpose``, waiting for the
    holder if there is one. The purpose is written into the file, so a
    waiter can name who holds it: ``waiting for the testbed: held by pid
    4242: pytest tests/e2e (/srv/osc-livemigrate/.testbed-hosts.lock)``.

    :param what: what the lock guards, for the two lines said on a wait.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'a+') as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or 'another process'
            say('waiting for %s: held by %s (%s)' % (what, holder, path))
            t0 = time.monotonic()
            fcntl.flock(f, fcntl.LOCK_EX)
            say('got %s after %.0f s' % (what, time.monotonic() - t0))
        f.seek(0)
        f.truncate()
        f.write('pid %d: %s\n' % (os.getpid(), purpose))
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)


def exclusive(purpose, part, say=print):
    """Hold one part of the machine's testbed for ``purpose`` (see
    :func:`held`): ``exclusive('pytest tests/e2e', 'hosts')``.
    """
    return held(
        lock_path(part), purpose, say=say, what='the testbed (%s)' % part
    )
