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
"""nova-compute on a virtualenv that holds nova 34 and the driver half only.

Why: an operator installs ``osc-livemigrate[driver]`` into nova-compute's
environment and must get the driver without the client (issue 25). This
builds such a virtualenv afresh (nova 34, libvirt-python and this checkout
with its ``driver`` extra, not editable, so the virtualenv holds its own
copy), says what came in and that nothing of the client did, then runs one
host of the running libvirt-mode cloud on it: that host's nova-compute is
stopped, started from the new virtualenv with the same configuration (the
privsep helper from there too), checked (it reports to nova, it loaded
``livemigrate.LibvirtDriver``, its process runs the new interpreter), and
put back as it was, whatever happened. ``--cli`` also builds a virtualenv
of the CLI half and says what came into it::

    .tox/py3/bin/python -m testbed.cloud.driver_half [--host lmcA] [--cli]
"""

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

from testbed.cloud import Cloud
from testbed.cloud import CloudError
from testbed.cloud import computes
from testbed.cloud import services as svc

NOVA = 'nova==34.0.0'
DRIVER_LINE = "Loading compute driver 'livemigrate.LibvirtDriver'"
#: the client, which must not come with the driver (osc-lib and cliff do
#: come, with nova 34's own python-neutronclient and python-barbicanclient)
CLIENT_ONLY = ('python-openstackclient',)
#: and the driver side's that must not come with the CLI
DRIVER_ONLY = ('nova', 'libvirt-python', 'prometheus-client')
SIZES = (
    'import importlib.metadata as m, json, os\n'
    'rows = []\n'
    'for d in m.distributions():\n'
    '    size = 0\n'
    '    for f in d.files or []:\n'
    '        try:\n'
    '            size += os.path.getsize(d.locate_file(f))\n'
    '        except OSError:\n'
    '            pass\n'
    "    rows.append([size, d.metadata['Name']])\n"
    'print(json.dumps(sorted(rows, reverse=True)))\n'
)


def _say(msg):
    print('driver-half: %s' % msg, flush=True)


