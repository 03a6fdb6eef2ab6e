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
"""Start, find and stop the mini-cloud's processes; run its one-off steps.

Every process is started in its own session (so its children share its process
group) and recorded in ``run/processes.json`` with its pid and its start time,
so a recycled pid is never mistaken for ours. Every process also carries
``LIVEMIGRATE_CLOUD_OWNER=<work folder>`` in its environment: daemons that
detach (epmd, if RabbitMQ starts one) are found by that marker and stopped too.
The process list comes from psutil, through testbed.procs.
"""

import json
import os
import signal
import subprocess
import time

import psutil

from testbed import procs as machine
from testbed.procs import group_alive
from testbed.procs import pid_alive
from testbed.procs import start_time

MARKER_ENV = 'LIVEMIGRATE_CLOUD_OWNER'


class CloudError(Exception):
    """A service did not come up (or a step failed); str() is the one-line
    reason.
    """

    def __init__(self, service, reason, log=None):
        self.service = service
        self.reason = reason
        self.log = log
        msg = '%s: %s' % (service, reason)
        if log:
            msg += '; see %s' % log
        super().__init__(msg)


def run_logged(
    argv,
    log,
    service,
    failed,
    env=None,
    cwd=None,
    input_text=None,
    ok=(0,),
    capture=False,
):
    """Run one command to its end, its output appended to ``log`` after a
    ``$ argv`` line; return the CompletedProcess.

    :param service: the name a failure is reported under.
    :param failed: what failed, for the message: ``pip install of x failed``
        becomes ``x: pip install of x failed (exit 1); see LOG``.
    :param ok: exit codes that count as success.
    :param capture: keep stdout (text) in the result as well.
    :raises CloudError: if the exit code is not in ``ok``.
    """
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, 'ab') as out:
        out.write(('\n$ %s\n' % ' '.join(argv)).encode())
        out.flush()
        r = subprocess.run(
            argv,
            stdout=subprocess.PIPE if capture else out,
            stderr=out,
            env=env,
            cwd=cwd,
            input=input_text.encode() if input_text else None,
            stdin=None if input_text else subprocess.DEVNULL,
        )
        if capture:
            out.write(r.stdout)
            r.stdout = r.stdout.decode(errors='replace')
    if r.returncode not in ok:
        raise CloudError(service, '%s (exit %d)' % (failed, r.returncode), log)
    return r


def _as_epoch(started):
    """A recorded start time in seconds since the epoch; tables written
    before psutil hold the kernel's clock ticks since boot (an int).
    """
    if isinstance(started, int):
        return started / os.sysconf('SC_CLK_TCK') + psutil.boot_time()
    return started


def _running(entry):
    """True if a table entry's pid is still the process recorded there."""
    return pid_alive(entry['pid'], _as_epoch(entry.get('started')))


