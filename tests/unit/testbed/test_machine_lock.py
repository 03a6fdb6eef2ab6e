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
"""A second user of a part of the testbed waits for the first and names
it; a user of another part does not wait.
"""

import os
import select
import subprocess
import sys

import pytest

from testbed import hosts
from testbed import machine_lock

CHILD = """
import sys
from testbed import machine_lock
with machine_lock.exclusive('second run', sys.argv[1],
                            say=lambda m: print(m, flush=True)):
    print('inside', flush=True)
"""


def _readline(proc, timeout=30):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, 'no output from the second run within %d s' % timeout
    return proc.stdout.readline().strip()


def test_second_holder_waits_names_the_first_and_then_runs(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(hosts.WORKDIR_ENV, str(tmp_path))
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    with machine_lock.exclusive('first run', 'cloud', say=lambda m: None):
        child = subprocess.Popen(
            [sys.executable, '-c', CHILD, 'cloud'],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = _readline(child)
            assert line.startswith(
                'waiting for the testbed (cloud): held by pid '
                '%d: first run' % os.getpid()
            ), line
            ready, _, _ = select.select([child.stdout], [], [], 0.5)
            assert not ready, 'the second run went on: %s' % (
                child.stdout.readline()
            )
        except BaseException:
            child.kill()
            raise
    assert _readline(child).startswith('got the testbed (cloud) after')
    assert _readline(child) == 'inside'
    assert child.wait(timeout=30) == 0


def test_lock_is_free_again_after_its_holder_dies(tmp_path, monkeypatch):
    monkeypatch.setenv(hosts.WORKDIR_ENV, str(tmp_path))
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    holder = subprocess.Popen(
        [
            sys.executable,
            '-c',
            CHILD.replace(
                "print('inside', flush=True)",
                "print('inside', flush=True)\n"
                '    import time; '
                'time.sleep(600)',
            ),
            'hosts',
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert _readline(holder) == 'inside'
    finally:
        holder.kill()
        holder.wait()
    said = []
    with machine_lock.exclusive('after a kill', 'hosts', say=said.append):
        with open(machine_lock.lock_path('hosts')) as f:
            assert f.read() == 'pid %d: after a kill\n' % os.getpid()
    assert said == []


def test_users_of_different_parts_do_not_wait(tmp_path, monkeypatch):
    """tools/run-tests runs the e2e level beside the libvirt cloud's."""
    monkeypatch.setenv(hosts.WORKDIR_ENV, str(tmp_path))
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    with machine_lock.exclusive('e2e', 'hosts', say=lambda m: None):
        child = subprocess.Popen(
            [sys.executable, '-c', CHILD, 'cloud-libvirt'],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert _readline(child) == 'inside'
        finally:
            child.kill()
            child.wait()


def test_an_unknown_part_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(hosts.WORKDIR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="unknown testbed part 'cloud-f"):
        machine_lock.lock_path('cloud-fake')
