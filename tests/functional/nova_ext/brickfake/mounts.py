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
"""Empty /sys and /dev of our own, inside a private mount namespace.

os-brick reads fixed paths (``/sys/block/...``, ``/sys/class/scsi_host/
...``, ``/dev/disk/by-path/...``, ``/dev/sdX``) through ``os.path``,
``glob`` and ``open``; none of them can be pointed elsewhere without
patching os-brick. So the child process runs under ``unshare --mount
--propagation private`` and puts tmpfs over ``/sys`` and ``/dev`` there:
os-brick's code runs unmodified and sees only the tree the test builds,
while the host's /sys and /dev are untouched. The mounts vanish with the
namespace when the child exits, so nothing is left mounted.

/dev keeps null, zero, full, random, urandom and tty (bind-mounted from
the real ones), a tmpfs /dev/shm and the fd/std* links.
"""

import os
import subprocess

PARENT_NS_ENV = 'BRICKFAKE_PARENT_MNT_NS'
CHAR_DEVICES = ('null', 'zero', 'full', 'random', 'urandom', 'tty')


class NotIsolated(RuntimeError):
    """Refusing to mount: this is not a private mount namespace."""


def mount_ns():
    return os.readlink('/proc/self/ns/mnt')


def _mount(*args):
    subprocess.run(
        ('mount',) + args,
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


def check_isolated():
    """Raise unless we run in a mount namespace other than our parent's.

    The parent names its namespace in ``BRICKFAKE_PARENT_MNT_NS``; without
    it, or in the same namespace, mounting over /sys and /dev would hide
    the host's, so we stop.
    """
    parent = os.environ.get(PARENT_NS_ENV)
    if not parent:
        raise NotIsolated('%s is not set' % PARENT_NS_ENV)
    if mount_ns() == parent:
        raise NotIsolated('still in the parent mount namespace %s' % parent)
    # private propagation: nothing we mount may reach the host
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            if fields[4] in ('/', '/sys', '/dev', '/tmp') and any(
                o.startswith('shared:') for o in fields[6 : fields.index('-')]
            ):
                raise NotIsolated('%s is a shared mount here' % fields[4])


def isolate(scratch):
    """tmpfs over ``scratch``, ``/dev`` and ``/sys`` (in this namespace).

    :param scratch: an empty directory; it gets a tmpfs for the driver's
        instance and lock directories, and for building the new /dev
    """
    check_isolated()
    _mount('-t', 'tmpfs', '-o', 'mode=0755', 'brickfake-scratch', scratch)
    newdev = os.path.join(scratch, 'dev')
    os.mkdir(newdev)
    _mount('-t', 'tmpfs', '-o', 'mode=0755', 'brickfake-dev', newdev)
    for name in CHAR_DEVICES:
        if os.path.exists('/dev/' + name):
            open(os.path.join(newdev, name), 'w').close()
            _mount('--bind', '/dev/' + name, os.path.join(newdev, name))
    os.mkdir(os.path.join(newdev, 'shm'))
    _mount(
        '-t',
        'tmpfs',
        '-o',
        'mode=1777',
        'brickfake-shm',
        os.path.join(newdev, 'shm'),
    )
    os.symlink('/proc/self/fd', os.path.join(newdev, 'fd'))
    for i, name in enumerate(('stdin', 'stdout', 'stderr')):
        os.symlink('/proc/self/fd/%d' % i, os.path.join(newdev, name))
    _mount('--move', newdev, '/dev')
    _mount('-t', 'tmpfs', '-o', 'mode=0755', 'brickfake-sys', '/sys')
    for d in ('block', 'class', 'devices'):
        os.mkdir(os.path.join('/sys', d))
    os.mkdir('/dev/disk')


def our_mounts():
    """Mount points in this namespace whose source is ours."""
    found = []
    with open('/proc/self/mountinfo') as f:
        for line in f:
            fields = line.split()
            source = fields[fields.index('-') + 2]
            if source.startswith('brickfake-'):
                found.append(fields[4])
    return found
