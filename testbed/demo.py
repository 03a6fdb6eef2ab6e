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
"""The main job: a live migration nova's defaults would abort, completed.

``python -m testbed.demo`` (``tools/run-demo``) brings the libvirt-mode
mini-cloud up, boots a guest that rewrites 64 MiB at 100 MiB/s behind a link
capped at 40 MiB/s (it can never converge by itself: nova's default policy
would abort it after 1600 s), and runs::

    openstack server migrate --live-migration --host <B> \\
        --policy adaptive --wait <server>

with the plugin's progress display. It then prints where the guest runs,
the downtime, and the guest's own memory verification from its console.

The cloud and the guest stay up for exploring. The guest keeps rewriting
memory (about half a core under TCG), so each run first deletes the guests
earlier runs left (:func:`leftovers`), and the last lines print, with the
interpreter that ran the demo, the commands that delete the guest
(``python -m testbed.demo --stop``) and stop the cloud.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

from testbed.cloud import Cloud
from testbed.cloud import CloudError
from testbed.cloud import computes
from testbed.cloud import session
from testbed.guest import disk
from testbed.guest import serial
from testbed import machine_lock

WORKLOAD = computes.WORKLOADS[1]
#: the repository, where ``python -m testbed...`` finds the package
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the owner mark of the demo's servers (``testbed.cloud.session``)
OWNER = 'demo'
#: how the demo names its guests; runs before the owner mark left them
#: unmarked
NAME_PREFIX = 'lm-demo-'


def leftovers(servers):
    """The guests earlier demo runs left, to be replaced: ``[(id, name)]``.

    :param servers: ``session.servers`` rows ``(id, name, host, owner)``.
    A server is the demo's when it carries the demo's owner mark, or
    carries no mark and has the demo's name (runs before the mark); a test
    session's or an operator's server never is.
    """
    return [
        (sid, name)
        for sid, name, _, owner in servers
        if owner == OWNER
        or (owner is None and (name or '').startswith(NAME_PREFIX))
    ]


def shell_command(args, executable=None, root=ROOT):
    """A command line that works as printed, from any directory.

    ``testbed`` is imported from the repository, and the tools need the
    interpreter that has their libraries (psutil, openstacksdk): the one
    running now. Example: ``cd /src/osc-livemigrate &&
    .tox/demo/bin/python -m testbed.cloud down --mode libvirt``.
    """
    python = executable or sys.executable
    relative = os.path.relpath(python, root)
    if not relative.startswith(os.pardir):
        python = relative
    return 'cd %s && %s' % (
        shlex.quote(root),
        ' '.join(shlex.quote(a) for a in [python] + list(args)),
    )


STOP_GUEST = ('-m', 'testbed.demo', '--stop')
STOP_CLOUD = ('-m', 'testbed.cloud', 'down', '--mode', 'libvirt')


def farewell(name, host=None):
    """The demo's last lines: what keeps running and how to stop it."""
    return [
        'the guest %s keeps running%s, rewriting memory (about half a core '
        'under TCG); the next demo run replaces it'
        % (name, ' on %s' % host if host else ''),
        'delete it with:  %s' % shell_command(STOP_GUEST),
        'stop the cloud with:  %s' % shell_command(STOP_CLOUD),
    ]


def replace_leftovers(cloud):
    """Delete the guests earlier demo runs left; returns their names."""
    old = leftovers(session.servers(cloud))
    if old:
        say(
            'deleting the guest(s) an earlier demo run left: %s'
            % ', '.join(name for _, name in old)
        )
        cloud.openstack(
            'server', 'delete', '--wait', *[sid for sid, _ in old], timeout=600
        )
    return [name for _, name in old]


def say(text):
    print('[demo] %s' % text, flush=True)


def _console(cloud, server):
    return serial.parse_serial(
        cloud.openstack('console', 'log', 'show', server).stdout
    )


def _wait(what, probe, timeout):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise CloudError('demo: %s not seen within %d s' % (what, timeout))
        time.sleep(1)


def boot(cloud, name, host):
    """Boot the demo guest on ``host`` and wait for its heartbeats."""
    started = time.monotonic()
    server = cloud.openstack_json(
        'server',
        'create',
        '--flavor',
        computes.FLAVOR[0],
        '--image',
        disk.image_name(WORKLOAD),
        '--nic',
        'none',
        '--availability-zone',
        'nova:' + host,
        '--wait',
        name,
    )
    report = _wait(
        'two heartbeats',
        lambda: (lambda r: r if len(r.heartbeats) >= 2 else None)(
            _console(cloud, server['id'])
        ),
        180,
    )
    return server, report, time.monotonic() - started


