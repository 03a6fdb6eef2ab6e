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
"""Start, watch and stop the mini-cloud's processes, and probe whether they
answer.

Every process is started in its own session (so its children share its process
group) and recorded in ``run/processes.json`` with its pid and its kernel start
time, so a recycled pid is never mistaken for ours. Every process also carries
``LIVEMIGRATE_CLOUD_OWNER=<work folder>`` in its environment: daemons that
detach (epmd, if RabbitMQ starts one) are found by that marker and stopped too.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

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


def start_time(pid):
    """Kernel start time (clock ticks since boot) of a pid, or None if it is
    gone.
    """
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces: split after its ')'
    fields = data[data.rindex(')') + 2 :].split()
    if fields[0] == 'Z':
        return None  # a zombie is as good as gone
    return int(fields[19])


def pid_alive(pid, started=None):
    st = start_time(pid)
    return st is not None and (started is None or st == started)


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
        if entry and pid_alive(entry['pid'], entry.get('started')):
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
            if entry and pid_alive(entry['pid'], entry.get('started')):
                running[name] = entry['pid']
                _signal_group(entry['pid'], signal.SIGTERM)
        # wait for the whole group, not just its leader: a worker may take
        # a moment longer than its parent to exit
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            _group_alive(p) for p in running.values()
        ):
            time.sleep(0.1)
        for pid in running.values():
            if _group_alive(pid):
                _signal_group(pid, signal.SIGKILL)
                _signal_members(pid, signal.SIGKILL)
                _wait_gone(pid, 5)
        for name in names:
            self.forget(name)
        return [n for n in names if n in running]

    def marked_pids(self):
        """Pids of live processes that carry our marker in their
        environment or work in one of our cwd_roots (never this process or
        its ancestors).
        """
        want = ('%s=%s' % (MARKER_ENV, self.marker)).encode()
        found = []
        mine = _ancestors(os.getpid())
        for d in os.listdir('/proc'):
            if not d.isdigit() or int(d) in mine:
                continue
            if self._works_here(d) or self._has_marker(d, want):
                if pid_alive(int(d)):
                    found.append(int(d))
        return sorted(found)

    def _works_here(self, pid):
        if not self.cwd_roots:
            return False
        try:
            cwd = os.readlink('/proc/%s/cwd' % pid)
        except OSError:
            return False
        if cwd.endswith(' (deleted)'):
            cwd = cwd[: -len(' (deleted)')]
        return any(cwd == r or cwd.startswith(r + '/') for r in self.cwd_roots)

    @staticmethod
    def _has_marker(pid, want):
        try:
            with open('/proc/%s/environ' % pid, 'rb') as f:
                return want in f.read().split(b'\0')
        except OSError:
            return False

    def our_pids(self):
        """Live pids that belong to this cloud: the recorded processes, their
        process groups and descendants, and anything carrying the marker.
        (Workers that call setproctitle overwrite their environment, so the
        marker alone misses them.)
        """
        roots = {
            e['pid']
            for e in self.load().values()
            if pid_alive(e['pid'], e.get('started'))
        }
        parent, group = {}, {}
        for pid, ppid, pgid in _live_processes():
            parent[pid], group[pid] = ppid, pgid
        mine = set(self.marked_pids()) | roots
        mine |= {p for p, g in group.items() if g in roots}
        changed = True
        while changed:
            more = {
                p for p, pp in parent.items() if pp in mine and p not in mine
            }
            mine |= more
            changed = bool(more)
        return sorted(p for p in mine if p in parent)

    def kill_marked(self, timeout=10.0):
        """Stop every straggler carrying our marker; return the pids that were
        found.
        """
        pids = self.marked_pids()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.1)
        for pid in pids:
            if pid_alive(pid):
                _signal(pid, signal.SIGKILL)
        return pids


def _ancestors(pid):
    """pid and every ancestor of it."""
    out = set()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            with open('/proc/%d/stat' % pid) as f:
                data = f.read()
        except OSError:
            break
        pid = int(data[data.rindex(')') + 2 :].split()[1])
    return out


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(pid, sig):
    """Signal pid's process group (it leads its own session), or pid alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except ProcessLookupError:
        return
    _signal(pid, sig)


