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
"""This machine's processes through psutil: find, probe, signal, wait.

The libvirt host pair and the mini-cloud both start daemons in their own
sessions and must later tell whether a pid is still theirs, stop it and wait
for it to go. A zombie counts as gone everywhere here: it runs nothing, and
only its parent can reap it.
"""

import os
import signal
import time

#: Seconds two start times of one pid may differ and still be one process:
#: psutil gives the start time on the wall clock (boot time + ticks), and the
#: kernel's boot time moves by a second when the clock is adjusted. Linux
#: does not hand a pid out again within a second.
SAME_START = 1.0
#: The kernel cuts a process's comm (its executable's name) to this length.
COMM_LEN = 15


def _psutil():
    """Return the psutil module, imported on first use.

    ``python3 -m testbed.hosts install`` imports this module (through
    testbed.hosts) on a bare interpreter: that command is what installs the
    machine's packages. The virtualenvs that run hosts and the cloud carry
    psutil (test-requirements.txt, and nova's requirements).
    """
    import psutil

    return psutil


def process(pid):
    """Return psutil's Process of a live, not zombie, pid; else None."""
    psutil = _psutil()
    try:
        p = psutil.Process(pid)
        if p.status() != psutil.STATUS_ZOMBIE:
            return p
    except psutil.Error:
        pass
    return None


def start_time(pid):
    """Return the start time (seconds since the epoch) of a live pid.

    :returns: None if it is gone (a zombie is as good as gone).
    """
    p = process(pid)
    try:
        return p.create_time() if p else None
    except _psutil().Error:
        return None


def pid_alive(pid, started=None):
    """Say whether pid lives and, given ``started``, is the same process.

    :param started: its start time in seconds since the epoch, as
        :func:`start_time` gave it; a recycled pid started later differs by
        at least :data:`SAME_START`.
    """
    st = start_time(pid)
    if st is None:
        return False
    return started is None or abs(st - started) < SAME_START


def is_alive(pid):
    """Say whether pid runs; a zombie counts as gone and, if it is a child
    of this process, is reaped.
    """
    psutil = _psutil()
    try:
        if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            return True
    except psutil.Error:
        return False
    try:  # our own child: reap it
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return False


def comm(pid):
    """Return the kernel's name of pid (comm, cut at 15 characters).

    psutil's name() lengthens a cut comm from the command line
    (``qemu-system-x86`` becomes ``qemu-system-x86_64``); cutting it again
    gives back what the kernel holds, whatever the command line says. For a
    process this equals /proc/<pid>/comm; some kernel threads (workqueue
    workers) show a longer name there.

    :returns: None if pid is gone.
    """
    psutil = _psutil()
    try:
        return psutil.Process(pid).name()[:COMM_LEN]
    except psutil.Error:
        return None


def net_namespace(pid):
    """Return (st_dev, st_ino) of pid's network namespace.

    psutil has no namespace API: the kernel shows a process's network
    namespace as the link /proc/<pid>/ns/net, whose stat equals that of
    the namespace's file (``ip netns`` bind-mounts it under /run/netns).

    :raises OSError: if pid is gone, a zombie, a kernel thread, or not
        ours to inspect.
    """
    st = os.stat('/proc/%d/ns/net' % pid)
    return (st.st_dev, st.st_ino)


def find(comms, netns_inode=None, marker=None):
    """Return pids in a network namespace, or named in ``comms`` with
    ``marker`` on their command line; never this process.

    :param comms: kernel names (:func:`comm`) a marked process may have.
    :param netns_inode: (st_dev, st_ino) of a namespace file, or None.
    :param marker: text to find in the command line (e.g. the work
        directory that libvirtd's and QEMU's arguments name), or None.
    """
    psutil = _psutil()
    found = []
    me = os.getpid()
    for p in psutil.process_iter():
        if p.pid == me:
            continue
        try:
            if netns_inode and net_namespace(p.pid) == netns_inode:
                found.append(p.pid)
                continue
            if (
                marker
                and p.name()[:COMM_LEN] in comms
                and marker in '\0'.join(p.cmdline())
            ):
                found.append(p.pid)
        except (OSError, psutil.Error):
            continue  # gone meanwhile, or a kernel thread
    return found


def wait_for_exit(pid, timeout, interval=0.05):
    """Wait until pid is gone (:func:`is_alive`); True if it went in time."""
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def terminate(pids, grace=5.0):
    """SIGTERM the pids, SIGKILL those alive after ``grace`` seconds.

    :returns: the pids still alive ``grace`` seconds after SIGKILL, sorted.
    """
    pids = set(pids)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            signal_pid(pid, sig)
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = {p for p in pids if is_alive(p)}
            time.sleep(0.05)
        if not pids:
            break
    return sorted(pids)


def signal_pid(pid, sig):
    """Send sig to pid; a pid already gone is not an error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def signal_group(pid, sig):
    """Signal pid's process group (it leads its own session), or pid alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except ProcessLookupError:
        return
    signal_pid(pid, sig)


def live_groups():
    """Yield (pid, process group) of every live, not zombie, process."""
    psutil = _psutil()
    for p in psutil.process_iter(['status']):
        if p.info['status'] == psutil.STATUS_ZOMBIE:
            continue
        try:
            yield p.pid, os.getpgid(p.pid)
        except ProcessLookupError:
            continue


def group_members(pgid):
    """Return the live (not zombie) pids whose process group is pgid."""
    return [pid for pid, group in live_groups() if group == pgid]


def group_alive(pid):
    """True while pid or any member of the group it leads lives (zombies
    waiting for their parent count as gone).
    """
    return pid_alive(pid) or bool(group_members(pid))


def signal_members(pgid, sig):
    """Signal each member of a group whose leader may be gone already."""
    for pid in group_members(pgid):
        signal_pid(pid, sig)


def wait_group_gone(pid, timeout):
    """Wait until pid and the members of the group it leads are gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pid):
            return True
        time.sleep(0.1)
    return not group_alive(pid)