class ProcessTable:
    """The processes one mini-cloud started, persisted as JSON."""

    def __init__(self, path, marker, cwd_roots=()):
        """Remember where the table lives and how our processes are marked.

        :param path: the JSON file recording the processes.
        :param marker: value of the marker environment variable.
        :param cwd_roots: folders only this cloud's processes work in; the
            first is the default working directory of every process started.
            A process whose working directory lies under one of them is ours
            even if the table was lost and setproctitle hid the marker.
        """
        self.path = path
        self.marker = marker
        self.cwd_roots = tuple(os.path.abspath(r) for r in cwd_roots)

    def load(self):
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _save(self, table):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(table, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def record(self, name, pid, argv, log):
        table = self.load()
        table[name] = {
            'pid': pid,
            'started': start_time(pid),
            'argv': argv,
            'log': log,
        }
        self._save(table)

    def forget(self, name):
        table = self.load()
        if table.pop(name, None) is not None:
            self._save(table)

    def pid(self, name):
        """The pid of a recorded process that is still the same process, else
        None.
        """
        entry = self.load().get(name)
        if entry and _running(entry):
            return entry['pid']
        return None

    def start(self, name, argv, log, env=None, cwd=None):
        """Start argv detached, stdout+stderr appended to log; return the
        Popen.
        """
        os.makedirs(os.path.dirname(log), exist_ok=True)
        full_env = dict(os.environ if env is None else env)
        full_env[MARKER_ENV] = self.marker
        if cwd is None and self.cwd_roots:
            cwd = self.cwd_roots[0]
            os.makedirs(cwd, exist_ok=True)
        with open(log, 'ab') as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        self.record(name, proc.pid, argv, log)
        return proc

    def stop(self, name, timeout=15.0):
        """SIGTERM the recorded process group, SIGKILL it after timeout. True
        if it ran.
        """
        return bool(self.stop_many([name], timeout))

    def stop_many(self, names, timeout=15.0):
        """Stop several recorded processes at once; return the names that were
        running.
        """
        table = self.load()
        running = {}
        for name in names:
            entry = table.get(name)
            if entry and _running(entry):
                running[name] = entry['pid']
                machine.signal_group(entry['pid'], signal.SIGTERM)
        # wait for the whole group, not just its leader: a worker may take
        # a moment longer than its parent to exit
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            group_alive(p) for p in running.values()
        ):
            time.sleep(0.1)
        for pid in running.values():
            if group_alive(pid):
                machine.signal_group(pid, signal.SIGKILL)
                machine.signal_members(pid, signal.SIGKILL)
                machine.wait_group_gone(pid, 5)
        for name in names:
            self.forget(name)
        return [n for n in names if n in running]

    def marked_pids(self):
        """Pids of live processes that carry our marker in their
        environment or work in one of our cwd_roots (never this process or
        its ancestors).
        """
        me = psutil.Process()
        mine = {me.pid} | {p.pid for p in me.parents()}
        found = []
        for p in psutil.process_iter():
            if p.pid in mine:
                continue
            if self._works_here(p) or self._has_marker(p):
                if machine.process(p.pid) is not None:
                    found.append(p.pid)
        return sorted(found)

    def _works_here(self, p):
        if not self.cwd_roots:
            return False
        try:
            cwd = p.cwd()
        except psutil.Error:
            return False
        if cwd.endswith(' (deleted)'):
            cwd = cwd[: -len(' (deleted)')]
        return any(cwd == r or cwd.startswith(r + '/') for r in self.cwd_roots)

    def _has_marker(self, p):
        try:
            return p.environ().get(MARKER_ENV) == self.marker
        except psutil.Error:
            return False

    def our_pids(self):
        """Live pids that belong to this cloud: the recorded processes, their
        process groups and descendants, and anything carrying the marker.
        (Workers that call setproctitle overwrite their environment, so the
        marker alone misses them.)
        """
        roots = {e['pid'] for e in self.load().values() if _running(e)}
        mine = set(self.marked_pids()) | roots
        for pid, pgid in machine.live_groups():
            if pgid in roots:
                mine.add(pid)
        for pid in list(mine):
            p = machine.process(pid)
            try:
                mine.update(c.pid for c in p.children(recursive=True))
            except (AttributeError, psutil.Error):
                pass  # gone meanwhile
        return sorted(p for p in mine if machine.process(p) is not None)

    def kill_marked(self, timeout=10.0):
        """Stop every straggler carrying our marker; return the pids that were
        found.
        """
        pids = self.marked_pids()
        for pid in pids:
            machine.signal_pid(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.1)
        for pid in pids:
            if pid_alive(pid):
                machine.signal_pid(pid, signal.SIGKILL)
        return pids


def listening_sockets(pids):
    """[(pid, address, port)] of the TCP sockets the given processes listen
    on.
    """
    pids = set(pids)
    return sorted(
        {
            (c.pid, c.laddr.ip, c.laddr.port)
            for c in psutil.net_connections(kind='tcp')
            if c.status == psutil.CONN_LISTEN and c.pid in pids
        }
    )


def rss_bytes(pids):
    """Summed resident memory of the live pids (shared pages count twice)."""
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return total


def wait_until(name, probe, log, timeout, proc=None, pid=None, interval=0.2):
    """Poll probe() until it returns None.

    :param proc: a Popen that must stay alive while we wait; if it exits
        first, fail at once with its exit code instead of waiting out the
        timeout.
    :param pid: the same for a process started earlier (by pid).
    :raises CloudError: naming the service and pointing at its log.
    """
    deadline = time.monotonic() + timeout
    reason = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise CloudError(
                name,
                'process exited with code %s while starting' % proc.returncode,
                log,
            )
        if pid is not None and not pid_alive(pid):
            raise CloudError(name, 'process %d died while starting' % pid, log)
        reason = probe()
        if reason is None:
            return
        if time.monotonic() >= deadline:
            raise CloudError(
                name, 'did not answer within %ds (%s)' % (timeout, reason), log
            )
        time.sleep(interval)
