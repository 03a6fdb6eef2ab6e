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
"""Servers, services and background commands for the fleet drain tests."""

import json
import os
import subprocess
import sys
import time

from testbed.cloud import session
from tests.functional.osc_livemigrate import cli

REPO = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)


def wait_for(what, probe, timeout_s, interval_s=0.5):
    """Poll ``probe()`` until it returns a true value; return it.

    :raises AssertionError: naming ``what`` after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                'timed out after %.0f s waiting for %s' % (timeout_s, what)
            )
        time.sleep(interval_s)


def boot(cloud, prefix, host, count, flavor=cli.FLAVOR, group=None):
    """``count`` servers on ``host`` (``prefix-1`` ..., or ``prefix`` for
    one), marked as the session's; not waited for. Through openstacksdk:
    an ``openstack`` process per request costs seconds of CPU.
    """
    compute = cloud.connection().compute
    image = cloud.connection().image.find_image(
        cli.IMAGE, ignore_missing=False
    )
    kwargs = dict(
        name=prefix,
        flavor_id=compute.find_flavor(flavor, ignore_missing=False).id,
        image_id=image.id,
        networks='none',
        availability_zone='nova:' + host,
        metadata={session.OWNER_KEY: cloud.owner},
    )
    if group:
        kwargs['scheduler_hints'] = {'group': group}
    if count > 1:
        kwargs.update(min_count=count, max_count=count)
    compute.create_server(**kwargs)


def servers(cloud, prefix):
    """``{name: server}`` of the servers whose name starts with prefix."""
    return {
        s.name: s
        for s in cloud.connection().compute.servers(
            all_projects=True, name='^%s' % prefix
        )
    }


def wait_active(cloud, prefix, count, timeout_s=240):
    def probe():
        found = servers(cloud, prefix)
        bad = [s.name for s in found.values() if s.status == 'ERROR']
        assert not bad, 'servers in ERROR: %s' % bad
        ok = [s for s in found.values() if s.status == 'ACTIVE']
        return found if len(ok) == count == len(found) else None

    return wait_for(
        '%d servers %s* ACTIVE' % (count, prefix), probe, timeout_s
    )


def delete(cloud, prefix, timeout_s=240):
    """Delete the servers named ``prefix*`` and wait until they are gone."""
    compute = cloud.connection().compute
    for s in servers(cloud, prefix).values():
        compute.delete_server(s.id, ignore_missing=True)
    wait_for(
        'servers %s* deleted' % prefix,
        lambda: not servers(cloud, prefix),
        timeout_s,
    )


def live_migrations(cloud, server_ids):
    """``{server ID: [status, ...]}`` of their live-migration records."""
    out = {sid: [] for sid in server_ids}
    for m in cloud.connection().compute.migrations(
        migration_type='live-migration'
    ):
        sid = getattr(m, 'server_id', None) or m.instance_uuid
        if sid in out:
            out[sid].append(m.status)
    return out


def service(cloud, host):
    found = list(
        cloud.connection().compute.services(host=host, binary='nova-compute')
    )
    return found[0]


def set_enabled(cloud, hosts, enabled, reason=None):
    compute = cloud.connection().compute
    for host in hosts:
        svc = service(cloud, host)
        if enabled:
            compute.enable_service(svc, host=host, binary='nova-compute')
        else:
            compute.disable_service(
                svc, host=host, binary='nova-compute', disabled_reason=reason
            )


class Background:
    """A command beside the test, its output in files under ``folder``."""

    def __init__(self, argv, env, folder, tag):
        self.out_path = os.path.join(folder, tag + '.out')
        self.err_path = os.path.join(folder, tag + '.err')
        with open(self.out_path, 'w') as out, open(self.err_path, 'w') as err:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
            )

    def stop(self, sig, timeout_s=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout_s)

    def output(self):
        with open(self.out_path) as f, open(self.err_path) as g:
            return f.read(), g.read()


def observer(cloud, folder):
    """The observer process (``observer.py``); its lines in ``.jsonl``."""
    path = os.path.join(folder, 'observer.jsonl')
    bg = Background(
        [
            sys.executable,
            '-m',
            'tests.functional.osc_livemigrate.observer',
            path,
        ],
        cli.env(cloud),
        folder,
        'observer',
    )
    # NOTE: its first look before the drain starts: what it saw is then
    # the whole drain
    wait_for(
        'the observer first look at nova (%s)' % bg.err_path,
        lambda: (
            bg.proc.poll() is None
            and os.path.exists(path)
            and os.path.getsize(path) > 0
            or _died(bg)
        ),
        60,
    )
    return bg, path


def _died(bg):
    if bg.proc.poll() is not None:
        raise AssertionError(
            'the observer exited %s: %s' % (bg.proc.returncode, bg.output()[1])
        )
    return False


def drain(cloud, folder, tag, *args):
    """``openstack compute host drain ...`` in the background."""
    return Background(
        [cloud.openstack_bin, 'compute', 'host', 'drain'] + list(args),
        cli.env(cloud),
        folder,
        tag,
    )


def report_states(path):
    """``{server name: state}`` of a --report file (``{}`` before it
    exists or while it is replaced).
    """
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return {
        s['name']: s['state']
        for h in record['hosts']
        for s in h['servers'].values()
        if 'name' in s
    }


def memory_used(cloud, host):
    """MEMORY_MB placement counts as used on ``host``."""
    placement = cloud.connection().placement
    for rp in placement.resource_providers(name=host):
        usages = placement.fetch_resource_provider_usages(rp).usages or {}
        return usages.get('MEMORY_MB', 0)
    return 0
