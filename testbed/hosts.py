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
"""Two libvirt/QEMU hosts on one machine, for real live migrations in tests.

Each host is a network namespace (own address on a private bridge) plus
private mount and UTS namespaces running its own libvirtd with a distinct
host UUID, reachable from the other host over qemu+tcp.  The test process
stays in the root namespace and reaches each libvirtd over a unix socket.

Run ``python3 -m testbed.hosts --help`` for the command line (in
``testbed.hosts_cli``).
"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import uuid

from testbed.guest import spec as guest_spec
from testbed import guests
from testbed import libvirtd
from testbed import network
from testbed import procs

WORKDIR_ENV = 'OSC_LM_WORKDIR'
DEFAULT_WORKDIR = '/srv/osc-livemigrate'
# Remapped inside each host's mount namespace: files there would vanish.
FORBIDDEN_PREFIXES = ('/var', '/run', '/etc/libvirt')


def check_workdir(path):
    """Raise ValueError if ``path`` would be hidden inside the hosts."""
    path = os.path.abspath(path)
    for prefix in FORBIDDEN_PREFIXES:
        if path == prefix or path.startswith(prefix + '/'):
            raise ValueError(
                'work directory %s lies under %s, which each '
                'host remaps; set %s elsewhere' % (path, prefix, WORKDIR_ENV)
            )
    return path


class HostPair(guests.GuestsMixin):
    """Hosts 'A' and 'B': bring up, drive, and always tear down.

    Names derive from ``prefix`` (netns ``<prefix>A``, bridge
    ``<prefix>br0``), so :meth:`down` cleans up after a crashed run too.
    """

    HOSTS = ('A', 'B')

    def __init__(self, workdir=None, prefix=None, subnet=None):
        self.workdir = check_workdir(
            workdir or os.environ.get(WORKDIR_ENV) or DEFAULT_WORKDIR
        )
        self.prefix = prefix or os.environ.get('OSC_LM_PREFIX', 'lm')
        self.subnet = subnet or os.environ.get('OSC_LM_SUBNET', '10.77.0')
        self.bridge = self.prefix + 'br0'
        self._conns = {}
        self._lock_fd = None

    # -- names and addresses -------------------------------------------
    def netns(self, host):
        """Network namespace name, also the host's hostname."""
        return self.prefix + self._check(host)

    def address(self, host):
        """The host's IPv4 address inside its namespace."""
        return '%s.%d' % (self.subnet, 11 + self.HOSTS.index(host))

    def host_uuid(self, host):
        """Stable, distinct libvirt host UUID."""
        return str(
            uuid.uuid5(
                uuid.NAMESPACE_URL, 'osc-livemigrate:' + self.netns(host)
            )
        )

    def veth(self, host):
        """Root-namespace end of the host's veth pair."""
        return self.netns(host) + '-br'

    def hostdir(self, host):
        """Directory with the host's /var, /etc/libvirt and sockets."""
        return os.path.join(self.workdir, 'hosts', self.netns(host))

    def socket(self, host):
        """libvirtd's read-write unix socket."""
        return os.path.join(self.hostdir(host), 'sock', 'libvirt-sock')

    def uri(self, host):
        """URI peers use to reach the host (P2P migration destination)."""
        return 'qemu+tcp://%s/system' % self.address(host)

    def local_uri(self, host):
        """URI the root namespace uses to reach the host's libvirtd."""
        return 'qemu+unix:///system?socket=%s' % self.socket(host)

    def migration_uri(self, host):
        """VIR_MIGRATE_PARAM_URI value: QEMU's data stream goes here."""
        return 'tcp://%s' % self.address(host)

    def _check(self, host):
        if host not in self.HOSTS:
            raise ValueError('host must be one of %s' % (self.HOSTS,))
        return host

    def _pidfile(self, host, what):
        return os.path.join(
            self.workdir, 'run', '%s.%s.pid' % (self.netns(host), what)
        )

    def _read_pid(self, host, what):
        """Pid from a pid file, if that process still is what we started."""
        try:
            with open(self._pidfile(host, what)) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return None
        expected = 'sleep' if what == 'anchor' else what
        if procs.comm(pid) == expected and procs.is_alive(pid):
            return pid
        return None

    def anchor_pid(self, host):
        """Pid owning the host's namespaces, or None when it is down."""
        return self._read_pid(host, 'anchor')

    def libvirtd_pid(self, host):
        """libvirtd's pid, or None when it is not running."""
        return self._read_pid(host, 'libvirtd')

    # -- running things inside a host ----------------------------------
    def host_command(self, host, argv):
        """Return argv wrapped to run in the host's namespaces."""
        pid = self.anchor_pid(host)
        if pid is None:
            raise RuntimeError('host %s is not up' % host)
        return libvirtd.enter(pid, argv)

    def run_in_host(self, host, argv, check=True, **kwargs):
        """Run a command inside a host; returns CompletedProcess (text)."""
        kwargs.setdefault('capture_output', True)
        return subprocess.run(
            self.host_command(host, argv), check=check, text=True, **kwargs
        )

    # -- lifecycle -------------------------------------------------------
    def _lock(self):
        """Own the prefix, so no other process tears down our hosts."""
        if self._lock_fd is not None:
            return
        os.makedirs(os.path.join(self.workdir, 'run'), exist_ok=True)
        path = os.path.join(self.workdir, 'run', self.prefix + '.lock')
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(
                'hosts %sA/%sB are in use by another process; set '
                'OSC_LM_PREFIX and OSC_LM_SUBNET for a second pair'
                % (self.prefix, self.prefix)
            ) from None
        self._lock_fd = fd

    def _unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def up(self):
        """Tear down leftovers, then create the network and both hosts.

        The calling process owns the hosts until :meth:`down` or its exit;
        a failed start removes whatever it had made.
        """
        self._lock()
        try:
            self._up()
        except BaseException:
            self._teardown()
            self._unlock()
            raise

    def _up(self):
        self._teardown()
        names = {self.netns(h): self.address(h) for h in self.HOSTS}
        for host in self.HOSTS:
            network.plug_host(
                self.bridge,
                self.netns(host),
                self.veth(host),
                self.address(host),
            )
            libvirtd.prepare_hostdir(
                self.hostdir(host),
                self.address(host),
                self.host_uuid(host),
                names,
                self._capscache(),
            )
            pid = libvirtd.start_anchor(
                self.netns(host), self.netns(host), self.hostdir(host)
            )
            self._write_pid(host, 'anchor', pid)
            self.start_libvirtd(host)
            self._warm_capabilities(host)

    def _warm_capabilities(self, host):
        """Probe QEMU once and share libvirt's cache (~4 s per cold probe).

        getCapabilities probes every installed emulator (i386 too), which
        nova and virsh trigger later anyway.
        """
        conn = self.connect(host)
        conn.getCapabilities()
        conn.getDomainCapabilities(
            guest_spec.EMULATOR, 'x86_64', 'pc', 'qemu', 0
        )
        libvirtd.save_caps_cache(self.hostdir(host), self._capscache())

    def _capscache(self):
        return os.path.join(self.workdir, 'capscache')

    def _write_pid(self, host, what, pid):
        with open(self._pidfile(host, what), 'w') as f:
            f.write('%d\n' % pid)

    def start_libvirtd(self, host):
        """(Re)start libvirtd inside a host that is up."""
        anchor = self.anchor_pid(host)
        if anchor is None:
            raise RuntimeError('host %s is not up' % host)
        pid = libvirtd.start_libvirtd(
            anchor,
            os.path.join(self.hostdir(host), 'etc', 'libvirtd.conf'),
            self.socket(host),
            os.path.join(self.hostdir(host), 'log', 'libvirtd.stdout'),
        )
        self._write_pid(host, 'libvirtd', pid)
        self._conns.pop(host, None)
        return pid

    def stop_libvirtd(self, host, sig=signal.SIGTERM):
        """Stop (or, with SIGKILL, crash) a host's libvirtd; guests stay."""
        pid = self.libvirtd_pid(host)
        if pid:
            os.kill(pid, sig)
            if not procs.wait_for_exit(pid, 15):
                raise RuntimeError('libvirtd %s ignored %s' % (host, sig))
        self._conns.pop(host, None)

    def set_link(self, host, up):
        """Connect or cut a host from the bridge (network fault tests)."""
        network.set_link(self.veth(host), up)

    def connect(self, host):
        """Return an open libvirt connection to the host (cached)."""
        conn = self._conns.get(host)
        if conn is None or not conn.isAlive():
            conn = libvirtd.load_libvirt().open(self.local_uri(host))
            self._conns[host] = conn
        return conn

    def close(self):
        """Close cached libvirt connections (the hosts keep running)."""
        for conn in self._conns.values():
            try:
                conn.close()
            except Exception:  # noqa: S110 - the daemon may be gone
                pass
        self._conns.clear()

    def down(self):
        """Remove domains, daemons, veths, bridge and namespaces.

        Works from names alone, so it also cleans up after a crash.

        :returns: list of what could not be removed (empty on success).
        :raises RuntimeError: if another live process owns these hosts.
        """
        self._lock()
        try:
            return self._teardown()
        finally:
            self._unlock()

    def _teardown(self):
        for host in self.HOSTS:
            if os.path.exists(self.socket(host)):
                self._remove_domains(host)
        self.close()
        procs.terminate(self.processes())
        netns = [self.netns(h) for h in self.HOSTS]
        veths = [self.veth(h) for h in self.HOSTS]
        network.remove(self.bridge, netns, veths)
        for host in self.HOSTS:
            for what in ('anchor', 'libvirtd'):
                if os.path.exists(self._pidfile(host, what)):
                    os.unlink(self._pidfile(host, what))
            if os.path.exists(self.socket(host)):
                shutil.rmtree(os.path.dirname(self.socket(host)))
        return self.leftovers()

    def _remove_domains(self, host):
        try:
            lv = libvirtd.load_libvirt()
            conn = lv.open(self.local_uri(host))
        except Exception:  # noqa: S110 - no libvirt-python, or daemon dead
            return  # then killing QEMU is enough: up() wipes definitions
        try:
            for dom in conn.listAllDomains():
                for step in (dom.abortJob, dom.destroy, dom.undefine):
                    try:
                        step()
                    except lv.libvirtError:
                        pass
        finally:
            conn.close()

    def processes(self):
        """Pids of everything the pair runs: daemons, QEMU, joined tools.

        Found by network namespace, or by the pair's paths on QEMU's and
        libvirtd's command lines once the namespace is gone.
        """
        pids = set(procs.find(libvirtd.COMMS, None, self.guest_dir() + '/'))
        for host in self.HOSTS:
            path = os.path.join(network.NETNS_DIR, self.netns(host))
            inode = None
            if os.path.exists(path):
                st = os.stat(path)
                inode = (st.st_dev, st.st_ino)
            pids.update(
                procs.find(libvirtd.COMMS, inode, self.hostdir(host) + '/')
            )
        return sorted(pids)

    def leftovers(self):
        """Describe every namespace, link or process of ours still present."""
        found = network.leftovers(
            self.bridge,
            [self.netns(h) for h in self.HOSTS],
            [self.veth(h) for h in self.HOSTS],
        )
        found += ['process %d' % pid for pid in self.processes()]
        return found

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()


if __name__ == '__main__':
    # NOTE: the command line imports this module, so it is imported here,
    # when run as a script, and never when imported: the import graph of
    # the modules stays one-way (hosts_cli -> hosts).
    from testbed import hosts_cli

    sys.exit(hosts_cli.main())
