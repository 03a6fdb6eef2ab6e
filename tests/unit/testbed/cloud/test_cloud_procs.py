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
"""Process table, one-off steps and the one-line failure of the mini-cloud
tool.

These start real (tiny) processes and sockets on loopback; no OpenStack needed.
"""

import os
import subprocess
import sys
import time

import psutil
import pytest

from testbed.cloud import probes
from testbed.cloud import procs
from testbed import procs as machine
from tests.unit.testbed.cloud import loopback


def test_service_that_dies_while_starting_is_named_with_its_log(tmp_path):
    table = procs.ProcessTable(
        str(tmp_path / 'processes.json'), marker=str(tmp_path)
    )
    log = str(tmp_path / 'logs' / 'bogus-api.log')
    proc = table.start(
        'bogus-api',
        [
            sys.executable,
            '-c',
            'import sys; print("bad option in bogus.conf");sys.exit(3)',
        ],
        log,
    )
    t0 = time.monotonic()
    with pytest.raises(procs.CloudError) as err:
        procs.wait_until(
            'bogus-api',
            lambda: probes.probe_tcp('127.0.0.1', loopback.free_port()),
            log,
            timeout=60,
            proc=proc,
        )
    assert time.monotonic() - t0 < 10  # it fails fast, not after the timeout
    msg = str(err.value)
    assert (
        msg
        == 'bogus-api: process exited with code 3 while starting; see %s' % log
    )
    assert '\n' not in msg
    with open(log) as f:
        assert 'bad option in bogus.conf' in f.read()


def test_service_that_never_answers_times_out_with_reason(tmp_path):
    port = loopback.free_port()
    with pytest.raises(procs.CloudError) as err:
        procs.wait_until(
            'placement',
            lambda: probes.probe_tcp('127.0.0.1', port),
            '/x/logs/placement.log',
            timeout=0.5,
        )
    msg = str(err.value)
    assert msg.startswith(
        'placement: did not answer within 0s (nothing answers on '
        '127.0.0.1:%d' % port
    )
    assert msg.endswith('; see /x/logs/placement.log')


def test_start_records_and_stop_ends_the_whole_group(tmp_path):
    table = procs.ProcessTable(str(tmp_path / 'p.json'), marker=str(tmp_path))
    log = str(tmp_path / 'sleeper.log')
    # a parent with a child in its process group, like gunicorn and its worker
    table.start('sleeper', ['sh', '-c', 'sleep 60 & sleep 60; wait'], log)
    pid = table.pid('sleeper')
    assert pid
    deadline = time.monotonic() + 5
    while len(table.our_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    group = table.our_pids()
    assert pid in group and len(group) >= 2
    assert table.marked_pids()
    assert table.stop('sleeper', timeout=5) is True
    assert not [p for p in group if procs.pid_alive(p)]
    assert table.pid('sleeper') is None and table.load() == {}
    assert table.stop('sleeper') is False


def test_recycled_pid_is_not_ours(tmp_path):
    table = procs.ProcessTable(str(tmp_path / 'p.json'), marker=str(tmp_path))
    table.record('me', os.getpid(), ['x'], 'log')
    assert table.pid('me') == os.getpid()
    entry = table.load()
    # as if the pid now belonged to a process started a second later
    entry['me']['started'] += machine.SAME_START
    table._save(entry)
    assert table.pid('me') is None


def test_a_table_written_before_psutil_still_knows_its_processes(tmp_path):
    """Tables written before psutil hold the kernel's start time in clock
    ticks since boot: a cloud left running across the upgrade is still
    recognised, and a wrong tick count is still a stranger.
    """
    with open('/proc/self/stat') as f:
        data = f.read()
    ticks = int(data[data.rindex(')') + 2 :].split()[19])
    table = procs.ProcessTable(str(tmp_path / 'p.json'), marker=str(tmp_path))
    table._save({'me': {'pid': os.getpid(), 'started': ticks}})
    assert table.pid('me') == os.getpid()
    tck = os.sysconf('SC_CLK_TCK')
    table._save({'me': {'pid': os.getpid(), 'started': ticks + 2 * tck}})
    assert table.pid('me') is None


def test_start_time_is_psutils_create_time():
    me = psutil.Process()
    assert procs.start_time(me.pid) == me.create_time()
    child = subprocess.Popen(['true'])
    child.wait()
    assert procs.start_time(child.pid) is None


def test_listening_sockets_reports_loopback_listener():
    srv, port = loopback.serve_once()
    try:
        found = procs.listening_sockets([os.getpid()])
        assert (os.getpid(), '127.0.0.1', port) in found
    finally:
        srv.close()


def test_processes_working_in_our_folders_are_found_without_the_table(
    tmp_path,
):
    """If run/processes.json is lost (folder wiped) and setproctitle hid the
    marker, a process working in run/ or state/ is still recognised as ours;
    the caller itself is never counted, even when it works there.
    """
    run = tmp_path / 'run'
    run.mkdir()
    table = procs.ProcessTable(
        str(run / 'p.json'), marker='nobody', cwd_roots=(str(run),)
    )
    stranger = subprocess.Popen(['sleep', '60'], cwd=str(run))
    try:
        assert stranger.pid in table.marked_pids()
        here = os.getcwd()
        os.chdir(str(run))
        try:
            assert os.getpid() not in table.marked_pids()
        finally:
            os.chdir(here)
        assert stranger.pid in table.kill_marked(timeout=5)
        stranger.wait(5)
    finally:
        stranger.kill()


def test_run_logged_appends_command_and_output_to_the_log(tmp_path):
    log = str(tmp_path / 'logs' / 'setup-x.log')
    r = procs.run_logged(
        ['sh', '-c', 'echo out; echo err >&2'], log, 'x', 'step failed'
    )
    assert r.returncode == 0
    procs.run_logged(
        ['sh', '-c', 'cat; exit 2'],
        log,
        'x',
        'step failed',
        input_text='from stdin\n',
        ok=(0, 2),
    )
    with open(log) as f:
        assert f.read() == (
            '\n$ sh -c echo out; echo err >&2\nout\nerr\n'
            '\n$ sh -c cat; exit 2\nfrom stdin\n'
        )


def test_run_logged_failure_is_one_line_naming_service_exit_and_log(
    tmp_path,
):
    log = str(tmp_path / 'setup-nova.log')
    with pytest.raises(procs.CloudError) as err:
        procs.run_logged(['sh', '-c', 'exit 3'], log, 'nova', 'db sync failed')
    assert str(err.value) == 'nova: db sync failed (exit 3); see %s' % log


def test_run_logged_capture_returns_stdout_and_still_logs_it(tmp_path):
    log = str(tmp_path / 'audit.log')
    r = procs.run_logged(
        ['sh', '-c', 'echo found; echo warn >&2'],
        log,
        'nova-manage',
        'audit failed',
        capture=True,
    )
    assert r.stdout == 'found\n'
    with open(log) as f:
        text = f.read()
    assert 'found\n' in text and 'warn\n' in text
