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
The cloud stays up for exploring; ``python3 -m testbed.cloud down --mode
libvirt`` stops it.
"""

import argparse
import subprocess
import sys
import time

from testbed.cloud import Cloud
from testbed.cloud import CloudError
from testbed.cloud import computes
from testbed.guest import disk
from testbed.guest import serial
from testbed import machine_lock

WORKLOAD = computes.WORKLOADS[1]


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
    parser.parse_args(argv)
    with machine_lock.exclusive('python -m testbed.demo', say=say):
        return _demo()


def _demo():
    cloud = Cloud(mode='libvirt', say=say)
    try:
        seconds = cloud.up()
        say('cloud up in %.0f s' % seconds)
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
        return 1
    ok = code == 0 and show['OS-EXT-SRV-ATTR:host'] == dst and corrupt == 0
    say(
        '%s; stop the cloud with: python3 -m testbed.cloud down --mode '
        'libvirt' % ('done' if ok else 'FAILED')
    )
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