def migrate(cloud, server_id, dest):
    """Run the plugin's migrate --wait in the foreground, output shown."""
    argv = [
        cloud.openstack_bin,
        'server',
        'migrate',
        '--live-migration',
        '--host',
        dest,
        '--policy',
        'adaptive',
        '--wait',
        server_id,
    ]
    say('$ openstack %s' % ' '.join(argv[1:]))
    started = time.monotonic()
    result = subprocess.run(argv, env=cloud.env())
    return result.returncode, time.monotonic() - started


def report(cloud, server_id, before):
    """Where the guest runs, its downtime, and its memory check."""
    show = cloud.openstack_json('server', 'show', server_id)
    meta = show.get('properties') or show.get('metadata') or {}
    if isinstance(meta, str):
        meta = dict(kv.split('=', 1) for kv in meta.split(', ') if '=' in kv)
    # NOTE: after a migration nova shows the destination QEMU's console
    # file, so every sweep in it ran on the destination.
    after = _wait(
        'two VERIFY sweeps on the destination',
        lambda: (lambda r: r if len(r.verifies) >= 2 else None)(
            _console(cloud, server_id)
        ),
        180,
    )
    sweeps = after.verifies
    say(
        'server %s is %s on %s'
        % (server_id, show['status'], show['OS-EXT-SRV-ATTR:host'])
    )
    downtime = meta.get('livemigrate:downtime_ms')
    measured = meta.get('livemigrate:downtime_measured') == 'true'
    say(
        'policy %s, last action %s: %s'
        % (
            meta.get('livemigrate:policy_used'),
            meta.get('livemigrate:action'),
            meta.get('livemigrate:reason'),
        )
    )
    say(
        'downtime: %s'
        % (
            '%s ms (measured by libvirt)' % downtime
            if measured
            else 'post-copy switch: libvirt measures none; the guest paused '
            'only while its device state moved'
            if meta.get('livemigrate:action') == 'postcopy'
            else '%s ms (limit in force)' % downtime
        )
    )
    say(
        'memory check on the destination: %d sweep(s), %d pages each, %d '
        'corrupt; heartbeats went on from t=%ss to t=%ss'
        % (
            len(sweeps),
            sweeps[-1].pages,
            sum(v.corrupt for v in sweeps),
            before.heartbeats[-1].t_s,
            after.heartbeats[-1].t_s,
        )
    )
    return show, sum(v.corrupt for v in sweeps)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m testbed.demo',
        description='Bring the libvirt-mode mini-cloud up and live-migrate a '
        "guest that nova's defaults would abort.",
    )
    parser.add_argument(
        '--stop',
        action='store_true',
        help='delete the guests earlier demo runs left, keep the cloud up',
    )
    args = parser.parse_args(argv)
    with machine_lock.exclusive(
        'python -m testbed.demo', 'cloud-libvirt', say=say
    ):
        if args.stop:
            return _stop()
        return _demo()


def _stop():
    cloud = Cloud(mode='libvirt', say=say, owner=OWNER)
    if not cloud.running():
        say('the cloud is not running: no demo guest to delete')
        return 0
    try:
        gone = replace_leftovers(cloud)
    except (CloudError, subprocess.CalledProcessError) as exc:
        print('demo: %s' % exc, file=sys.stderr)
        return 1
    say('deleted: %s' % (', '.join(gone) or 'nothing, no demo guest left'))
    return 0


def _demo():
    # NOTE: the owner mark tells the demo's guests from a test session's or
    # an operator's, so that a second run replaces only its own.
    cloud = Cloud(mode='libvirt', say=say, owner=OWNER)
    server = None
    try:
        seconds = cloud.up()
        say('cloud up in %.0f s' % seconds)
        replace_leftovers(cloud)
        src, dst = cloud.hosts
        name = 'lm-demo-%d' % int(time.time())
        say(
            'booting %s on %s: %d MiB guest rewriting %d MiB at %d MiB/s; '
            'migrations are capped at %d MiB/s'
            % (
                name,
                src,
                WORKLOAD.mem_mib,
                WORKLOAD.dirty_mib,
                WORKLOAD.dirty_rate_mib_s,
                computes.MIGRATION_CAP_MIB_S,
            )
        )
        server, before, booted = boot(cloud, name, src)
        say(
            'guest alive on %s after %.0f s (heartbeat t=%ss)'
            % (src, booted, before.heartbeats[-1].t_s)
        )
        before = _console(cloud, server['id'])
        code, took = migrate(cloud, server['id'], dst)
        say('migrate --wait exited %d after %.1f s' % (code, took))
        show, corrupt = report(cloud, server['id'], before)
    except CloudError as exc:
        print('demo: %s' % exc, file=sys.stderr)
        if server is not None:
            for line in farewell(name):
                say(line)
        return 1
    ok = code == 0 and show['OS-EXT-SRV-ATTR:host'] == dst and corrupt == 0
    say('done' if ok else 'FAILED')
    for line in farewell(name, show['OS-EXT-SRV-ATTR:host']):
        say(line)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
