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
"""The mini-cloud: bring it up, check it, tear it down.

``Cloud(mode='fake')`` runs MariaDB, RabbitMQ, keystone, placement, glance,
neutron (API only), nova-api, nova-conductor, nova-scheduler and two
nova-compute services (compute1, compute2) with nova's
``fake.FakeLiveMigrateDriver``, all on 127.0.0.1, as plain processes (no
systemd needed). ``Cloud(mode='libvirt')`` runs the same control plane and two
nova-compute services with our driver on the libvirtds of a HostPair (see
``testbed.cloud.computes``).

This is the front the tests and the demo use. What the services are lives in
:mod:`~testbed.cloud.services`, how they are started and stopped in
:mod:`~testbed.cloud.supervise`, the one-off setup steps in
:mod:`~testbed.cloud.bootstrap`.
"""

import functools
import os
import re
import shutil
import sys
import time

from testbed.cloud import api
from testbed.cloud import bootstrap
from testbed.cloud import cli
from testbed.cloud import computes
from testbed.cloud import layout as lay
from testbed.cloud import probes
from testbed.cloud import procs
from testbed.cloud import render
from testbed.cloud import services as svc
from testbed.cloud import supervise
from testbed import machine_lock

# How nova-manage placement audit names an orphaned consumer.
AUDIT_CONSUMER = re.compile(
    r'Allocations were set against consumer UUID ([0-9a-f-]{36})'
)


def _serialised(method):
    """Run a command holding the work folder's lock: two ups at once would
    start everything twice and kill each other's half-built databases.
    Re-entrant within one Cloud (``up`` calls ``down`` and ``reset``).
    """

    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        if self._lock_depth:
            return method(self, *args, **kwargs)
        with machine_lock.held(
            self.layout.path('.lock'),
            'testbed.cloud %s (%s mode)' % (method.__name__, self.mode),
            say=self.say,
            what='the cloud in %s' % self.layout.base,
        ):
            self._lock_depth += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                self._lock_depth -= 1

    return locked


