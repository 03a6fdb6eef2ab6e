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
"""Reproducer: resume a post-copy migration whose TCP connection ended.

One run on a second host pair (prefix ``pcr``): a guest migrates with
post-copy, the link is cut until the kernel gives up both QEMUs' TCP
connection (``net.ipv4.tcp_retries2`` lowered inside both hosts), the link
returns, and ``VIR_MIGRATE_POSTCOPY_RESUME`` is tried in one form:

- ``p2p``: the migration and the resume are peer-to-peer
  (``migrateToURI3`` on the source, nova's flags);
- ``direct``: both are client-managed (``migrate3`` with a connection to
  each host, no ``VIR_MIGRATE_PEER2PEER``);
- ``p2p-direct``: a peer-to-peer migration resumed client-managed;
- ``qmp``: a peer-to-peer migration resumed below libvirt, with QEMU's
  ``migrate-recover`` on the destination and ``migrate`` with
  ``resume`` on the source (``virDomainQemuMonitorCommand``; libvirt
  marks both domains tainted).

Every state change of both domains is printed with its time, then whether
both daemons survived and where the guest runs, intact or not. Run as root
from a checkout, with the test env's python::

    python -m testbed.pcrecover --mode direct

It takes the machine lock, so it waits for real-level test runs.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from testbed.guest import build
from testbed.guest.spec import GuestSpec
from testbed import hosts
from testbed import libvirtd
from testbed import machine_lock
from testbed import migration

NAME = 'pcrec'
SPEC = GuestSpec(mem_mib=256, dirty_mib=64, dirty_rate_mib_s=100)
MODES = ('p2p', 'direct', 'p2p-direct', 'qmp')
#: the port the destination QEMU listens on for a QMP-level recovery
#: (outside libvirt's migration port range 49152-49215)
QMP_PORT = 49250


class Log:
    """Timestamped lines from one start."""

    def __init__(self):
        self.t0 = time.monotonic()

    def __call__(self, *words):
        print('%7.1f' % (time.monotonic() - self.t0), *words, flush=True)


def _state(pair, host, lv):
    try:
        return tuple(pair.connect(host).lookupByName(NAME).state())
    except lv.libvirtError as exc:
        return str(exc).split(':')[0]


def _qemu_sockets(pair, host):
    """Established TCP connections of the host's QEMU processes."""
    out = pair.run_in_host(host, ['ss', '-tnpH'], check=False).stdout
    return [
        ' '.join(line.split()[2:4])
        for line in out.splitlines()
        if 'qemu' in line and line.startswith('ESTAB')
    ]


def _in_thread(func):
    box = {}

    def run():
        try:
            func()
            box['result'] = 'ok'
        except Exception as exc:  # the libvirt error is the finding
            box['result'] = 'error: %s' % exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _qmp_resume(pair, dom):
    import libvirt_qemu

    uri = 'tcp:%s:%d' % (pair.address('B'), QMP_PORT)
    dst = pair.connect('B').lookupByName(NAME)
    for target, command in (
        (dst, {'execute': 'migrate-recover', 'arguments': {'uri': uri}}),
        (
            dom,
            {'execute': 'migrate', 'arguments': {'uri': uri, 'resume': True}},
        ),
    ):
        reply = libvirt_qemu.qemuMonitorCommand(target, json.dumps(command), 0)
        if 'error' in json.loads(reply):
            raise RuntimeError('%s: %s' % (command['execute'], reply))


def _segfaults(since):
    out = subprocess.run(
        ['dmesg'], capture_output=True, text=True, check=False
    ).stdout
    return [line for line in out.splitlines() if 'segfault' in line][since:]


def _debug_daemons(pair):
    """Migration debug logs and core dumps from both daemons."""
    for host in pair.HOSTS:
        admin = 'libvirtd:///system?socket=%s' % os.path.join(
            os.path.dirname(pair.socket(host)), 'libvirt-admin-sock'
        )
        log = os.path.join(pair.hostdir(host), 'log', 'debug.log')
        for cmd in (
            [
                'daemon-log-filters',
                '1:qemu.qemu_migration 1:qemu.qemu_process 1:rpc 3:*',
            ],
            ['daemon-log-outputs', '1:file:%s' % log],
        ):
            subprocess.run(['virt-admin', '-c', admin] + cmd, check=False)
        subprocess.run(
            [
                'prlimit',
                '--core=unlimited',
                '--pid',
                str(pair.libvirtd_pid(host)),
            ],
            check=False,
        )