def build(venv, requirements, log):
    """A fresh virtualenv at ``venv`` with ``requirements`` installed;
    :returns: ``[[bytes, name], ...]`` of every distribution, largest
    first.
    """
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, '-m', 'venv', venv], check=True)
    py = os.path.join(venv, 'bin', 'python')
    with open(log, 'a') as f:
        r = subprocess.run(
            [py, '-m', 'pip', 'install', '--disable-pip-version-check']
            + list(requirements),
            stdout=f,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PIP_NO_BINARY='libvirt-python'),
        )
    if r.returncode:
        raise CloudError('driver-half', 'pip install failed', log)
    out = subprocess.run(
        [py, '-c', SIZES], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def describe(label, rows, absent):
    """One line of what a virtualenv holds; :raises CloudError: when one
    of ``absent`` came in.
    """
    names = {name.lower().replace('_', '-') for _, name in rows}
    came = sorted(names & set(absent))
    total = sum(size for size, _ in rows)
    _say(
        '%s: %d distributions, %.0f MiB; largest %s; none of %s'
        % (
            label,
            len(rows),
            total / 2**20,
            ', '.join('%s %.1f MiB' % (n, s / 2**20) for s, n in rows[:3]),
            ', '.join(absent),
        )
    )
    if came:
        raise CloudError('driver-half', '%s brought %s' % (label, came))


def _swapped(service, venv, lo, host):
    """``service`` launched from ``venv``: its nova-compute and privsep
    helper, with one more config file naming that helper.
    """
    extra = lo.path('etc', 'nova', 'compute-%s-driver-half.conf' % host)
    helper = computes.privsep_helper(lo, host, [extra]).replace(
        lo.venv_bin('main', 'privsep-helper'),
        os.path.join(venv, 'bin', 'privsep-helper'),
    )
    with open(extra, 'w') as f:
        f.write(
            '[nova_sys_admin]\nhelper_command = %s\n'
            '[privsep_osbrick]\nhelper_command = %s\n' % (helper, helper)
        )
    main = lo.venv_bin('main', 'nova-compute')

    def launch(layout, pair):
        own = service.launch(layout, pair)
        argv = list(own.argv)
        at = argv.index('--log-file')
        argv[at:at] = ['--config-file', extra]
        mine = os.path.join(venv, 'bin', 'nova-compute')
        return dataclasses.replace(
            own, argv=[mine if a == main else a for a in argv]
        )

    return dataclasses.replace(service, launch=launch), extra


def _reported_since(c, host, since):
    for s in c.connection(fresh=True).compute.services(binary='nova-compute'):
        if s.host == host and s.state == 'up' and s.updated_at:
            at = datetime.datetime.fromisoformat(s.updated_at)
            if at.replace(tzinfo=datetime.timezone.utc) >= since:
                return s
    return None


def run_on(c, host, venv):
    """Run ``host``'s nova-compute from ``venv``, check it, put it back."""
    name = svc.compute_name(host)
    service = [s for s in c.services if s.name == name][0]
    swapped, extra = _swapped(service, venv, c.layout, host)
    log = c.layout.log(name)
    offset = os.path.getsize(log) if os.path.exists(log) else 0
    c.table.stop_many([name], timeout=30)
    try:
        since = datetime.datetime.now(datetime.timezone.utc)
        t0 = time.monotonic()
        c.supervisor.run([swapped])
        pid = c.table.pid(name)
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmd = f.read().replace(b'\0', b' ').decode()
        deadline = time.monotonic() + 120
        reported = None
        while reported is None and time.monotonic() < deadline:
            reported = _reported_since(c, host, since)
            time.sleep(2)
        with open(log, errors='replace') as f:
            f.seek(offset)
            text = f.read()
        if reported is None:
            raise CloudError(name, 'did not report to nova in 120 s', log)
        if DRIVER_LINE not in text:
            raise CloudError(name, 'no %r in its log' % DRIVER_LINE, log)
        if os.path.join(venv, 'bin', 'nova-compute') not in cmd:
            raise CloudError(name, 'not started from %s: %s' % (venv, cmd))
        _say(
            '%s started from %s in %.0f s (pid %d); nova: %s %s, '
            'updated %s; its log: %r'
            % (
                name,
                venv,
                time.monotonic() - t0,
                pid,
                reported.status,
                reported.state,
                reported.updated_at,
                DRIVER_LINE,
            )
        )
    finally:
        c.table.stop_many([name], timeout=30)
        c.supervisor.run([service])
        os.remove(extra)
        _say("%s back on the cloud's own virtualenv" % name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', help='the host to run (default: the first)')
    parser.add_argument(
        '--cli', action='store_true', help='also build the CLI half'
    )
    args = parser.parse_args(argv)
    c = Cloud(mode='libvirt')
    try:
        if not c.running():
            raise CloudError(
                'driver-half',
                'the libvirt-mode cloud is not up '
                '(python -m testbed.cloud up --mode libvirt)',
            )
        repo = computes.REPO
        base = c.layout.path('driver-half')
        os.makedirs(base, exist_ok=True)
        log = os.path.join(base, 'pip.log')
        venv = os.path.join(base, 'driver')
        t0 = time.monotonic()
        rows = build(venv, [NOVA, 'libvirt-python', repo + '[driver]'], log)
        _say('built %s in %.0f s' % (venv, time.monotonic() - t0))
        describe('nova 34 + [driver]', rows, CLIENT_ONLY)
        if args.cli:
            cli = build(os.path.join(base, 'cli'), [repo + '[cli]'], log)
            describe('[cli]', cli, DRIVER_ONLY)
        run_on(c, args.host or c.hosts[0], venv)
    except CloudError as e:
        print('driver-half: ERROR: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
