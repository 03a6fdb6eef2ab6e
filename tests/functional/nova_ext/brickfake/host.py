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
"""What the kernel, udev and the iSCSI/multipath tools would do, emulated.

:class:`Host` lays out the sysfs and /dev entries that an iSCSI login
leaves (the same layout as on a real host, symlinks included) under the
roots it is given, and :meth:`Host.execute` is a command runner with the
calling convention of os-brick's ``priv_rootwrap.execute`` (and so of
``oslo_concurrency.processutils.execute``): it answers ``iscsiadm``,
``blockdev --flushbufs`` (failing on request), ``multipath``/``multipathd``
(not installed) and ``tee -a /sys/block/sdX/device/delete``, which removes
the device from the tree as the kernel and udev do. Every call is recorded.

In the test the roots are the real ``/sys`` and ``/dev`` of a private mount
namespace with tmpfs over them (see :mod:`.mounts`), so os-brick's own code
finds the devices with its own hard-coded paths.
"""

import dataclasses
import os
import shutil

from oslo_concurrency import processutils

DISCOVERYDB_EMPTY = (
    'SENDTARGETS:\nNo targets found.\niSNS:\n'
    'No targets found.\nSTATIC:\nNo targets found.\n'
    'FIRMWARE:\nNo targets found.\n'
)


@dataclasses.dataclass
class Lun:
    """One SCSI device of a session: ``host:0:0:lun`` named ``sdX``."""

    host: int
    session: int
    lun: int
    name: str
    wwn: str


@dataclasses.dataclass
class Session:
    sid: int
    host: int
    portal: str
    iqn: str


