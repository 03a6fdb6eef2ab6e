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
"""Where the mini-cloud keeps its files, which ports it uses, and its
credentials.

Everything lives under one work folder outside the repository
(``$LIVEMIGRATE_CLOUD_DIR``, default ``/srv/osc-livemigrate/cloud``)::

    venvs/   Python virtualenvs (kept by ``reset``; may live elsewhere,
             see ``$LIVEMIGRATE_CLOUD_VENVS``)
    etc/     rendered service configuration
    state/   databases, message bus, images, per-host nova state
    logs/    one log per service, plus ``setup-*.log`` for one-off steps
    run/     process table, sockets, WSGI shims
    openrc   admin credentials for the ``openstack`` CLI

Pure: nothing here touches the file system.
"""

import dataclasses
import os

DIR_ENV = 'LIVEMIGRATE_CLOUD_DIR'
VENVS_ENV = 'LIVEMIGRATE_CLOUD_VENVS'  # share venvs between work folders
PORTS_ENV = 'LIVEMIGRATE_CLOUD_PORTS'
DEFAULT_DIR = '/srv/osc-livemigrate/cloud'
HOST = '127.0.0.1'
MODES = ('fake', 'libvirt')

# The two nova-compute "hosts" of fake mode; libvirt mode names them after
# its HostPair's namespaces (see Layout.compute_hosts).
COMPUTE_HOSTS = ('compute1', 'compute2')

# libvirt mode has its own work folder, ports and HostPair names, so it can
# run beside a fake-mode cloud (one test session brings up both).
LIBVIRT_DIR_ENV = 'LIVEMIGRATE_CLOUD_LIBVIRT_DIR'
LIBVIRT_PORTS_ENV = 'LIVEMIGRATE_CLOUD_LIBVIRT_PORTS'
PREFIX_ENV = 'LIVEMIGRATE_CLOUD_PREFIX'
SUBNET_ENV = 'LIVEMIGRATE_CLOUD_SUBNET'
LIBVIRT_DEFAULT_DIR = DEFAULT_DIR + '-libvirt'
LIBVIRT_PORT_OFFSET = 20000
DEFAULT_PREFIX = 'lmc'
DEFAULT_SUBNET = '10.77.9'

DEFAULT_PORTS = {
    'mariadb': 3306,
    'rabbitmq': 5672,
    'epmd': 4369,
    # NOTE: not RabbitMQ's default 25672: that is rabbitmq + 20000, the
    # libvirt-mode cloud's AMQP port, and both clouds run in one session
    'rabbitmq-dist': 6672,
    'keystone': 5000,
    'placement': 8778,
    'glance': 9292,
    'neutron': 9696,
    'nova-api': 8774,
    # [livemigrate] metrics_listen_port of each libvirt-mode compute: they
    # share the root network namespace, so each has its own
    'metrics-a': 9181,
    'metrics-b': 9182,
    # the Prometheus a test starts to scrape them (not a cloud service)
    'prometheus': 9190,
}

# Passwords are for a throw-away cloud that only listens on loopback.
ADMIN_PASSWORD = 'admin-pw'
DB_USER = 'openstack'
DB_PASSWORD = 'db-pw'
RABBIT_USER = (
    'guest'  # RabbitMQ lets 'guest' in from loopback only, which is all we use
)
RABBIT_PASSWORD = 'guest'
SERVICE_USERS = ('nova', 'placement', 'glance', 'neutron')
#: keystone's bcrypt cost (its default 12 takes 0.5 s per password login;
#: 4 is bcrypt's minimum): a throw-away cloud, logged into hundreds of times
PASSWORD_HASH_ROUNDS = 4
DATABASES = (
    'keystone',
    'placement',
    'glance',
    'neutron',
    'nova_api',
    'nova',
    'nova_cell0',
)
REGION = 'RegionOne'
COMPUTE_API_VERSION = '2.95'


def service_password(user):
    """Password of an OpenStack service user (nova, glance, ...)."""
    return '%s-pw' % user


def parse_ports(text):
    """Parse ``name=port,name=port`` overrides into a dict.

    :raises ValueError: on an unknown name or a bad port number.
    """
    out = {}
    for item in (text or '').replace(' ', '').split(','):
        if not item:
            continue
        name, sep, value = item.partition('=')
        if not sep or name not in DEFAULT_PORTS:
            raise ValueError(
                'bad port override %r (known: %s)'
                % (item, ', '.join(sorted(DEFAULT_PORTS)))
            )
        port = int(value)
        if not 0 < port < 65536:
            raise ValueError('port out of range in %r' % item)
        out[name] = port
    return out