def run(pair, image, mode, say, settle_s, attempts, retries2):
    lv = libvirtd.load_libvirt()
    _debug_daemons(pair)
    seen_segfaults = len(_segfaults(0))
    dom = pair.start_guest(NAME, SPEC, image, host='A')
    before = pair.wait_serial(NAME, lambda r: r.verifies, 90, 'a sweep')
    say('guest up on A; sweeps', len(before.verifies))
    for host in pair.HOSTS:
        pair.run_in_host(
            host, ['sysctl', '-qw', 'net.ipv4.tcp_retries2=%d' % retries2]
        )
    dom.migrateSetMaxSpeed(20, 0)
    dom.migrateSetMaxSpeed(5, lv.VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY)
    flags = migration.migration_flags(lv, postcopy=True)
    if mode == 'direct':
        flags &= ~lv.VIR_MIGRATE_PEER2PEER
    params = {lv.VIR_MIGRATE_PARAM_URI: pair.migration_uri('B')}

    def migrate(extra):
        if mode == 'qmp' and extra:
            return lambda: _qmp_resume(pair, dom)
        if mode in ('p2p', 'qmp') or (mode == 'p2p-direct' and not extra):
            return lambda: dom.migrateToURI3(
                pair.uri('B'), params, flags | extra
            )
        resume_flags = (flags | extra) & ~lv.VIR_MIGRATE_PEER2PEER
        return lambda: dom.migrate3(pair.connect('B'), params, resume_flags)

    first, first_box = _in_thread(migrate(0))
    say('migration started, mode', mode, 'flags 0x%x' % flags)
    time.sleep(3)
    dom.migrateStartPostCopy(0)
    want = (lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PAUSED_POSTCOPY)
    deadline = time.monotonic() + 30
    while _state(pair, 'A', lv) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    say('post-copy; A', _state(pair, 'A', lv), 'B', _state(pair, 'B', lv))
    # NOTE: a cut while the destination's libvirt still waits for QEMU's
    # "cont" hangs that QEMU's monitor (its main loop faults on a page
    # that never comes) and libvirt's Finish job with it: nothing can
    # recover that. Cut once the guest has run on B for a moment.
    time.sleep(3)
    say('QEMU connections on A:', _qemu_sockets(pair, 'A'))
    pair.set_link('B', False)
    cut = time.monotonic()
    say('link cut')
    last = None
    failed = (lv.VIR_DOMAIN_PAUSED, lv.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED)
    while time.monotonic() - cut < 180:
        now = (_state(pair, 'A', lv), _state(pair, 'B', lv))
        if now != last:
            say('A', now[0], 'B', now[1], 'first call:', first_box)
            last = now
        dst_failed = isinstance(now[1], tuple) and now[1][1] in (
            lv.VIR_DOMAIN_RUNNING_POSTCOPY_FAILED,
            lv.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
        )
        if now[0] == failed and dst_failed and not first.is_alive():
            break
        time.sleep(0.5)
    say('both failed; first call:', first_box.get('result'))
    say('QEMU connections on A:', _qemu_sockets(pair, 'A'))
    say('QEMU connections on B:', _qemu_sockets(pair, 'B'))
    pair.set_link('B', True)
    say('link restored after %.1f s' % (time.monotonic() - cut))
    time.sleep(settle_s)
    result = None
    for attempt in range(attempts):
        thread, box = _in_thread(migrate(lv.VIR_MIGRATE_POSTCOPY_RESUME))
        thread.join(180)
        result = box.get('result', 'still blocked after 180 s')
        say(
            'resume attempt %d:' % attempt,
            result,
            '| libvirtd A',
            pair.libvirtd_pid('A'),
            'B',
            pair.libvirtd_pid('B'),
        )
        if result == 'ok' or not pair.libvirtd_pid('B'):
            break
        time.sleep(5)
    done = ((lv.VIR_DOMAIN_RUNNING, lv.VIR_DOMAIN_RUNNING_MIGRATED),)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and pair.libvirtd_pid('B'):
        now = (_state(pair, 'A', lv), _state(pair, 'B', lv))
        if now != last:
            say('A', now[0], 'B', now[1])
            last = now
        if not isinstance(now[0], tuple) and now[1] in done:
            break
        time.sleep(0.5)
    for line in _segfaults(seen_segfaults):
        say('kernel:', line)
    if not pair.libvirtd_pid('B'):
        say('destination libvirtd is gone')
        return 2
    say('guest on', pair.find_domain(NAME), 'A', last[0], 'B', last[1])
    try:
        report = pair.wait_serial(
            NAME,
            lambda r: len(r.verifies) >= len(before.verifies) + 2,
            180,
            'two sweeps after the resume',
        )
    except RuntimeError as exc:
        say('guest check failed:', str(exc).splitlines()[0])
        return 1
    say(
        'guest check: sweeps',
        len(report.verifies),
        'corrupt pages',
        report.corrupt,
        'errors',
        len(report.errors),
    )
    return 0 if result == 'ok' and report.corrupt == 0 else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mode', choices=MODES, default='direct')
    parser.add_argument(
        '--settle',
        type=float,
        default=5.0,
        help='seconds between the link returning and the first resume',
    )
    parser.add_argument('--attempts', type=int, default=6)
    parser.add_argument('--tcp-retries2', type=int, default=3)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print('pcrecover: needs root', file=sys.stderr)
        return 2
    say = Log()
    with machine_lock.exclusive(
        'testbed.pcrecover --mode %s' % args.mode, 'pcrecover'
    ):
        image = build.build()
        pair = hosts.HostPair(prefix='pcr', subnet='10.77.31')
        pair.up()
        say('hosts up')
        try:
            return run(
                pair,
                image,
                args.mode,
                say,
                args.settle,
                args.attempts,
                args.tcp_retries2,
            )
        finally:
            say('down, left:', pair.down())


if __name__ == '__main__':
    sys.exit(main())