def _live_processes():
    """(pid, parent pid, process group) of every live, not zombie,
    process.
    """
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                data = f.read()
        except OSError:
            continue
        # the command name (field 2) may contain spaces: split after its ')'
        fields = data[data.rindex(')') + 2 :].split()
        if fields[0] != 'Z':
            yield int(d), int(fields[1]), int(fields[2])


def _group_members(pgid):
    """Live (not zombie) pids whose process group is pgid."""
    return [pid for pid, _, group in _live_processes() if group == pgid]


def _group_alive(pid):
    """True while pid or any member of the group it leads lives."""
    return pid_alive(pid) or bool(_group_members(pid))


def _signal_members(pgid, sig):
    """Signal each member of a group whose leader may be gone already."""
    for pid in _group_members(pgid):
        _signal(pid, sig)


def _wait_gone(pid, timeout):
    """Wait until pid and the members of the group it leads are gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return True
        time.sleep(0.1)
    return not _group_alive(pid)


def _socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir('/proc/%d/fd' % pid)
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    return inodes


def _hex_addr(text):
    """'0100007F:1F90' (or the 32-hex-digit IPv6 form) -> ('127.0.0.1',
    8080).
    """
    addr, port = text.split(':')
    raw = bytes.fromhex(addr)
    # /proc/net/tcp* prints each 32-bit word in host (little-endian) order
    raw = b''.join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(
        socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw
    ), int(port, 16)


def listening_sockets(pids):
    """[(pid, address, port)] of the TCP sockets the given processes listen
    on.
    """
    by_inode = {}
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == '0A':  # LISTEN
                        by_inode[cols[9]] = _hex_addr(cols[1])
        except OSError:
            continue
    out = []
    for pid in pids:
        for inode in _socket_inodes(pid):
            if inode in by_inode:
                out.append((pid,) + by_inode[inode])
    return sorted(set(out))


# ---------------------------------------------------------------- probes
# Each probe returns None when the service answers, else a short reason.


def probe_tcp(host, port, timeout=2.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return 'nothing answers on %s:%d (%s)' % (host, port, e.strerror or e)


def probe_mysql(host, port, timeout=2.0):
    """A MySQL/MariaDB server greets first: protocol version 10 in its first
    packet.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            data = s.recv(64)
    except OSError as e:
        return 'nothing answers on %s:%d (%s)' % (host, port, e.strerror or e)
    # 10: a handshake; 0xff: an error packet, e.g. "Host is not allowed"
    # before the database user exists, which still proves the server answers.
    if len(data) > 4 and data[4] in (10, 0xFF):
        return None
    return 'no MySQL greeting on %s:%d' % (host, port)


def probe_amqp(host, port, timeout=3.0):
    """Send the AMQP 0-9-1 header; a broker answers with a Connection.Start
    frame.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b'AMQP\x00\x00\x09\x01')
            data = s.recv(16)
    except OSError as e:
        return 'nothing answers on %s:%d (%s)' % (host, port, e.strerror or e)
    if data[:1] == b'\x01':
        return None
    return 'no AMQP answer on %s:%d' % (host, port)


def probe_http(url, timeout=5.0):
    """Any HTTP answer below 500 counts (APIs answer / with 300 or 401)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (OSError, ValueError) as e:
        reason = getattr(e, 'reason', e)
        return 'no HTTP answer from %s (%s)' % (url, reason)
    if status >= 500:
        return 'HTTP %d from %s' % (status, url)
    return None


def port_owner_free(host, port):
    """True if nothing listens on host:port."""
    return probe_tcp(host, port, timeout=0.5) is not None


def wait_until(name, probe, log, timeout, proc=None, pid=None, interval=0.2):
    """Poll probe() until it returns None.

    :param proc: a Popen (or pid) that must stay alive while we wait; if it
    exits
        first, fail at once with its exit code instead of waiting out the
        timeout.
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
