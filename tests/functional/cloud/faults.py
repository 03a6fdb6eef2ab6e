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
"""Faults injected into the mini-cloud, and the moment to inject them.

The fault tests of this folder break one thing each: the link between the
libvirt hosts, a nova-compute, a libvirtd, RabbitMQ, nova-conductor. The
moment matters more than the fault: a post-copy over a busy working set
can be over in the seconds one ``openstack`` call takes, so
:class:`AtState` reads libvirt's own state of a domain every 20 ms and
injects the fault the moment it is the one wanted.

Every injector here has its undo beside it (cut/restore, stop/start,
freeze/thaw); the tests call the undo in a ``finally``.
"""

import os
import signal
import subprocess
import threading
import time

from testbed.cloud import procs
from testbed.cloud import services as svc
from testbed import procs as machine_procs
from tests.functional.cloud import servers

#: how often the libvirt state is read while waiting for the moment
POLL_S = 0.02


# --------------------------------------------------- the moment to inject
def _watch(lv, dom, wanted, act, done, stop, timeout):
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            state = tuple(dom.state())
        except lv.libvirtError:  # gone from this host
            state = None
            if wanted is not None:
                return
        if state == wanted:
            act()
            done.set()
            return
        time.sleep(POLL_S)


class AtState:
    """Call ``act()`` the moment libvirt's (state, reason) of ``dom`` is
    ``wanted``, from a watcher thread; ``wanted`` None: the moment the
    domain is gone from its host (the job completed). A domain gone while
    another state is wanted means the moment never came: nothing is done.

    Use as a context manager; the watcher stops when the block ends::

        with faults.AtState(lv, dom, POSTCOPY_PAUSED, act, 60) as at:
            ... start what leads to that state ...
            assert at.wait(), 'never reached %s' % (at.wanted,)

    :param timeout: seconds the watcher waits for the state at most
    """

    def __init__(self, lv, dom, wanted, act, timeout):
        self.wanted = wanted
        self.timeout = timeout
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_watch,
            daemon=True,
            args=(lv, dom, wanted, act, self.done, self._stop, timeout),
        )

    def __enter__(self):
        self._thread.start()
        return self

    def wait(self):
        """Wait until the fault was injected or the watcher gave up.

        :returns: whether the fault was injected
        """
        self._thread.join(self.timeout)
        return self.done.is_set()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        return False


def domain(c, sid, host):
    """libvirt's domain of server ``sid`` on ``host``."""
    letter = servers.host_letter(c, host)
    return c.pair.connect(letter).lookupByUUIDString(sid)


def cap_postcopy(lv, dom, mib_s):
    """Cap post-copy's own bandwidth of ``dom``'s next migration (nova never
    sets it), so that a fault lands while pages still flow.
    """
    dom.migrateSetMaxSpeed(mib_s, lv.VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY)


def cap_precopy(dom, mib_s):
    """Cap ``dom``'s running migration job at ``mib_s`` (pre-copy), so that
    a guest slowed by a loaded machine still outruns it: at 2 MiB/s and
    nova's largest downtime step (500 ms) pre-copy could finish only with
    under 1 MiB left, which a guest rewriting 64 MiB never leaves.
    """
    dom.migrateSetMaxSpeed(mib_s, 0)


def postcopy_paused(lv):
    """The source's (state, reason) once the guest left it for post-copy."""
    return (lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PAUSED_POSTCOPY)


def postcopy_running(lv):
    """The destination's (state, reason) once the guest runs there."""
    return (lv.VIR_DOMAIN_RUNNING, lv.VIR_DOMAIN_RUNNING_POSTCOPY)


def postcopy_failed(lv):
    """libvirt's (state, reason) of a post-copy that lost its peer."""
    return (lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED)


# ----------------------------------------------------- the link between hosts
def cut_link(c, host):
    """Cut ``host``'s network link to the other libvirt host."""
    c.pair.set_link(servers.host_letter(c, host), False)


def restore_link(c, host):
    c.pair.set_link(servers.host_letter(c, host), True)


def tcp_retries2(c, value):
    """``net.ipv4.tcp_retries2`` in both hosts: how soon the kernel ends a
    TCP connection whose peer is gone (3: seconds; 15, the default: many
    minutes).
    """
    for letter in c.pair.HOSTS:
        c.pair.run_in_host(
            letter, ['sysctl', '-qw', 'net.ipv4.tcp_retries2=%d' % value]
        )


