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
"""The one-off steps that make a cloud out of running services.

Install the packages and venvs, render the configuration, build the
databases and schemas, create keystone's users and endpoints, map the
computes into cell1 and seed flavors, an image and a network. Each step is
stamped in ``state/stamps`` when it is done, so ``up`` after an interrupted
``up`` goes on where it stopped; ``reset`` wipes the stamps with the state.
"""

import concurrent.futures
import os
import shutil
import time

from keystoneauth1 import exceptions as ks_exceptions
from openstack import exceptions as sdk_exceptions

from testbed import machine_lock

from testbed.cloud import computes
from testbed.cloud import install
from testbed.cloud import layout as lay
from testbed.cloud import procs
from testbed.cloud.procs import CloudError
from testbed.cloud import render
from testbed.cloud import seed
from testbed.cloud import services as svc
from testbed.cloud import startup

#: what a failed API call during seeding raises
API_ERRORS = (sdk_exceptions.SDKException, ks_exceptions.ClientException)

#: The nova-manage steps of the nova schemas, in order. create_cell exits 2
#: when cell1 exists already (a rerun after an interrupted setup); every
#: other step is idempotent.
NOVA_SCHEMA_STEPS = (
    (['api_db', 'sync'], (0,)),
    (['cell_v2', 'map_cell0'], (0,)),
    (['cell_v2', 'create_cell', '--name=cell1'], (0, 2)),
    (['db', 'sync'], (0,)),
)


