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
"""The machine's process helpers, on this test's own child processes."""

import os
import shutil
import signal
import subprocess
import time

import psutil
import pytest

from testbed import procs

SLEEP = shutil.which('sleep')


@pytest.fixture
def spawn():
    """Start children; kill whatever is left of them at the end."""
    children = []

    def start(argv, **kwargs):
        child = subprocess.Popen(argv, **kwargs)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


def _wait_zombie(pid):
    """Block until pid has exited but is not reaped yet."""
    p = psutil.Process(pid)
    while p.status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.01)


def test_a_running_child_is_alive_until_killed_and_then_reaped(spawn):
    child = spawn([SLEEP, '60'])
    assert procs.is_alive(child.pid)
    assert procs.pid_alive(child.pid, procs.start_time(child.pid))
    procs.signal_pid(child.pid, signal.SIGTERM)
    assert procs.wait_for_exit(child.pid, 30) is True
    assert not procs.is_alive(child.pid)
    # is_alive reaped our own child: there is nothing left to wait for
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_a_zombie_counts_as_gone(spawn):
    child = spawn(['true'])
    _wait_zombie(child.pid)
    assert procs.process(child.pid) is None
    assert procs.start_time(child.pid) is None
    assert not procs.pid_alive(child.pid)
    assert not procs.is_alive(child.pid)
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)


def test_a_child_that_ignores_the_wait_is_reported_not_gone(spawn):
    child = spawn([SLEEP, '60'])
    assert procs.wait_for_exit(child.pid, 0) is False
    assert procs.is_alive(child.pid)


def test_terminate_kills_what_ignores_sigterm(spawn):
    polite = spawn([SLEEP, '60'])
    # an ignored signal stays ignored across exec: this sleep shrugs off TERM
    stubborn = spawn(
        [SLEEP, '60'],
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    assert procs.terminate([polite.pid, stubborn.pid], grace=0.2) == []
    assert not procs.is_alive(polite.pid)
    assert not procs.is_alive(stubborn.pid)


def test_signal_pid_ignores_a_pid_that_is_gone(spawn):
    child = spawn(['true'])
    child.wait()
    procs.signal_pid(child.pid, signal.SIGTERM)
    assert procs.terminate([child.pid], grace=0.2) == []


def test_comm_is_the_kernels_name_cut_at_15_characters(spawn, tmp_path):
    long_name = tmp_path / 'a-very-long-sleeper-name'
    long_name.symlink_to(SLEEP)
    child = spawn([str(long_name), '60'])  # Popen returns once it exec'd
    with open('/proc/%d/comm' % child.pid) as f:
        assert procs.comm(child.pid) == f.read().strip()
    # psutil alone would answer with the whole name from the command line
    assert psutil.Process(child.pid).name() == long_name.name
    child.kill()
    child.wait()
    assert procs.comm(child.pid) is None


def test_find_by_name_and_marker_on_the_command_line(spawn, tmp_path):
    workdir = tmp_path / 'work'
    workdir.mkdir()
    (workdir / 'sleep').symlink_to(SLEEP)
    ours = spawn([str(workdir / 'sleep'), '60'])
    other = spawn([SLEEP, '60'])
    marker = str(workdir) + '/'
    assert procs.find(('sleep',), None, marker) == [ours.pid]
    assert procs.find(('libvirtd',), None, marker) == []
    assert other.pid not in procs.find(('sleep',), None, marker)


def test_find_by_network_namespace_never_returns_the_caller(spawn):
    child = spawn([SLEEP, '60'])
    here = procs.net_namespace(os.getpid())
    st = os.stat('/proc/self/ns/net')
    assert here == (st.st_dev, st.st_ino)
    found = procs.find((), here)
    assert child.pid in found
    assert os.getpid() not in found
    assert procs.find((), (0, 0)) == []


def test_net_namespace_of_a_pid_that_is_gone_raises(spawn):
    child = spawn(['true'])
    child.wait()
    with pytest.raises(OSError):
        procs.net_namespace(child.pid)


def _group(spawn):
    """Start a session leader with one member, like gunicorn and its worker.

    :returns: (leader's Popen, member's pid).
    """
    leader = spawn(
        ['sh', '-c', '"$0" 60 </dev/null >/dev/null & echo $!; wait', SLEEP],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return leader, int(leader.stdout.readline())


def test_group_alive_until_every_member_is_gone(spawn):
    leader, member = _group(spawn)
    assert set(procs.group_members(leader.pid)) == {leader.pid, member}
    procs.signal_pid(leader.pid, signal.SIGKILL)
    leader.wait()
    assert procs.group_alive(leader.pid), 'the member still runs'
    procs.signal_members(leader.pid, signal.SIGKILL)
    assert procs.wait_group_gone(leader.pid, 30) is True
    assert not procs.group_alive(leader.pid)


def test_signal_group_reaches_every_member(spawn):
    leader, member = _group(spawn)
    procs.signal_group(leader.pid, signal.SIGTERM)
    assert procs.wait_group_gone(leader.pid, 30) is True
    assert not procs.pid_alive(member)