def qemu_sockets(c, letter):
    """Established TCP connections of QEMU in host ``letter``."""
    out = c.pair.run_in_host(
        letter, ['ss', '-Htnp', 'state', 'established']
    ).stdout
    return [ln for ln in out.splitlines() if 'qemu' in ln]


def migrate_and_cut_at_postcopy(c, lv, sid, dom, dst, guest_on_dst=False):
    """Start ``server migrate --live-migration --wait`` (policy ``nova``)
    to ``dst``, force post-copy as soon as the migration runs, and cut
    ``dst``'s link the moment the source (``dom``) enters post-copy.

    :param guest_on_dst: cut only once the guest runs on ``dst`` in
        post-copy instead. A cut between the two (the switch-over's device
        state still in flight) fails the incoming migration, and the
        destination's libvirt destroys its domain: the whole guest is then
        on the source.
    :returns: (the CLI's Popen, the migration row, whether it was cut)
    """
    proc = subprocess.Popen(
        [c.openstack_bin, 'server', 'migrate', '--live-migration']
        + ['--host', dst, '--policy', 'nova', '--wait']
        + ['--poll-interval', '1', sid],
        env=dict(os.environ, **c.env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        # switch early: most of the guest's memory is still to be sent
        m = servers.wait_for(
            'a running migration',
            lambda: (lambda m: m if m and m['Status'] == 'running' else None)(
                servers.latest(c, sid)
            ),
            120,
            every=0.5,
        )
        if guest_on_dst:
            watched, wanted = domain(c, sid, dst), postcopy_running(lv)
        else:
            watched, wanted = dom, postcopy_paused(lv)
        with AtState(lv, watched, wanted, lambda: cut_link(c, dst), 60) as at:
            c.openstack(
                'server', 'migration', 'force', 'complete', sid, str(m['Id'])
            )
            cut = at.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, m, cut


# ------------------------------------------------------------ the services
def _compute(c, host):
    return [s for s in c.services if s.name == svc.compute_name(host)][0]


def signal_compute(c, host, sig):
    """Send ``sig`` to the host's nova-compute (and its privsep helpers,
    as a service manager would) and wait until all of them are gone.
    """
    name = svc.compute_name(host)
    pid = c.table.pid(name)
    assert pid, '%s is not running' % name
    os.killpg(pid, sig)
    servers.wait_for(
        '%s to exit' % name,
        lambda: not procs.group_alive(pid),
        300,
        every=0.2,
    )
    c.table.forget(name)


def start_compute(c, host):
    """Start the host's nova-compute; the moment it answers."""
    c.supervisor.run([_compute(c, host)])
    return time.monotonic()


def restart_libvirtd(c, host, stop_s):
    """Restart ``host``'s libvirtd as a service manager does: SIGTERM, up
    to ``stop_s`` to stop, start. :returns: the moment it is back.
    """
    letter = servers.host_letter(c, host)
    pid = c.pair.libvirtd_pid(letter)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    servers.wait_for(
        'libvirtd %s to stop' % letter,
        lambda: not machine_procs.is_alive(pid),
        stop_s,
        every=0.1,
    )
    print('\nlibvirtd took %.0f s to stop' % (time.monotonic() - t0))
    c.pair.start_libvirtd(letter)
    return time.monotonic()


def stop_rabbitmq(c):
    """Stop RabbitMQ (SIGTERM, as a service manager stops it).

    :returns: whether it was running
    """
    return c.table.stop('rabbitmq', timeout=30)


def start_rabbitmq(c):
    """Start RabbitMQ again. :returns: the moment it is back."""
    c.supervisor.run([s for s in c.services if s.name == 'rabbitmq'])
    return time.monotonic()


def freeze(c, name):
    """Freeze service ``name``'s process group (SIGSTOP): it neither reads
    nor answers. :returns: the pid to give :func:`thaw`.
    """
    pid = c.table.pid(name)
    assert pid, '%s is not running' % name
    os.killpg(pid, signal.SIGSTOP)
    return pid


def thaw(pid):
    os.killpg(pid, signal.SIGCONT)