def side_by_side(steps):
    """Run steps in threads; return their results, raise the first error
    (in list order).
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(steps)) as ex:
        futures = [ex.submit(step) for step in steps]
    return [f.result() for f in futures]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


class Bootstrap:
    """The setup steps of one cloud.

    :param layout: the cloud's layout; ``pair`` its HostPair or None.
    :param env: ``env(extra)`` gives the environment of a step.
    :param connection: ``connection(fresh=False)`` gives the admin's
        openstacksdk connection (fresh: authenticate again, e.g. to see a
        new catalog).
    :param timed: ``timed(label, t0)`` records how long a step took.
    :param say: callable for progress lines.
    """

    def __init__(self, layout, pair, env, connection, timed, say):
        self.layout = layout
        self.pair = pair
        self.env = env
        self.connection = connection
        self.timed = timed
        self.say = say

    # ------------------------------------------------------------ stamps
    def _stamp_path(self, name):
        return self.layout.path('state', 'stamps', name)

    def stamped(self, name):
        return os.path.exists(self._stamp_path(name))

    def stamp(self, name):
        write(self._stamp_path(name), time.strftime('%Y-%m-%dT%H:%M:%S\n'))

    def once(self, stamp, label, fn):
        """Run a step unless its stamp says it is done; stamp it after."""
        if self.stamped(stamp):
            return
        t0 = time.monotonic()
        fn()
        self.stamp(stamp)
        self.timed(label, t0)

    def run(self, service, argv, step=None, input_text=None, ok=(0,)):
        """Run a one-off step; its output goes to logs/setup-SERVICE.log."""
        procs.run_logged(
            argv,
            self.layout.log('setup-' + service),
            service,
            'setup step %r failed (if an earlier up was interrupted, run '
            'reset first)' % (step or os.path.basename(argv[0])),
            env=self.env(),
            input_text=input_text,
            ok=ok,
        )

    # ------------------------------------------------------------ install
    def install(self, extras=True):
        """Debian packages and the three venvs (side by side: they do not
        depend on each other), and with ``extras`` the libvirt mode's own;
        True if anything was installed. The two modes share the venvs and
        tools/run-tests brings both up at once: one installs at a time.
        """
        os.makedirs(self.layout.venvs, exist_ok=True)
        with machine_lock.held(
            os.path.join(self.layout.venvs, '.install.lock'),
            'testbed.cloud install (%s)' % self.layout.base,
            say=self.say,
            what="the clouds' venvs",
        ):
            return self._install(extras)

    def _install(self, extras):
        lo = self.layout
        os.makedirs(lo.logs, exist_ok=True)
        steps = [
            lambda: install.ensure_apt(lo.log('setup-apt'), say=self.say)
        ] + [
            lambda venv=venv: install.ensure_venv(
                lo.venv(venv), venv, lo.log('setup-pip-' + venv), say=self.say
            )
            for venv in install.VENVS
        ]
        done = any(side_by_side(steps))
        if extras and self.pair is not None:
            done |= computes.ensure_extras(
                lo, lo.log('setup-install-libvirt'), say=self.say
            )
        return done

    # ------------------------------------------------------------ files
    def prepare(self):
        """Every folder and rendered file the services read."""
        lo = self.layout
        for d in (lo.etc, lo.state, lo.logs, lo.run, lo.path('run', 'wsgi')):
            os.makedirs(d, exist_ok=True)
        files = render.all_files(lo)
        if self.pair is not None:
            files.update(computes.compute_files(lo, self.pair))
        for rel, text in files.items():
            write(os.path.join(lo.etc, rel), text)
        for service, venv, src in (
            ('glance', 'glance', 'etc/glance/glance-api-paste.ini'),
            ('neutron', 'neutron', 'etc/neutron/api-paste.ini'),
            ('nova', 'main', 'etc/nova/api-paste.ini'),
        ):
            shutil.copyfile(
                os.path.join(lo.venv(venv), src),
                os.path.join(lo.etc, service, os.path.basename(src)),
            )
        for service in startup.WSGI_MODULES:
            module = startup.wsgi_module_name(service) + '.py'
            write(lo.path('run', 'wsgi', module), startup.wsgi_shim(service))
        write(lo.openrc, startup.openrc(lo))
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
        for host in lo.compute_hosts:
            os.makedirs(lo.path('state', host, 'instances'), exist_ok=True)
        st = lo.path('state', 'rabbitmq')
        write(os.path.join(st, 'rabbitmq.conf'), startup.rabbitmq_conf(lo))
        write(os.path.join(st, 'enabled_plugins'), '[].\n')
        write(
            os.path.join(st, 'rabbitmq-env.conf'),
            '# all settings come from the environment\n',
        )

    # ------------------------------------------------------------ databases
    def init_database(self):
        """MariaDB's own datadir, before MariaDB first starts."""
        datadir = self.layout.path('state', 'mysql')
        if os.path.isdir(os.path.join(datadir, 'mysql')):
            return
        t0 = time.monotonic()
        self.run(
            'mariadb',
            [
                'mariadb-install-db',
                '--no-defaults',
                '--user=root',
                '--datadir=' + datadir,
                '--skip-test-db',
                '--auth-root-authentication-method=socket',
            ],
        )
        self.timed('mariadb-install-db', t0)

    def create_databases(self):
        """Every service's database and user, once MariaDB answers."""
        argv = ['mariadb', '--no-defaults', '--user=root']
        argv.append('--socket=' + self.layout.mysql_socket)
        self.once(
            'mariadb-databases',
            'mariadb-databases',
            lambda: self.run(
                'mariadb',
                argv,
                input_text=startup.mariadb_bootstrap_sql(),
                step='create databases',
            ),
        )

    def schemas(self):
        """Every service's schema; they do not depend on each other (nor on
        RabbitMQ, which may still be starting), so they are built side by
        side.
        """
        lo = self.layout
        etc = lo.path('etc')
        neutron_conf = [
            '--config-file',
            etc + '/neutron/neutron.conf',
            '--config-file',
            etc + '/neutron/plugins/ml2/ml2_conf.ini',
        ]
        side_by_side(
            [
                self._keystone_schema,
                lambda: self._schema(
                    'placement',
                    [lo.venv_bin('main', 'placement-manage')]
                    + ['--config-dir', etc + '/placement', 'db', 'sync'],
                    'placement-manage db sync',
                ),
                lambda: self._schema(
                    'glance',
                    [lo.venv_bin('glance', 'glance-manage')]
                    + ['--config-file', etc + '/glance/glance-api.conf']
                    + ['db_sync'],
                    'glance-manage db_sync',
                ),
                lambda: self._schema(
                    'neutron',
                    [lo.venv_bin('neutron', 'neutron-db-manage')]
                    + neutron_conf
                    + ['upgrade', 'heads'],
                    'neutron-db-manage upgrade heads',
                ),
                lambda: self.once('nova-db', 'nova-setup', self._nova_schema),
            ]
        )

    def _schema(self, service, argv, step):
        self.once(
            service + '-db',
            service + '-setup',
            lambda: self.run(service, argv, step=step),
        )

    def _nova_schema(self):
        for args, ok in NOVA_SCHEMA_STEPS:
            self.run(
                'nova',
                self.nova_manage() + args,
                step='nova-manage ' + ' '.join(args),
                ok=ok,
            )

    def _keystone_schema(self):
        lo = self.layout
        km = [lo.venv_bin('main', 'keystone-manage'), '--config-file']
        km.append(lo.path('etc', 'keystone', 'keystone.conf'))
        url = lo.auth_url + '/'
        owner = ['--keystone-user', 'root', '--keystone-group', 'root']

        def setup():
            for d in ('fernet-keys', 'credential-keys'):
                os.makedirs(lo.path('etc', 'keystone', d), exist_ok=True)
            self.run('keystone', km + ['db_sync'], 'keystone-manage db_sync')
            for what in ('fernet_setup', 'credential_setup'):
                self.run('keystone', km + [what] + owner, step=what)
            self.run(
                'keystone',
                km
                + ['bootstrap', '--bootstrap-password', lay.ADMIN_PASSWORD]
                + ['--bootstrap-region-id', lay.REGION]
                + ['--bootstrap-admin-url', url]
                + ['--bootstrap-internal-url', url]
                + ['--bootstrap-public-url', url],
                step='keystone-manage bootstrap',
            )

        self.once('keystone-db', 'keystone-setup', setup)

    def nova_manage(self):
        return [self.layout.venv_bin('main', 'nova-manage')] + (
            svc.nova_conf_args(self.layout)
        )

    # ------------------------------------------------------------ APIs
    def keystone_objects(self):
        """Service users and every endpoint, once keystone answers: nova
        caches its service catalog and would not see an endpoint added
        later, so all exist before any nova service starts.
        """

        # NOTE: a fresh connection after each: the catalog is new, and
        # setting the admin's password revokes its token
        def step(stamp, fn, failed):
            def run():
                try:
                    fn(self.connection(fresh=True))
                    self.connection(fresh=True)
                except API_ERRORS + (OSError, KeyError) as e:
                    raise CloudError(
                        'keystone',
                        '%s failed: %s' % (failed, e),
                        self.layout.log('keystone'),
                    )

            self.once(stamp, stamp, run)

        step(
            'keystone-objects',
            lambda conn: seed.keystone_objects(conn, self.layout),
            'creating users and endpoints',
        )
        step(
            'keystone-hash-rounds-%d' % lay.PASSWORD_HASH_ROUNDS,
            seed.rehash_passwords,
            'setting the passwords again',
        )

    def discover_hosts(self, timeout=120):
        """Map the computes into cell1 until nova-api lists both
        hypervisors.

        A compute's service record appears before its compute node row, so
        one discover_hosts run right after start-up may map nothing: repeat
        it.
        """
        t0 = time.monotonic()
        missing = self._unmapped_hosts()
        while missing:
            self.run(
                'nova',
                self.nova_manage() + ['cell_v2', 'discover_hosts'],
                step='nova-manage cell_v2 discover_hosts',
            )
            missing = self._unmapped_hosts()
            if missing and time.monotonic() - t0 > timeout:
                name = svc.compute_name(missing[0])
                raise CloudError(
                    name,
                    'no hypervisor listed by nova-api '
                    '%ds after start' % timeout,
                    self.layout.log(name),
                )
            if missing:
                time.sleep(1)
        self.timed('discover-hosts', t0)

    def _unmapped_hosts(self):
        try:
            hyps = list(self.connection().compute.hypervisors())
        except API_ERRORS:
            hyps = []
        listed = {h.name for h in hyps}
        return [h for h in self.layout.compute_hosts if h not in listed]

    def seed(self):
        """Flavors, the image and the network (libvirt mode: also the
        guest's flavor and one bootable disk image per workload).

        The guest's part has its own stamp, keyed on the flavor and the
        workloads, so a cloud kept from an older checkout gets the
        current ones.
        """
        if self.seeded():
            return
        t0 = time.monotonic()
        log = self.layout.log('setup-seed')
        conn = self.connection(fresh=True)
        try:
            have = seed.flavor_names(conn)
            if not self.stamped('seeded'):
                for flavor in seed.FLAVORS:
                    seed.ensure_flavor(conn, flavor, have)
                seed.image(conn, self.layout.log('glance'))
                seed.network(conn)
            if self.pair is not None:
                seed.ensure_flavor(conn, computes.FLAVOR, have, replace=True)
                self._guest_images(conn, log)
        except API_ERRORS + (OSError,) as e:
            raise CloudError(
                'seed',
                'creating flavors, image or network failed: %s' % e,
                log,
            )
        self.stamp('seeded')
        if self.pair is not None:
            self.stamp(self._guests_stamp())
        self.timed('seed', t0)

    def _guests_stamp(self):
        return 'seeded-guests-%s' % computes.seed_key()

    def seeded(self):
        """True when seed() has nothing left to do."""
        return self.stamped('seeded') and (
            self.pair is None or self.stamped(self._guests_stamp())
        )

    def _guest_images(self, conn, log):
        """One bootable disk image per workload, built here if missing."""
        os.makedirs(self.layout.logs, exist_ok=True)

        def say(line):
            with open(log, 'a') as f:
                f.write(line + '\n')

        try:
            computes.ensure_images(conn, log=say)
        except RuntimeError as e:
            raise CloudError('seed', 'guest disk images: %s' % e, log)