@dataclasses.dataclass(frozen=True)
class Layout:
    """Paths and ports of one mini-cloud."""

    base: str
    ports: dict = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_PORTS)
    )
    mode: str = 'fake'
    venvs_dir: str = None
    prefix: str = DEFAULT_PREFIX
    subnet: str = DEFAULT_SUBNET

    @classmethod
    def from_env(cls, mode='fake', base=None, environ=None):
        environ = os.environ if environ is None else environ
        if mode not in MODES:
            raise ValueError(
                'unknown mode %r (known: %s)' % (mode, ', '.join(MODES))
            )
        venvs = environ.get(VENVS_ENV)
        if mode == 'libvirt':
            ports = {
                k: v + LIBVIRT_PORT_OFFSET for k, v in DEFAULT_PORTS.items()
            }
            ports.update(parse_ports(environ.get(LIBVIRT_PORTS_ENV, '')))
            base = base or environ.get(LIBVIRT_DIR_ENV) or LIBVIRT_DEFAULT_DIR
            # share the (slow to build) venvs with the default fake cloud
            venvs = venvs or os.path.join(DEFAULT_DIR, 'venvs')
        else:
            ports = dict(DEFAULT_PORTS)
            ports.update(parse_ports(environ.get(PORTS_ENV, '')))
            base = base or environ.get(DIR_ENV) or DEFAULT_DIR
        return cls(
            base=os.path.abspath(base),
            ports=ports,
            mode=mode,
            venvs_dir=os.path.abspath(venvs) if venvs else None,
            prefix=environ.get(PREFIX_ENV) or DEFAULT_PREFIX,
            subnet=environ.get(SUBNET_ENV) or DEFAULT_SUBNET,
        )

    @property
    def compute_hosts(self):
        """nova host names; in libvirt mode the HostPair's netns names,
        which are also the hostnames inside each host's UTS namespace.
        """
        if self.mode == 'libvirt':
            return (self.prefix + 'A', self.prefix + 'B')
        return COMPUTE_HOSTS

    def path(self, *parts):
        return os.path.join(self.base, *parts)

    @property
    def venvs(self):
        return self.venvs_dir or self.path('venvs')

    def venv(self, name):
        return os.path.join(self.venvs, name)

    def venv_bin(self, venv, prog):
        return os.path.join(self.venvs, venv, 'bin', prog)

    @property
    def etc(self):
        return self.path('etc')

    @property
    def state(self):
        return self.path('state')

    @property
    def logs(self):
        return self.path('logs')

    @property
    def run(self):
        return self.path('run')

    @property
    def openrc(self):
        return self.path('openrc')

    def log(self, name):
        return self.path('logs', name + '.log')

    # Everything ``reset`` removes (venvs are kept: they take minutes to
    # build).
    @property
    def volatile(self):
        return (self.etc, self.state, self.logs, self.run, self.openrc)

    @property
    def mysql_socket(self):
        return self.path('run', 'mysqld.sock')

    def url(self, service, suffix=''):
        return 'http://%s:%d%s' % (HOST, self.ports[service], suffix)

    def db_url(self, database):
        return 'mysql+pymysql://%s:%s@%s:%d/%s' % (
            DB_USER,
            DB_PASSWORD,
            HOST,
            self.ports['mariadb'],
            database,
        )

    @property
    def transport_url(self):
        return 'rabbit://%s:%s@%s:%d/' % (
            RABBIT_USER,
            RABBIT_PASSWORD,
            HOST,
            self.ports['rabbitmq'],
        )

    @property
    def auth_url(self):
        return self.url('keystone', '/v3')

    def endpoints(self):
        """(service name, service type, URL) of every catalog entry but
        keystone's own.
        """
        return (
            ('placement', 'placement', self.url('placement')),
            ('glance', 'image', self.url('glance')),
            ('neutron', 'network', self.url('neutron')),
            ('nova', 'compute', self.url('nova-api', '/v2.1')),
        )

    def admin_env(self):
        """OS_* variables that make ``openstack`` act as the cloud's admin."""
        return {
            'OS_AUTH_URL': self.auth_url,
            'OS_AUTH_TYPE': 'password',
            'OS_USERNAME': 'admin',
            'OS_PASSWORD': ADMIN_PASSWORD,
            'OS_PROJECT_NAME': 'admin',
            'OS_USER_DOMAIN_NAME': 'Default',
            'OS_PROJECT_DOMAIN_NAME': 'Default',
            'OS_IDENTITY_API_VERSION': '3',
            'OS_REGION_NAME': REGION,
            'OS_INTERFACE': 'public',
            'OS_COMPUTE_API_VERSION': COMPUTE_API_VERSION,
        }