class Cloud:
    """One mini-cloud rooted at a work folder (see ``testbed.cloud.layout``).

    :param mode: ``'fake'`` (nova's fake driver) or ``'libvirt'`` (our
        driver on two namespaced libvirtds).
    :param base: work folder; default ``$LIVEMIGRATE_CLOUD_DIR`` or
        ``/srv/osc-livemigrate/cloud``.
    :param say: callable for progress lines (default: print to stderr).
    :param openstack_bin: the ``openstack`` executable for :meth:`openstack`.
    :param owner: if set, every ``server create`` run through
        :meth:`openstack` marks the server as this owner's (see
        :mod:`testbed.cloud.session`), so that a test session can tell its
        own servers from the demo's or an operator's.
    """

    def __init__(
        self,
        mode='fake',
        base=None,
        say=None,
        openstack_bin=None,
        owner=None,
    ):
        self.layout = lay.Layout.from_env(mode=mode, base=base)
        self.mode = mode
        self._say = say or (
            lambda msg: print(msg, file=sys.stderr, flush=True)
        )
        self.table = procs.ProcessTable(
            self.layout.path('run', 'processes.json'),
            marker=self.layout.base,
            # every daemon works in run/ or state/, which nobody else uses
            cwd_roots=(self.layout.run, self.layout.state),
        )
        self.owner = owner
        self.cli = cli.AdminCli(self.layout, owner, openstack_bin)
        self._connection = None
        self._lock_depth = 0
        self.timings = {}
        self.hosts = self.layout.compute_hosts
        self.pair = (
            computes.pair_for(self.layout) if mode == 'libvirt' else None
        )
        self.services = svc.table(self.layout)
        self.supervisor = supervise.Supervisor(
            self.layout,
            self.table,
            self.pair,
            probes.Probes(self.layout, self.connection),
            self._timed,
        )
        self.bootstrap = bootstrap.Bootstrap(
            self.layout,
            self.pair,
            self.supervisor.env,
            self.connection,
            self._timed,
            self.say,
        )

    def say(self, msg):
        self._say('testbed.cloud: ' + msg)

    def _timed(self, label, t0):
        dt = time.monotonic() - t0
        self.timings[label] = round(dt, 1)
        os.makedirs(self.layout.logs, exist_ok=True)
        with open(self.layout.path('logs', 'times.txt'), 'a') as f:
            f.write('%s %s %.1f\n' % (time.strftime('%H:%M:%S'), label, dt))
        return dt

    def _step(self, step):
        return [s for s in self.services if s.starts == step]

    def _names(self, *steps):
        return ', '.join(s.name for step in steps for s in self._step(step))

    # ------------------------------------------------------------ clients
    def env(self):
        """OS_* variables for the ``openstack`` CLI as the cloud's admin."""
        return self.layout.admin_env()

    @property
    def openstack_bin(self):
        return self.cli.binary

    def openstack(self, *args, check=True, timeout=600):
        """Run the ``openstack`` CLI as admin (:class:`cli.AdminCli`)."""
        return self.cli.run(*args, check=check, timeout=timeout)

    def openstack_json(self, *args, **kw):
        return self.cli.json(*args, **kw)

    def connection(self, fresh=False):
        """The admin's openstacksdk connection (``conn.compute`` ...), made
        once; fresh: authenticate again (e.g. to see a new catalog).
        """
        if self._connection is None or fresh:
            self._connection = api.connect(self.layout)
        return self._connection

    # ------------------------------------------------------------ commands
    def install(self, extras=True):
        """Debian packages and the three venvs; a no-op when all are in
        place.

        :param extras: also the libvirt mode's extras (libvirt-python and
            our package in the nova venv); ``False`` installs only what
            every mode shares, without touching what a running cloud uses.
        """
        t0 = time.monotonic()
        if self.bootstrap.install(extras=extras):
            self._timed('install', t0)

    @_serialised
    def up(self):
        """Bring every service up (idempotent); return the seconds it took."""
        t0 = time.monotonic()
        self.timings = {}
        self.install()
        if self.running():
            self.say(
                'already up (%s mode); admin credentials in %s'
                % (self.mode, self.layout.openrc)
            )
            return time.monotonic() - t0
        boot, sup = self.bootstrap, self.supervisor
        lost = [
            h
            for h in self.hosts
            if self.mode == 'fake'
            and boot.stamped('registered-' + h)
            and not self.table.pid(svc.compute_name(h))
        ]
        if lost:
            # The fake driver keeps guests in memory and reports a new random
            # node UUID per process, so its nova-compute cannot be restarted
            # on old state.
            self.say(
                '%s not running: fake-mode computes cannot restart on old '
                'state, so starting a fresh cloud'
                % ', '.join(svc.compute_name(h) for h in lost)
            )
            self.down(quiet=True)
            self.reset(quiet=True)
        # NOTE: a line per stage: a fresh bring-up takes minutes, and the
        # demo's user should see which stage it is in
        self.say(
            'starting %s (%s mode)'
            % (self._names('backing', 'broker'), self.mode)
        )
        boot.prepare()
        boot.init_database()
        sup.run(self._step('backing'))
        broker = sup.start(self._step('broker'))
        self.say('creating the databases and schemas')
        boot.create_databases()
        boot.schemas()  # while RabbitMQ starts
        sup.wait(broker)
        self.say('starting %s' % self._names('identity'))
        sup.run(self._step('identity'))
        boot.keystone_objects()
        self.say('starting %s' % self._names('apis', 'nova'))
        sup.run(self._step('apis'))
        # computes started before the conductor answers sit out a retry
        # interval (about 10 s), so start them only once it does
        sup.run(self._step('nova'))
        if self.pair is not None:
            self._ensure_pair()
        self.say('starting %s' % self._names('computes'))
        sup.run(self._step('computes'))
        for host in self.hosts:
            boot.stamp('registered-' + host)
        self.say('mapping the computes; seeding flavors, images, a network')
        boot.discover_hosts()
        boot.seed()
        total = self._timed('up', t0)
        self.say(
            'up in %.0f s (%s mode); admin credentials in %s'
            % (total, self.mode, self.layout.openrc)
        )
        return total

    def _ensure_pair(self):
        """Start the HostPair unless both libvirtds run; computes started on
        a pair that is gone are stopped first (their libvirtd went away).
        """
        if computes.pair_running(self.pair):
            return
        t0 = time.monotonic()
        self.table.stop_many(
            [s.name for s in self._step('computes')], timeout=10
        )
        self.say(
            'starting libvirt hosts %s (%s)'
            % (', '.join(self.hosts), self.pair.subnet + '.0/24')
        )
        computes.pair_command(
            self.layout, self.pair, 'up', self.layout.log('libvirt-hosts')
        )
        self._timed('libvirt-hosts', t0)

    def status(self):
        """[(service, pid or None, answers: bool, detail)] for every
        service.
        """
        self._connection = None
        return self.supervisor.status(self.services)

    def running(self):
        """Say whether every service (and the host pair) answers."""
        if not os.path.exists(self.layout.path('run', 'processes.json')):
            return False
        if not self.bootstrap.seeded():
            return False
        if self.pair is not None and not computes.pair_running(self.pair):
            return False
        return all(ok for _, _, ok, _ in self.status())

    @_serialised
    def down(self, quiet=False):
        """Stop everything this cloud started; return the names that were
        running.
        """
        stopped, strays = self.supervisor.stop(self.services)
        if self.pair is not None:
            computes.pair_command(
                self.layout,
                self.pair,
                'down',
                self.layout.log('libvirt-hosts'),
            )
        if not quiet:
            self.say(
                'stopped %s'
                % (', '.join(stopped) if stopped else 'nothing (not running)')
                + (
                    '; also ended %d stray process(es) %s'
                    % (len(strays), strays)
                    if strays
                    else ''
                )
            )
        self._connection = None
        return stopped

    @_serialised
    def reset(self, quiet=False):
        """Stop everything and wipe all state; the venvs and packages are
        kept, and the logs as ``logs.previous`` until the next reset.
        """
        self.down(quiet=True)
        # NOTE: the last cloud's logs are kept through one reset: a fault
        # that made a test session start a fresh cloud leaves its trail
        kept = self.layout.logs + '.previous'
        if os.path.isdir(self.layout.logs):
            shutil.rmtree(kept, ignore_errors=True)
            os.rename(self.layout.logs, kept)
        for path in self.layout.volatile:
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        if not quiet:
            self.say(
                'wiped %s (venvs kept; the last logs in %s)'
                % (', '.join(self.layout.volatile), kept)
            )

    # ------------------------------------------------------------ overrides
    def overrides(self):
        """{'keystone'|'compute': text} of the overrides in force."""
        out = {}
        for what in ('keystone', 'compute'):
            path = svc.override_path(self.layout, what)
            if os.path.exists(path):
                with open(path) as f:
                    out[what] = f.read()
        return out

    @_serialised
    def reconfigure(self, keystone=None, compute=None):
        """Restart keystone and/or both computes with extra config sections
        (``{'token': {'expiration': 30}}``); None drops an override. Only
        the services whose override changed restart. Tests of token expiry
        and service-user tokens use this; it lasts until changed again or
        ``reset``. Returns the names restarted.
        """
        restart = []
        changed = set()
        current = self.overrides()
        for what, sections in (('keystone', keystone), ('compute', compute)):
            path = svc.override_path(self.layout, what)
            text = render.ini(sections) if sections else None
            if current.get(what) == text:
                continue
            changed.add(what)
            if text is None:
                os.remove(path)
            else:
                bootstrap.write(path, text)
            restart += [
                s.name
                for s in self._step(
                    'identity' if what == 'keystone' else 'computes'
                )
            ]
        if not restart:
            return []
        t0 = time.monotonic()
        if self.pair is not None and 'compute' in changed:
            # NOTE: a kept cloud's computes restart on today's base config
            # too (a new [livemigrate] option, say), not only the override
            for rel, text in computes.compute_files(
                self.layout, self.pair
            ).items():
                bootstrap.write(os.path.join(self.layout.etc, rel), text)
        self.table.stop_many(restart, timeout=20)
        self.supervisor.run([s for s in self.services if s.name in restart])
        self._connection = None
        self._timed('reconfigure', t0)
        return restart

    def orphaned_allocations(self, delete=False):
        """The consumer UUIDs of placement allocations that belong to no
        instance and no migration in progress, deleted if ``delete``.

        Stock nova leaves the source's migration allocation behind when
        ``_post_live_migration`` fails; the driver releases it
        (``nova_ext.compute.allocations``), and the test session fails
        when any leak is left at its end (``testbed.cloud.session.borrowed``).
        This runs the operator's tool for it, ``nova-manage placement
        audit``.
        """
        what = 'placement audit --delete' if delete else 'placement audit'
        r = procs.run_logged(
            self.bootstrap.nova_manage()
            + ['placement', 'audit', '--verbose']
            + (['--delete'] if delete else []),
            self.layout.log('placement-audit'),
            'nova-manage',
            '%s failed' % what,
            env=self.supervisor.env(),
            # 0: nothing found; 3: found (kept); 4: found and deleted
            ok=(0, 4) if delete else (0, 3),
            capture=True,
        )
        return sorted(set(AUDIT_CONSUMER.findall(r.stdout)))

    def release_orphaned_allocations(self):
        """Delete the orphaned allocations; return their consumer UUIDs."""
        return self.orphaned_allocations(delete=True)

    def rss_bytes(self):
        """Summed RSS of every live process of this cloud, the HostPair's
        libvirtds and guests included (shared pages count twice).
        """
        pids = set(self.table.our_pids())
        if self.pair is not None:  # libvirtds, QEMUs, anchors
            pids.update(self.pair.processes())
        return procs.rss_bytes(pids)
