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
"""

import concurrent.futures
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time

from testbed.cloud import computes
from testbed.cloud import install
from testbed.cloud import layout as lay
from testbed.cloud import procs
from testbed.cloud.procs import CloudError
from testbed.cloud import render
from testbed.cloud import rest
from testbed.cloud import seed

# How nova-manage placement audit names an orphaned consumer.
AUDIT_CONSUMER = re.compile(
    r'Allocations were set against consumer UUID ([0-9a-f-]{36})'
)

# Which venv serves which API.
API_VENV = {
    'keystone': 'main',
    'placement': 'main',
    'nova-api': 'main',
    'glance': 'glance',
    'neutron': 'neutron',
}
NOVA_DAEMONS = ('nova-conductor', 'nova-scheduler')


def compute_name(host):
    return 'nova-compute-%s' % host


def service_names(hosts=lay.COMPUTE_HOSTS):
    """Every long-running service, in start order."""
    return (
        [
            'mariadb',
            'rabbitmq',
            'keystone',
            'placement',
            'glance',
            'neutron',
            'nova-api',
        ]
        + list(NOVA_DAEMONS)
        + [compute_name(h) for h in hosts]
    )


class Cloud:
    """One mini-cloud rooted at a work folder (see ``testbed.cloud.layout``).

    :param mode: ``'fake'`` (nova's fake driver) or ``'libvirt'`` (our
        driver on two namespaced libvirtds).
    :param base: work folder; default ``$LIVEMIGRATE_CLOUD_DIR`` or
        ``/srv/osc-livemigrate/cloud``.
    :param say: callable for progress lines (default: print to stderr).
    :param openstack_bin: the ``openstack`` executable for :meth:`openstack`.
    """

    def __init__(self, mode='fake', base=None, say=None, openstack_bin=None):
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
        self._openstack_bin = openstack_bin
        self._session = None
        self._lock_depth = 0
        self.timings = {}
        self.hosts = self.layout.compute_hosts
        self.pair = (
            computes.pair_for(self.layout) if mode == 'libvirt' else None
        )

    # ------------------------------------------------------------ helpers
    def say(self, msg):
        self._say('testbed.cloud: ' + msg)

    def _stamp_path(self, name):
        return self.layout.path('state', 'stamps', name)

    def _stamped(self, name):
        return os.path.exists(self._stamp_path(name))

    def _stamp(self, name):
        path = self._stamp_path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(time.strftime('%Y-%m-%dT%H:%M:%S\n'))

    def _timed(self, label, t0):
        dt = time.monotonic() - t0
        self.timings[label] = round(dt, 1)
        os.makedirs(self.layout.logs, exist_ok=True)
        with open(self.layout.path('logs', 'times.txt'), 'a') as f:
            f.write('%s %s %.1f\n' % (time.strftime('%H:%M:%S'), label, dt))
        return dt

    def _run(
        self, service, argv, env=None, input_text=None, step=None, ok=(0,)
    ):
        """Run a one-off setup step; its output goes to
        logs/setup-<service>.log.
        """
        log = self.layout.log('setup-' + service)
        os.makedirs(self.layout.logs, exist_ok=True)
        with open(log, 'ab') as out:
            out.write(('\n$ %s\n' % ' '.join(argv)).encode())
            out.flush()
            r = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env(env),
                input=input_text.encode() if input_text else None,
                stdin=None if input_text else subprocess.DEVNULL,
            )
        if r.returncode not in ok:
            raise CloudError(
                service,
                'setup step %r failed (exit %d; if an earlier up was '
                'interrupted, run reset first)'
                % (step or os.path.basename(argv[0]), r.returncode),
                log,
            )

    def _env(self, extra=None):
        env = dict(os.environ)
        env.update(render.wsgi_env(self.layout))
        env.update(extra or {})
        return env

    def _bin(self, venv, prog):
        return self.layout.venv_bin(venv, prog)

    # ------------------------------------------------------------ API
    def env(self):
        """OS_* variables for the ``openstack`` CLI as the cloud's admin."""
        return self.layout.admin_env()

    @property
    def openstack_bin(self):
        if self._openstack_bin:
            return self._openstack_bin
        if os.environ.get('LIVEMIGRATE_OPENSTACK'):
            return os.environ['LIVEMIGRATE_OPENSTACK']
        beside = os.path.join(os.path.dirname(sys.executable), 'openstack')
        if os.path.exists(beside):
            return beside
        return self._bin('main', 'openstack')

    def openstack(self, *args, check=True, timeout=600):
        """Run the ``openstack`` CLI as admin; return its CompletedProcess
        (text).

        :raises subprocess.CalledProcessError: if check and the CLI fails (the
            message carries its stderr).
        """
        env = dict(os.environ)
        env.update(self.env())
        env.setdefault('PYTHONWARNINGS', 'ignore')
        r = subprocess.run(
            [self.openstack_bin] + [str(a) for a in args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise subprocess.CalledProcessError(
                r.returncode,
                r.args,
                r.stdout,
                r.stderr
                + '\n(openstack %s failed: %s)'
                % (' '.join(args), r.stderr.strip()[-500:]),
            )
        return r

    def openstack_json(self, *args, **kw):
        return json.loads(
            self.openstack(*(args + ('-f', 'json')), **kw).stdout
        )

    def session(self, fresh=False):
        if self._session is None or fresh:
            self._session = rest.Session(
                self.layout.auth_url, 'admin', lay.ADMIN_PASSWORD, 'admin'
            )
        return self._session

    # ------------------------------------------------------------ install
    def install(self):
        """Debian packages and the three venvs; a no-op when all are in
        place.
        """
        t0 = time.monotonic()
        os.makedirs(self.layout.logs, exist_ok=True)
        # apt and the three pip installs are independent: run them side by side
        steps = [
            lambda: install.ensure_apt(
                self.layout.log('setup-apt'), say=self.say
            )
        ] + [
            lambda venv=venv: install.ensure_venv(
                self.layout.venv(venv),
                venv,
                self.layout.log('setup-pip-' + venv),
                say=self.say,
            )
            for venv in install.VENVS
        ]
        done = any(self._parallel(steps))
        if self.mode == 'libvirt':
            done |= computes.ensure_extras(
                self.layout,
                self.layout.log('setup-install-libvirt'),
                say=self.say,
            )
        if done:
            self._timed('install', t0)

    # ------------------------------------------------------------ up
    @contextlib.contextmanager
    def _exclusive(self):
        """Serialise up/down/reset on one work folder across processes (two
        ups at once would start everything twice and kill each other's
        half-built databases). Re-entrant within one Cloud object.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        os.makedirs(self.layout.base, exist_ok=True)
        with open(self.layout.path('.lock'), 'a+') as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.say(
                    'waiting for another testbed.cloud command on %s'
                    % self.layout.base
                )
                fcntl.flock(f, fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(f, fcntl.LOCK_UN)

    def up(self):
        """Bring every service up (idempotent); return the seconds it took."""
        with self._exclusive():
            return self._up()

    def _up(self):
        """Bring every service up (idempotent); return the seconds it took."""
        t0 = time.monotonic()
        self.timings = {}
        self.install()
        if self._everything_answers():
            self.say(
                'already up (%s mode); admin credentials in %s'
                % (self.mode, self.layout.openrc)
            )
            return time.monotonic() - t0
        lost = [
            h
            for h in self.hosts
            if self.mode == 'fake'
            and self._stamped('registered-' + h)
            and not self.table.pid(compute_name(h))
        ]
        if lost:
            # The fake driver keeps guests in memory and reports a new random
            # node UUID per process, so its nova-compute cannot be restarted
            # on old state.
            self.say(
                '%s not running: fake-mode computes cannot restart on old '
                'state, so starting a fresh cloud'
                % ', '.join(compute_name(h) for h in lost)
            )
            self.down(quiet=True)
            self.reset(quiet=True)
        self._prepare()
        rabbit = self._backing()
        # the database schemas do not depend on each other (nor on RabbitMQ,
        # which is still starting): build them side by side
        self._parallel(
            [
                self._keystone_db,
                self._placement_db,
                self._glance_db,
                self._neutron_db,
                self._nova_db,
            ]
        )
        self._wait_daemons(rabbit)
        self._daemons([self._api_spec('keystone')])
        self._keystone_objects_once()
        self._daemons(
            [
                self._api_spec(s)
                for s in ('placement', 'glance', 'neutron', 'nova-api')
            ]
        )
        # computes started before the conductor answers sit out a retry
        # interval (about 10 s), so start them only once it does
        self._daemons([self._nova_spec(n) for n in NOVA_DAEMONS])
        if self.pair is not None:
            self._ensure_pair()
        self._daemons([self._compute_spec(h) for h in self.hosts])
        for host in self.hosts:
            self._stamp('registered-' + host)
        self._discover_hosts()
        self._seed()
        total = self._timed('up', t0)
        self.say(
            'up in %.0f s (%s mode); admin credentials in %s'
            % (total, self.mode, self.layout.openrc)
        )
        return total

    def _prepare(self):
        lo = self.layout
        for d in (lo.etc, lo.state, lo.logs, lo.run, lo.path('run', 'wsgi')):
            os.makedirs(d, exist_ok=True)
        files = render.all_files(lo)
        if self.pair is not None:
            files.update(computes.compute_files(lo, self.pair))
        for rel, text in files.items():
            _write(os.path.join(lo.etc, rel), text)
        for service, venv, src in (
            ('glance', 'glance', 'etc/glance/glance-api-paste.ini'),
            ('neutron', 'neutron', 'etc/neutron/api-paste.ini'),
            ('nova', 'main', 'etc/nova/api-paste.ini'),
        ):
            shutil.copyfile(
                os.path.join(lo.venv(venv), src),
                os.path.join(lo.etc, service, os.path.basename(src)),
            )
        for service in render.WSGI_MODULES:
            _write(
                lo.path(
                    'run', 'wsgi', render.wsgi_module_name(service) + '.py'
                ),
                render.wsgi_shim(service),
            )
        _write(lo.openrc, render.openrc(lo))
        for sub in (
            'glance/images',
            'glance/staging',
            'glance/tasks',
            'glance/lock',
            'neutron/lock',
            'nova/lock',
            'rabbitmq',
        ):
            os.makedirs(lo.path('state', sub), exist_ok=True)
        for host in self.hosts:
            os.makedirs(lo.path('state', host, 'instances'), exist_ok=True)
        st = lo.path('state', 'rabbitmq')
        _write(os.path.join(st, 'rabbitmq.conf'), render.rabbitmq_conf(lo))
        _write(os.path.join(st, 'enabled_plugins'), '[].\n')
        _write(
            os.path.join(st, 'rabbitmq-env.conf'),
            '# all settings come from the environment\n',
        )

    @staticmethod
    def _parallel(steps):
        """Run steps in threads; raise the first CloudError (in list order)."""
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=len(steps)
        ) as pool:
            futures = [pool.submit(step) for step in steps]
        return [f.result() for f in futures]

    def _daemons(self, specs):
        """Start every service of specs that is not running yet, then wait
        until each answers. A spec is a dict: name, argv, probe, timeout, [env,
        port, cwd].
        """
        self._wait_daemons(self._start_daemons(specs))

    def _start_daemons(self, specs):
        """Start the services of specs that are not running; return what
        _wait_daemons needs to wait for all of them.
        """
        waits = []
        for spec in specs:
            name = spec['name']
            log = self.layout.log(name)
            pid = self.table.pid(name)
            if pid:
                waits.append((spec, log, None, pid, None))
                continue
            port = spec.get('port')
            if port is not None and not procs.port_owner_free(lay.HOST, port):
                raise CloudError(
                    name,
                    'port %s:%d is already in use by a process this '
                    'cloud did not start' % (lay.HOST, port),
                    log,
                )
            t0 = time.monotonic()
            proc = self.table.start(
                name,
                spec['argv'],
                log,
                env=self._env(spec.get('env')),
                cwd=spec.get('cwd'),
            )
            waits.append((spec, log, proc, None, t0))
        return waits

    def _wait_daemons(self, waits):
        for spec, log, proc, pid, t0 in waits:
            procs.wait_until(
                spec['name'],
                spec['probe'],
                log,
                spec['timeout'],
                proc=proc,
                pid=pid,
            )
            if t0 is not None:
                self._timed('start-' + spec['name'], t0)

    def _once(self, stamp, label, fn):
        """Run a setup step unless its stamp says it is done; stamp it
        after.
        """
        if self._stamped(stamp):
            return
        t0 = time.monotonic()
        fn()
        self._stamp(stamp)
        self._timed(label, t0)

    # --- backing services
    def _backing(self):
        lo = self.layout
        datadir = lo.path('state', 'mysql')
        if not os.path.isdir(os.path.join(datadir, 'mysql')):
            t0 = time.monotonic()
            self._run(
                'mariadb',
                [
                    'mariadb-install-db',
                    '--no-defaults',
                    '--user=root',
                    '--datadir=' + datadir,
                    '--skip-test-db',
                    '--auth-root-authentication-method=socket',
                ],
                step='mariadb-install-db',
            )
            self._timed('mariadb-install-db', t0)
        env = render.rabbitmq_env(lo)
        # our own epmd in the foreground first, so RabbitMQ does not daemonize
        # one
        self._daemons(
            [
                dict(
                    name='epmd',
                    argv=render.epmd_argv(lo),
                    env=env,
                    probe=lambda: procs.probe_tcp(lay.HOST, lo.ports['epmd']),
                    timeout=20,
                    port=lo.ports['epmd'],
                )
            ]
        )
        self._daemons(
            [
                dict(
                    name='mariadb',
                    argv=render.mariadb_argv(lo),
                    port=lo.ports['mariadb'],
                    probe=lambda: procs.probe_mysql(
                        lay.HOST, lo.ports['mariadb']
                    ),
                    timeout=60,
                ),
            ]
        )
        rabbit = self._start_daemons(
            [
                dict(
                    name='rabbitmq',
                    argv=['/usr/lib/rabbitmq/bin/rabbitmq-server'],
                    env=env,
                    cwd=lo.path('state', 'rabbitmq'),
                    port=lo.ports['rabbitmq'],
                    probe=lambda: procs.probe_amqp(
                        lay.HOST, lo.ports['rabbitmq']
                    ),
                    timeout=120,
                ),
            ]
        )
        self._once(
            'mariadb-databases',
            'mariadb-databases',
            lambda: self._run(
                'mariadb',
                [
                    'mariadb',
                    '--no-defaults',
                    '--user=root',
                    '--socket=' + lo.mysql_socket,
                ],
                input_text=render.mariadb_bootstrap_sql(),
                step='create databases',
            ),
        )
        return rabbit

    # --- database schemas (run side by side)
    def _keystone_db(self):
        lo = self.layout
        km = [
            self._bin('main', 'keystone-manage'),
            '--config-file',
            lo.path('etc', 'keystone', 'keystone.conf'),
        ]

        def setup():
            for d in ('fernet-keys', 'credential-keys'):
                os.makedirs(lo.path('etc', 'keystone', d), exist_ok=True)
            self._run(
                'keystone', km + ['db_sync'], step='keystone-manage db_sync'
            )
            for what in ('fernet_setup', 'credential_setup'):
                self._run(
                    'keystone',
                    km
                    + [
                        what,
                        '--keystone-user',
                        'root',
                        '--keystone-group',
                        'root',
                    ],
                    step=what,
                )
            url = lo.auth_url + '/'
            self._run(
                'keystone',
                km
                + [
                    'bootstrap',
                    '--bootstrap-password',
                    lay.ADMIN_PASSWORD,
                    '--bootstrap-region-id',
                    lay.REGION,
                    '--bootstrap-admin-url',
                    url,
                    '--bootstrap-internal-url',
                    url,
                    '--bootstrap-public-url',
                    url,
                ],
                step='keystone-manage bootstrap',
            )

        self._once('keystone-db', 'keystone-setup', setup)

    def _placement_db(self):
        self._once(
            'placement-db',
            'placement-setup',
            lambda: self._run(
                'placement',
                [
                    self._bin('main', 'placement-manage'),
                    '--config-dir',
                    self.layout.path('etc', 'placement'),
                    'db',
                    'sync',
                ],
                step='placement-manage db sync',
            ),
        )

    def _glance_db(self):
        self._once(
            'glance-db',
            'glance-setup',
            lambda: self._run(
                'glance',
                [
                    self._bin('glance', 'glance-manage'),
                    '--config-file',
                    self.layout.path('etc', 'glance', 'glance-api.conf'),
                    'db_sync',
                ],
                step='glance-manage db_sync',
            ),
        )

    def _neutron_db(self):
        etc = self.layout.path('etc', 'neutron')
        self._once(
            'neutron-db',
            'neutron-setup',
            lambda: self._run(
                'neutron',
                [
                    self._bin('neutron', 'neutron-db-manage'),
                    '--config-file',
                    etc + '/neutron.conf',
                    '--config-file',
                    etc + '/plugins/ml2/ml2_conf.ini',
                    'upgrade',
                    'heads',
                ],
                step='neutron-db-manage upgrade heads',
            ),
        )

    def _nova_manage(self):
        return [self._bin('main', 'nova-manage')] + self._nova_conf_args()

    def _nova_db(self):
        def setup():
            for args in (
                ['api_db', 'sync'],
                ['cell_v2', 'map_cell0'],
                ['cell_v2', 'create_cell', '--name=cell1'],
                ['db', 'sync'],
            ):
                self._run(
                    'nova',
                    self._nova_manage() + args,
                    step='nova-manage ' + ' '.join(args),
                    # create_cell exits 2 when cell1 exists already (a rerun
                    # after an interrupted setup); every other step is
                    # idempotent
                    ok=(0, 2) if 'create_cell' in args else (0,),
                )

        self._once('nova-db', 'nova-setup', setup)

    # --- keystone objects
    def _keystone_objects_once(self):
        def setup():
            try:
                seed.keystone_objects(self.session(fresh=True), self.layout)
                # nova caches its service catalog and would not see an
                # endpoint added later: all exist before any nova service
                self.session(fresh=True)  # pick up the new catalog
            except (rest.RestError, OSError, KeyError) as e:
                raise CloudError(
                    'keystone',
                    'creating users and endpoints failed: %s' % e,
                    self.layout.log('keystone'),
                )

        self._once('keystone-objects', 'keystone-objects', setup)

    # --- service specs
    def _api_spec(self, service):
        lo = self.layout
        url = lo.url(service, '/v3/' if service == 'keystone' else '/')
        spec = dict(
            name=service,
            argv=render.gunicorn_argv(lo, service, API_VENV[service]),
            probe=lambda: procs.probe_http(url),
            timeout=120,
            port=lo.ports[service],
        )
        override = self._override_path('keystone')
        if service == 'keystone' and os.path.exists(override):
            spec['env'] = {
                'OS_KEYSTONE_CONFIG_FILES': '%s;%s'
                % (render.wsgi_env(lo)['OS_KEYSTONE_CONFIG_FILES'], override)
            }
        return spec

    def _nova_conf_args(self, db=True):
        etc = self.layout.path('etc', 'nova')
        args = ['--config-file', etc + '/nova.conf']
        if db:
            args += ['--config-file', etc + '/nova-db.conf']
        return args

    def _nova_spec(self, name):
        return dict(
            name=name,
            argv=[self._bin('main', name)]
            + self._nova_conf_args()
            + ['--log-file', self.layout.log(name)],
            probe=lambda: self._probe_nova_service(name),
            timeout=120,
        )

    def _compute_spec(self, host):
        name = compute_name(host)
        override = self._override_path('compute')
        extra = [override] if os.path.exists(override) else []
        if self.pair is not None:
            return dict(
                name=name,
                argv=computes.compute_argv(
                    self.layout,
                    self.pair,
                    host,
                    self.layout.log(name),
                    extra_conf=extra,
                ),
                probe=lambda: self._probe_nova_service('nova-compute', host),
                # a cold libvirt compute probes QEMU and registers in placement
                timeout=240,
            )
        return dict(
            name=name,
            argv=[self._bin('main', 'nova-compute')]
            + self._nova_conf_args(db=False)
            + [
                '--config-file',
                self.layout.path('etc', 'nova', 'compute-%s.conf' % host),
            ]
            + [a for f in extra for a in ('--config-file', f)]
            + [
                '--log-file',
                self.layout.log(name),
            ],
            probe=lambda: self._probe_nova_service('nova-compute', host),
            timeout=180,
        )

    def _discover_hosts(self, timeout=120):
        """Map the computes into cell1 until nova-api lists both hypervisors.

        A compute's service record appears before its compute node row, so one
        discover_hosts run right after start-up may map nothing: repeat it.
        """
        t0 = time.monotonic()
        missing = self._unmapped_hosts()
        while missing:
            self._run(
                'nova',
                self._nova_manage() + ['cell_v2', 'discover_hosts'],
                step='nova-manage cell_v2 discover_hosts',
            )
            missing = self._unmapped_hosts()
            if missing and time.monotonic() - t0 > timeout:
                raise CloudError(
                    compute_name(missing[0]),
                    'no hypervisor listed by nova-api '
                    '%ds after start' % timeout,
                    self.layout.log(compute_name(missing[0])),
                )
            if missing:
                time.sleep(1)
        self._timed('discover-hosts', t0)

    def _unmapped_hosts(self):
        try:
            hyps = self.session().get('compute', '/os-hypervisors')[
                'hypervisors'
            ]
        except rest.RestError:
            hyps = []
        listed = {h['hypervisor_hostname'] for h in hyps}
        return [h for h in self.hosts if h not in listed]

    def _probe_nova_service(self, binary, host=None):
        """None if nova-api lists the service as enabled and up."""
        try:
            path = '/os-services?binary=%s' % binary
            if host:
                path += '&host=%s' % host
            services = self.session().get('compute', path)['services']
        except Exception as e:  # any failure just means "not yet"
            return 'cannot ask nova-api for %s (%s)' % (binary, e)
        if any(s['state'] == 'up' for s in services):
            return None
        return '%s is not reported up by nova-api' % binary

    def _probe_compute(self, host):
        reason = self._probe_nova_service('nova-compute', host)
        if reason:
            return reason
        try:
            hyps = self.session().get(
                'compute',
                '/os-hypervisors?hypervisor_hostname_pattern=%s' % host,
            )
        except rest.RestError as e:
            return 'no hypervisor %s yet (%s)' % (host, e.status)
        if not hyps.get('hypervisors'):
            return 'no hypervisor %s yet' % host
        return None

    # --- flavors, image, network
    def _seed(self):
        if self._stamped('seeded'):
            return
        t0 = time.monotonic()
        s = self.session(fresh=True)
        try:
            have = seed.flavor_names(s)
            for flavor in seed.FLAVORS:
                seed.ensure_flavor(s, flavor, have)
            seed.image(s, self.layout.log('glance'))
            seed.network(s)
            if self.pair is not None:
                self._seed_libvirt(s, have)
        except (rest.RestError, OSError) as e:
            raise CloudError(
                'seed',
                'creating flavors, image or network failed: %s' % e,
                self.layout.log('setup-seed'),
            )
        self._stamp('seeded')
        self._timed('seed', t0)

    def _seed_libvirt(self, s, flavors):
        """The guest's flavor and one bootable disk image per workload."""
        seed.ensure_flavor(s, computes.FLAVOR, flavors)
        log = self.layout.log('setup-seed')
        os.makedirs(self.layout.logs, exist_ok=True)

        def say(line):
            with open(log, 'a') as f:
                f.write(line + '\n')

        try:
            computes.ensure_images(s, log=say)
        except RuntimeError as e:
            raise CloudError('seed', 'guest disk images: %s' % e, log)

    def _ensure_pair(self):
        """Start the HostPair unless both libvirtds run; computes started on
        a pair that is gone are stopped first (their libvirtd went away).
        """
        if computes.pair_running(self.pair):
            return
        t0 = time.monotonic()
        self.table.stop_many([compute_name(h) for h in self.hosts], timeout=10)
        self.say(
            'starting libvirt hosts %s (%s)'
            % (', '.join(self.hosts), self.pair.subnet + '.0/24')
        )
        computes.pair_command(
            self.layout, self.pair, 'up', self.layout.log('libvirt-hosts')
        )
        self._timed('libvirt-hosts', t0)

    # ------------------------------------------------------------ status
    def status(self):
        """[(service, pid or None, answers: bool, detail)] for every
        service.
        """
        lo = self.layout
        http = {
            s: lo.url(s, '/v3/' if s == 'keystone' else '/') for s in API_VENV
        }
        out = []
        self._session = None
        for name in ['epmd'] + service_names(self.hosts):
            pid = self.table.pid(name)
            if name == 'mariadb':
                reason = procs.probe_mysql(lay.HOST, lo.ports['mariadb'])
            elif name == 'epmd':
                reason = procs.probe_tcp(lay.HOST, lo.ports['epmd'])
            elif name == 'rabbitmq':
                reason = procs.probe_amqp(lay.HOST, lo.ports['rabbitmq'])
            elif name in http:
                reason = procs.probe_http(http[name])
            elif name in NOVA_DAEMONS:
                reason = self._probe_nova_service(name)
            else:
                reason = self._probe_compute(name[len('nova-compute-') :])
            if pid is None:
                detail = 'not running (log: %s)' % lo.log(name)
                if reason is None:
                    detail = 'answers, but not started by this cloud'
                out.append((name, None, False, detail))
            else:
                out.append(
                    (
                        name,
                        pid,
                        reason is None,
                        'answers'
                        if reason is None
                        else reason + ' (log: %s)' % lo.log(name),
                    )
                )
        return out

    def _everything_answers(self):
        if not os.path.exists(self.layout.path('run', 'processes.json')):
            return False
        if not self._stamped('seeded'):
            return False
        if self.pair is not None and not computes.pair_running(self.pair):
            return False
        return all(ok for _, _, ok, _ in self.status())

    # ------------------------------------------------------------ overrides
    def _override_path(self, what):
        """Extra config file of keystone or of both computes (see
        reconfigure); read after the rendered files when it exists.
        """
        if what == 'keystone':
            return self.layout.path('etc', 'keystone', 'override.conf')
        return self.layout.path('etc', 'nova', 'compute-override.conf')

    def overrides(self):
        """{'keystone'|'compute': text} of the overrides in force."""
        out = {}
        for what in ('keystone', 'compute'):
            path = self._override_path(what)
            if os.path.exists(path):
                with open(path) as f:
                    out[what] = f.read()
        return out

    def reconfigure(self, keystone=None, compute=None):
        """Restart keystone and/or both computes with extra config sections
        (``{'token': {'expiration': 30}}``); None drops an override. Only
        the services whose override changed restart. Tests of token expiry
        and service-user tokens use this; it lasts until changed again or
        ``reset``. Returns the names restarted.
        """
        with self._exclusive():
            restart = []
            current = self.overrides()
            for what, sections in (
                ('keystone', keystone),
                ('compute', compute),
            ):
                path = self._override_path(what)
                text = render.ini(sections) if sections else None
                if current.get(what) == text:
                    continue
                if text is None:
                    os.remove(path)
                else:
                    _write(path, text)
                restart += (
                    ['keystone']
                    if what == 'keystone'
                    else [compute_name(h) for h in self.hosts]
                )
            if not restart:
                return []
            t0 = time.monotonic()
            self.table.stop_many(restart, timeout=20)
            if 'keystone' in restart:
                self._daemons([self._api_spec('keystone')])
            self._daemons(
                [
                    self._compute_spec(h)
                    for h in self.hosts
                    if compute_name(h) in restart
                ]
            )
            self._session = None
            self._timed('reconfigure', t0)
            return restart

    def release_orphaned_allocations(self):
        """Delete placement allocations that belong to no instance and no
        migration in progress; return their consumer UUIDs.

        Stock nova leaves the source's migration allocation behind when
        ``_post_live_migration`` fails (the token control test does that on
        purpose). The cloud's state outlives test sessions, so each such
        leak would shrink a host for good. This runs the operator's tool
        for it, ``nova-manage placement audit --delete``.
        """
        argv = self._nova_manage() + [
            'placement',
            'audit',
            '--delete',
            '--verbose',
        ]
        log = self.layout.log('placement-audit')
        os.makedirs(self.layout.logs, exist_ok=True)
        r = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self._env(),
            stdin=subprocess.DEVNULL,
        )
        with open(log, 'a') as f:
            f.write('\n$ %s\n%s%s' % (' '.join(argv), r.stdout, r.stderr))
        # 0: nothing found; 4: everything found was deleted
        if r.returncode not in (0, 4):
            raise CloudError(
                'nova-manage',
                'placement audit --delete exited %d' % r.returncode,
                log,
            )
        return sorted(set(AUDIT_CONSUMER.findall(r.stdout)))

    # ------------------------------------------------------------ down / reset
    def down(self, quiet=False):
        """Stop everything this cloud started; return the names that were
        running.
        """
        with self._exclusive():
            return self._down(quiet)

    def _down(self, quiet=False):
        """Stop everything this cloud started; return the names that were
        running.
        """
        stopped = []
        names = service_names(self.hosts)
        nova = [n for n in names if n.startswith('nova-')]
        apis = [n for n in names if n in API_VENV and n not in nova]
        # nova first (nova-compute may take minutes to stop gracefully, and its
        # guests are fake, so it gets 10 s), then the APIs, then the backing
        # services
        for stage, timeout in (
            (nova, 10),
            (apis, 20),
            (['rabbitmq', 'epmd'], 30),
            (['mariadb'], 60),
            (list(self.table.load()), 20),
        ):
            stopped += self.table.stop_many(stage, timeout=timeout)
        strays = self.table.kill_marked()
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
        self._session = None
        return stopped

    def reset(self, quiet=False):
        """Stop everything and wipe all state; the venvs and packages are
        kept.
        """
        with self._exclusive():
            return self._reset(quiet)

    def _reset(self, quiet=False):
        """Stop everything and wipe all state; the venvs and packages are
        kept.
        """
        self.down(quiet=True)
        for path in self.layout.volatile:
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        if not quiet:
            self.say('wiped %s (venvs kept)' % ', '.join(self.layout.volatile))

    # ------------------------------------------------------------ memory
    def rss_bytes(self):
        """Summed RSS of every live process of this cloud, the HostPair's
        libvirtds and guests included (shared pages count twice).
        """
        total = 0
        pids = set(self.table.our_pids())
        if self.pair is not None:  # libvirtds, QEMUs, anchors
            pids.update(self.pair.processes())
        for pid in pids:
            try:
                with open('/proc/%d/status' % pid) as f:
                    for line in f:
                        if line.startswith('VmRSS:'):
                            total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
