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
"""One libvirtd "host": its namespaces, configuration and processes.

Why an anchor process: each host is a network namespace plus a private mount
and UTS namespace (own /run, /var, /etc/libvirt, /etc/hosts and hostname).
A sleeping anchor holds the mount namespace, so libvirtd can be killed and
restarted (fault tests) and other daemons (nova-compute) can join the very
same host with nsenter.
"""

import os
import shutil
import subprocess
import time

from testbed import procs

LIBVIRTD = '/usr/sbin/libvirtd'
#: Kernel names (comm, cut at 15 characters) of what a host runs.
COMMS = ('libvirtd', 'qemu-system-x86', 'sleep')


def load_libvirt():
    """Import libvirt-python, silencing its default stderr error printer.

    :raises RuntimeError: naming the pip command when it is missing.
    """
    try:
        import libvirt
    except ImportError:
        raise RuntimeError(
            'libvirt-python is missing: pip install '
            '--no-binary libvirt-python libvirt-python'
        ) from None
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt


def libvirtd_conf(address, host_uuid, sock_dir, log_file):
    """Return libvirtd.conf: TCP without auth on the host's address only.

    :param address: the host's IP inside its namespace.
    :param host_uuid: distinct per host, or libvirt refuses the migration
        as one to the same host.
    :param sock_dir: directory for the unix sockets, visible from the root
        namespace so the test process can connect without entering it.
    :param log_file: libvirtd's log.
    """
    return (
        'listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "%s"\n'
        'auth_tcp = "none"\nauth_unix_rw = "none"\n'
        'auth_unix_ro = "none"\nunix_sock_dir = "%s"\n'
        'host_uuid = "%s"\nlog_outputs = "3:file:%s"\n'
        'keepalive_interval = 5\n' % (address, sock_dir, host_uuid, log_file)
    )


def qemu_conf(address):
    """Return qemu.conf for QEMU run as root without cgroups or virtlogd.

    ``ip netns exec`` remounts /sys, hiding the cgroup mounts, hence no
    cgroup controllers or namespaces; migration_host/_address make incoming
    migrations listen on, and be reached at, the namespace's address.
    """
    return (
        'user = "root"\ngroup = "root"\ndynamic_ownership = 0\n'
        'remember_owner = 0\nsecurity_driver = "none"\n'
        'cgroup_controllers = [ ]\nnamespaces = [ ]\n'
        'stdio_handler = "file"\nmigration_address = "%s"\n'
        'migration_host = "%s"\n' % (address, address)
    )


def hosts_file(names):
    """Return /etc/hosts text for the host namespaces.

    :param names: mapping of host name to address.
    """
    lines = ['127.0.0.1 localhost']
    lines += ['%s %s' % (addr, name) for name, addr in sorted(names.items())]
    return '\n'.join(lines) + '\n'


def prepare_hostdir(root, address, host_uuid, names, caps_cache):
    """Lay out a fresh host directory: configs, /var skeleton, caps cache.

    :param root: the host directory (wiped first).
    :param names: every host's name and address, for its /etc/hosts.
    :param caps_cache: a saved QEMU capabilities cache to start from.
    """
    shutil.rmtree(root, ignore_errors=True)
    for sub in (
        'etc',
        'var/lib/libvirt',
        'var/log/libvirt',
        'var/cache/libvirt',
        'var/tmp',
        'sock',
        'log',
    ):
        os.makedirs(os.path.join(root, sub))
    os.symlink('/run', os.path.join(root, 'var/run'))
    os.symlink('/run/lock', os.path.join(root, 'var/lock'))
    files = {
        'etc/libvirtd.conf': libvirtd_conf(
            address,
            host_uuid,
            os.path.join(root, 'sock'),
            os.path.join(root, 'log', 'libvirtd.log'),
        ),
        'etc/qemu.conf': qemu_conf(address),
        'etc/libvirt.conf': 'uri_default = "qemu:///system"\n',
        'hosts': hosts_file(names),
    }
    for rel, text in files.items():
        with open(os.path.join(root, rel), 'w') as f:
            f.write(text)
    if os.path.isdir(caps_cache):
        shutil.copytree(
            caps_cache, os.path.join(root, 'var/cache/libvirt/qemu')
        )


def save_caps_cache(root, caps_cache):
    """Replace the saved QEMU capabilities cache with this host's."""
    shutil.rmtree(caps_cache + '.tmp', ignore_errors=True)
    shutil.copytree(
        os.path.join(root, 'var/cache/libvirt/qemu'), caps_cache + '.tmp'
    )
    shutil.rmtree(caps_cache, ignore_errors=True)
    os.rename(caps_cache + '.tmp', caps_cache)


def start_anchor(netns, hostname, hostdir):
    """Start the process that owns the host's mount and UTS namespaces.

    :returns: its pid.
    """
    script = (
        'set -e; mount -t tmpfs -o mode=755 tmpfs /run; '
        'mkdir -p /run/libvirt /run/lock; '
        'mount --bind "$1/var" /var; '
        'mount --bind "$1/etc" /etc/libvirt; '
        'mount --bind "$1/hosts" /etc/hosts; '
        'hostname "$2"; exec -a "$3" sleep infinity'
    )
    log_path = os.path.join(hostdir, 'log', 'anchor.log')
    # Its output goes to a file: an inherited pipe would never see EOF.
    with open(log_path, 'ab') as log:
        proc = subprocess.Popen(
            [
                'ip',
                'netns',
                'exec',
                netns,
                'unshare',
                '--mount',
                '--uts',
                '--propagation',
                'private',
                'bash',
                '-c',
                script,
                'anchor',
                hostdir,
                hostname,
                'sleep-anchor %s' % hostdir,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # Ready once the script has mounted everything and exec'd sleep.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, errors='replace') as f:
                raise RuntimeError(
                    'host %s: namespace setup failed (rc %d):'
                    ' %s' % (hostname, proc.returncode, f.read()[-2000:])
                )
        if procs.comm(proc.pid) == 'sleep':
            return proc.pid
        time.sleep(0.02)
    raise RuntimeError('host %s: anchor did not come up' % hostname)


def enter(anchor_pid, argv):
    """Return argv prefixed to run inside the host's namespaces."""
    return [
        'nsenter',
        '--target',
        str(anchor_pid),
        '--net',
        '--mount',
        '--uts',
        '--',
    ] + list(argv)


def start_libvirtd(anchor_pid, config, socket, stdout_path, timeout=30):
    """Start libvirtd inside a host and wait for its unix socket.

    libvirtd is pinned to CPU 0: libvirt keys its QEMU capabilities cache
    on the host's CPUID, which differs per CPU on this machine, so an
    unpinned daemon re-probes QEMU (about 8 s) at random.  QEMU itself
    still gets every CPU: libvirt resets a guest's affinity.

    :returns: libvirtd's pid.
    :raises RuntimeError: if it exits or the socket does not appear.
    """
    if os.path.exists(socket):
        os.unlink(socket)
    with open(stdout_path, 'ab') as out:
        proc = subprocess.Popen(
            enter(
                anchor_pid,
                [
                    'taskset',
                    '-c',
                    '0',
                    LIBVIRTD,
                    '--listen',
                    '--config',
                    config,
                ],
            ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(stdout_path, errors='replace') as f:
                tail = f.read()[-2000:]
            raise RuntimeError(
                'libvirtd exited (rc %d): %s' % (proc.returncode, tail)
            )
        if os.path.exists(socket):
            return proc.pid
        time.sleep(0.05)
    raise RuntimeError('libvirtd did not create %s in %ds' % (socket, timeout))