class Host:
    """An iSCSI initiator host: tree, sessions, node records, commands.

    :param sys_root: where sysfs is (``/sys`` in the namespace)
    :param dev_root: where devtmpfs is (``/dev`` in the namespace)

    ``flush_fails`` holds device paths on which ``blockdev --flushbufs``
    exits 1 with EIO, as a flush to a dead or fenced target does.
    """

    def __init__(self, sys_root='/sys', dev_root='/dev'):
        self.sys = sys_root
        self.dev = dev_root
        self.flush_fails = set()
        self.nodes = {}  # (portal, iqn) -> {'node.startup': ...}
        self.sessions = {}  # sid -> Session
        self.luns = {}  # name -> Lun
        self.calls = []  # every command, as recorded dicts
        self.unexpected = []

    # -- building the tree -------------------------------------------------

    def _session_dir(self, s):
        return os.path.join(
            self.sys,
            'devices',
            'platform',
            'host%d' % s.host,
            'session%d' % s.sid,
            'target%d:0:0' % s.host,
        )

    def login(self, sid, host, portal, iqn):
        """What ``iscsiadm --login`` leaves: node record, session, host."""
        s = Session(sid, host, portal, iqn)
        self.nodes[(portal, iqn)] = {'node.startup': 'automatic'}
        self.sessions[sid] = s
        hostdir = os.path.join(
            self.sys, 'devices', 'platform', 'host%d' % host
        )
        os.makedirs(
            os.path.join(hostdir, 'scsi_host', 'host%d' % host), exist_ok=True
        )
        _symlink(
            '../../../host%d' % host,
            os.path.join(hostdir, 'scsi_host', 'host%d' % host, 'device'),
        )
        os.makedirs(
            os.path.join(self.sys, 'class', 'scsi_host'), exist_ok=True
        )
        _symlink(
            '../../devices/platform/host%d/scsi_host/host%d' % (host, host),
            os.path.join(self.sys, 'class', 'scsi_host', 'host%d' % host),
        )
        os.makedirs(self._session_dir(s), exist_ok=True)
        return s

    def add_lun(self, session, lun, name, wwn, minor):
        """A SCSI disk in the session, as the kernel and udev show it."""
        s = session
        hctl = '%d:0:0:%d' % (s.host, lun)
        sdev = os.path.join(self._session_dir(s), hctl)
        blk = os.path.join(sdev, 'block', name)
        os.makedirs(blk)
        _write(os.path.join(sdev, 'delete'), '')
        _write(os.path.join(sdev, 'state'), 'running\n')
        _write(os.path.join(sdev, 'wwid'), 'naa.%s\n' % wwn[1:])
        _write(os.path.join(blk, 'dev'), '8:%d\n' % minor)
        _write(os.path.join(blk, 'size'), '2097152\n')
        _symlink('../../../%s' % hctl, os.path.join(blk, 'device'))
        os.makedirs(os.path.join(blk, 'holders'))
        os.makedirs(os.path.join(self.sys, 'block'), exist_ok=True)
        rel = os.path.relpath(blk, os.path.join(self.sys, 'block'))
        _symlink(rel, os.path.join(self.sys, 'block', name))
        # devtmpfs node and udev's links
        _write(os.path.join(self.dev, name), '')
        for sub, link in (
            ('by-path', self.by_path(s, lun)),
            ('by-id', 'scsi-%s' % wwn),
        ):
            os.makedirs(os.path.join(self.dev, 'disk', sub), exist_ok=True)
            _symlink(
                '../../' + name, os.path.join(self.dev, 'disk', sub, link)
            )
        self.luns[name] = Lun(s.host, s.sid, lun, name, wwn)
        return '/dev/disk/by-path/' + self.by_path(s, lun)

    @staticmethod
    def by_path(session, lun):
        return 'ip-%s-iscsi-%s-lun-%d' % (session.portal, session.iqn, lun)

    def leftovers(self, name):
        """Every trace of device ``name`` still in the tree."""
        found = []
        for path in (
            os.path.join(self.sys, 'block', name),
            os.path.join(self.dev, name),
        ):
            if os.path.lexists(path):
                found.append(path)
        for sub in ('by-path', 'by-id'):
            d = os.path.join(self.dev, 'disk', sub)
            for entry in sorted(os.listdir(d)) if os.path.isdir(d) else ():
                if os.readlink(os.path.join(d, entry)) == '../../' + name:
                    found.append(os.path.join(d, entry))
        lun = self.luns.get(name)
        if lun is not None:
            sdev = os.path.join(
                self.sys,
                'devices',
                'platform',
                'host%d' % lun.host,
                'session%d' % lun.session,
                'target%d:0:0' % lun.host,
                '%d:0:0:%d' % (lun.host, lun.lun),
            )
            if os.path.lexists(sdev):
                found.append(sdev)
        return found

    # -- what the kernel and udev do ----------------------------------------

    def _remove_device(self, name):
        """SCSI device removal: sysfs entries, dev node, udev's links."""
        lun = self.luns.pop(name)
        sdev = os.path.join(
            self.sys,
            'devices',
            'platform',
            'host%d' % lun.host,
            'session%d' % lun.session,
            'target%d:0:0' % lun.host,
            '%d:0:0:%d' % (lun.host, lun.lun),
        )
        shutil.rmtree(sdev)
        os.unlink(os.path.join(self.sys, 'block', name))
        os.unlink(os.path.join(self.dev, name))
        for sub in ('by-path', 'by-id'):
            d = os.path.join(self.dev, 'disk', sub)
            for entry in os.listdir(d):
                if os.readlink(os.path.join(d, entry)) == '../../' + name:
                    os.unlink(os.path.join(d, entry))

    def _logout(self, sid):
        """Session teardown removes the session and any devices left."""
        s = self.sessions.pop(sid)
        for name in [n for n, lun in self.luns.items() if lun.session == sid]:
            self._remove_device(name)
        shutil.rmtree(os.path.dirname(self._session_dir(s)))

    # -- the command runner ------------------------------------------------

    def execute(self, *cmd, **kwargs):
        """Run ``cmd`` against the emulated host.

        Same contract as ``processutils.execute``: returns (stdout, stderr),
        raises ProcessExecutionError when the exit code is not allowed by
        ``check_exit_code`` (default: only 0).
        """
        cmd = tuple(str(c) for c in cmd)
        record = {
            'cmd': list(cmd),
            'run_as_root': bool(kwargs.get('run_as_root')),
            'input': kwargs.get('process_input'),
        }
        self.calls.append(record)
        code, out, err = self._run(cmd, kwargs.get('process_input'))
        record['exit_code'] = code
        allowed = kwargs.get('check_exit_code', True)
        if isinstance(allowed, bool):
            allowed = [0] if allowed else None
        elif isinstance(allowed, int):
            allowed = [allowed]
        if allowed is not None and code not in allowed:
            raise processutils.ProcessExecutionError(
                stdout=out, stderr=err, exit_code=code, cmd=' '.join(cmd)
            )
        return out, err

    def _run(self, cmd, process_input):
        prog, args = cmd[0], cmd[1:]
        if prog == 'iscsiadm':
            return self._iscsiadm(args)
        if prog == 'blockdev' and args[:1] == ('--flushbufs',):
            if args[1] in self.flush_fails:
                return (
                    1,
                    '',
                    (
                        'blockdev: ioctl error on BLKFLSBUF: '
                        'Input/output error\n'
                    ),
                )
            return 0, '', ''
        if prog in ('multipath', 'multipathd'):
            # not installed on this host: what priv_rootwrap reports
            return 127, '', '%s: command not found\n' % prog
        if (
            prog == 'tee'
            and args[:1] == ('-a',)
            and args[1].startswith('/sys/block/')
            and args[1].endswith('/device/delete')
        ):
            name = args[1].split('/')[3]
            if process_input not in ('1', b'1') or name not in self.luns:
                return 1, '', 'tee: %s: No such file or directory\n' % args[1]
            self._remove_device(name)
            return 0, process_input, ''
        self.unexpected.append(list(cmd))
        return 127, '', '%s: not emulated by the test\n' % prog

    def _iscsiadm(self, args):
        if args == ('-m', 'session'):
            if not self.sessions:
                return 21, '', 'iscsiadm: No active sessions.\n'
            return (
                0,
                ''.join(
                    'tcp: [%d] %s,1 %s (non-flash)\n'
                    % (s.sid, s.portal, s.iqn)
                    for s in self.sessions.values()
                ),
                '',
            )
        if args == ('-m', 'node'):
            if not self.nodes:
                return 21, '', 'iscsiadm: No records found\n'
            return 0, ''.join('%s,1 %s\n' % key for key in self.nodes), ''
        if args[:4] == ('-m', 'discoverydb', '-o', 'show'):
            return 0, DISCOVERYDB_EMPTY, ''
        if args[:2] == ('-m', 'node') and args[2] == '-T' and args[4] == '-p':
            iqn, portal, op = args[3], args[5], args[6:]
            key = (portal, iqn)
            if key not in self.nodes:
                return 21, '', 'iscsiadm: No records found\n'
            if op[:2] == ('--op', 'update'):
                self.nodes[key][op[3]] = op[5]
                return 0, '', ''
            if op == ('--logout',):
                sids = [
                    s.sid
                    for s in self.sessions.values()
                    if (s.portal, s.iqn) == key
                ]
                if not sids:
                    return 21, '', 'iscsiadm: No matching sessions found\n'
                out = ''
                for sid in sids:
                    self._logout(sid)
                    out += (
                        'Logout of [sid: %d, target: %s, portal: %s] '
                        'successful.\n' % (sid, iqn, portal)
                    )
                return 0, out, ''
            if op == ('--op', 'delete'):
                del self.nodes[key]
                return 0, '', ''
        self.unexpected.append(['iscsiadm'] + list(args))
        return 7, '', 'iscsiadm: not emulated by the test\n'


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def _symlink(target, path):
    if not os.path.lexists(path):
        os.symlink(target, path)
