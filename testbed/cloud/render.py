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
"""Render the mini-cloud's configuration files (pure functions of a Layout).

Each ``*_files`` function returns ``{relative path under etc/: text}`` so that
the caller writes them and tests can read them without starting anything.
"""

import configparser
import io
import shlex

from testbed.cloud import layout as lay

FAKE_DRIVER = 'fake.FakeLiveMigrateDriver'
MAX_CONCURRENT_LIVE_MIGRATIONS = 4


#: configparser's name for its defaults section, set to one no file uses:
#: oslo.config's [DEFAULT] is a section like any other (not inherited by
#: the others), and written where it is given
_NO_DEFAULTS = '\0'


def ini(sections):
    """Render ``{section: {key: value}}`` as an oslo.config style INI text.

    Values may be str, int, bool (rendered lower-case) or None (rendered
    empty). Written by configparser (option names as given, no
    interpolation), which oslo.config reads as written; only its layout is
    trimmed (no space after an empty value's ``=``, no blank line at the
    end), so that the files stay byte for byte what the cloud has on disk
    and ``reconfigure`` restarts nothing that did not change.
    """
    parser = configparser.ConfigParser(
        interpolation=None, default_section=_NO_DEFAULTS
    )
    parser.optionxform = str
    for section, options in sections.items():
        parser[section] = {key: _value(v) for key, v in options.items()}
    out = io.StringIO()
    parser.write(out)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return ''.join(line + '\n' for line in lines)


def _value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return '' if value is None else str(value)


def _authtoken(lo, user):
    """keystonemiddleware + keystoneauth options for a service user."""
    return {
        'www_authenticate_uri': lo.auth_url,
        'auth_url': lo.auth_url,
        'auth_type': 'password',
        'project_domain_name': 'Default',
        'user_domain_name': 'Default',
        'project_name': 'service',
        'username': user,
        'password': lay.service_password(user),
        'region_name': lay.REGION,
    }


def keystone_files(lo):
    return {
        'keystone/keystone.conf': ini(
            {
                'DEFAULT': {
                    'log_file': lo.log('keystone'),
                    'use_stderr': False,
                },
                'database': {'connection': lo.db_url('keystone')},
                'token': {'provider': 'fernet'},
                # NOTE: bcrypt's default 12 rounds cost 0.5 s of CPU per
                # password login; a test run logs in hundreds of times
                'identity': {'password_hash_rounds': lay.PASSWORD_HASH_ROUNDS},
                'fernet_tokens': {
                    'key_repository': lo.path('etc', 'keystone', 'fernet-keys')
                },
                'credential': {
                    'key_repository': lo.path(
                        'etc', 'keystone', 'credential-keys'
                    )
                },
            }
        )
    }


def placement_files(lo):
    return {
        'placement/placement.conf': ini(
            {
                'DEFAULT': {'log_file': lo.log('placement')},
                'placement_database': {'connection': lo.db_url('placement')},
                'api': {'auth_strategy': 'keystone'},
                'keystone_authtoken': _authtoken(lo, 'placement'),
            }
        )
    }


def glance_files(lo):
    state = lo.path('state', 'glance')
    return {
        'glance/glance-api.conf': ini(
            {
                'DEFAULT': {
                    'log_file': lo.log('glance'),
                    'bind_host': lay.HOST,
                    'bind_port': lo.ports['glance'],
                    'enabled_backends': 'fs:file',
                    'worker_self_reference_url': lo.url('glance'),
                    'workers': 1,
                },
                'database': {'connection': lo.db_url('glance')},
                'glance_store': {'default_backend': 'fs'},
                'fs': {'filesystem_store_datadir': state + '/images'},
                'os_glance_staging_store': {
                    'filesystem_store_datadir': state + '/staging'
                },
                'os_glance_tasks_store': {
                    'filesystem_store_datadir': state + '/tasks'
                },
                'paste_deploy': {
                    'flavor': 'keystone',
                    'config_file': lo.path(
                        'etc', 'glance', 'glance-api-paste.ini'
                    ),
                },
                'keystone_authtoken': _authtoken(lo, 'glance'),
                'oslo_concurrency': {'lock_path': state + '/lock'},
            }
        )
    }


def neutron_files(lo):
    """Neutron API only: ML2 without mechanism drivers, agents or service
    plugins.

    Nova needs a network API even for servers without ports (server show lists
    ports for security groups; live migration asks for extensions and port
    bindings), and a real neutron that answers with empty lists is cheap.
    """
    state = lo.path('state', 'neutron')
    return {
        'neutron/neutron.conf': ini(
            {
                'DEFAULT': {
                    'core_plugin': 'ml2',
                    'service_plugins': None,
                    'auth_strategy': 'keystone',
                    'bind_host': lay.HOST,
                    'bind_port': lo.ports['neutron'],
                    'transport_url': lo.transport_url,
                    'api_paste_config': lo.path(
                        'etc', 'neutron', 'api-paste.ini'
                    ),
                    'state_path': state,
                    'log_file': lo.log('neutron'),
                    'notify_nova_on_port_status_changes': False,
                    'notify_nova_on_port_data_changes': False,
                    'dhcp_agent_notification': False,
                    'api_workers': 1,
                    'rpc_workers': 0,
                    'rpc_state_report_workers': 0,
                },
                'database': {'connection': lo.db_url('neutron')},
                'keystone_authtoken': _authtoken(lo, 'neutron'),
                'oslo_concurrency': {'lock_path': state + '/lock'},
                'oslo_messaging_rabbit': {'rabbit_quorum_queue': False},
            }
        ),
        'neutron/plugins/ml2/ml2_conf.ini': ini(
            {
                'ml2': {
                    'type_drivers': 'flat',
                    'tenant_network_types': None,
                    'mechanism_drivers': None,
                    'extension_drivers': None,
                },
                'ml2_type_flat': {'flat_networks': 'physnet1'},
            }
        ),
    }


def nova_files(lo, compute_driver=None):
    """nova.conf (all services), nova-db.conf (not for computes),
    compute-HOST.conf.

    Computes never see the database options: nova-compute logs a traceback ("No
    DB access allowed in nova-compute") when ``[api_database]`` is set. Each
    compute host gets its own state_path, because nova-compute keeps its node
    identity file there.
    """
    if compute_driver is None:
        compute_driver = (
            FAKE_DRIVER if lo.mode == 'fake' else 'livemigrate.LibvirtDriver'
        )
    state = lo.path('state', 'nova')
    auth = _authtoken(lo, 'nova')
    keystoneauth = {
        k: v for k, v in auth.items() if k != 'www_authenticate_uri'
    }
    files = {
        'nova/nova.conf': ini(
            {
                'DEFAULT': {
                    'transport_url': lo.transport_url,
                    'my_ip': lay.HOST,
                    'compute_driver': compute_driver,
                    'state_path': state,
                    'osapi_compute_listen': lay.HOST,
                    'metadata_listen': lay.HOST,
                    # 5 s, not oslo.service's 60: on SIGTERM a service
                    # only waits this long for its in-flight RPC calls,
                    # and no guest depends on that wait: the fake
                    # driver's guests live in nova-compute's memory,
                    # libvirt mode's QEMUs belong to the HostPair's
                    # libvirtds and keep running without nova-compute.
                    # down kills the nova stage after 10 s anyway.
                    'graceful_shutdown_timeout': 5,
                    'max_concurrent_live_migrations': (
                        MAX_CONCURRENT_LIVE_MIGRATIONS
                    ),
                },
                'api': {'auth_strategy': 'keystone'},
                'keystone_authtoken': auth,
                'service_user': dict(
                    keystoneauth, send_service_user_token=True
                ),
                'placement': keystoneauth,
                'glance': keystoneauth,
                'neutron': keystoneauth,
                'cinder': {'os_region_name': lay.REGION},
                'conductor': {'workers': 1},
                'scheduler': {'workers': 1},
                'vnc': {'enabled': False},
                'oslo_concurrency': {'lock_path': state + '/lock'},
                'oslo_messaging_rabbit': {'rabbit_quorum_queue': False},
            }
        ),
        'nova/nova-db.conf': ini(
            {
                'api_database': {'connection': lo.db_url('nova_api')},
                'database': {'connection': lo.db_url('nova')},
            }
        ),
    }
    for host in lo.compute_hosts:
        hstate = lo.path('state', host)
        files['nova/compute-%s.conf' % host] = ini(
            {
                'DEFAULT': {
                    'host': host,
                    'state_path': hstate,
                    'instances_path': hstate + '/instances',
                },
                'oslo_concurrency': {'lock_path': hstate + '/lock'},
            }
        )
    return files


def all_files(lo):
    files = {}
    for fn in (
        keystone_files,
        placement_files,
        glance_files,
        neutron_files,
        nova_files,
    ):
        files.update(fn(lo))
    return files


# WSGI shims served by gunicorn. Every OpenStack WSGI module parses sys.argv
# with oslo.config, which rejects gunicorn's own arguments, so the shim hides
# them first.
WSGI_MODULES = {
    'keystone': 'keystone.wsgi.api',
    'placement': 'placement.wsgi.api',
    'glance': 'glance.wsgi.api',
    'neutron': 'neutron.wsgi.api',
    'nova-api': 'nova.wsgi.osapi_compute',
}

_NEUTRON_PRELUDE = """\
# neutron 29 with no service plugins: GET /v2.0/ports reads the backref
# Port.port_forwardings, which exists only once every model module is imported
# and the SQLAlchemy mappers are configured; do both before serving.
import neutron.db.migration.models.head  # noqa: E402,F401
from sqlalchemy import orm  # noqa: E402
orm.configure_mappers()
"""


def wsgi_shim(service):
    """Text of run/wsgi/<service>_app.py exporting ``application``."""
    module = WSGI_MODULES[service]
    text = (
        '"""gunicorn entry for %s (generated by testbed.cloud)."""\n'
        'import sys\n'
        "# oslo.config parses sys.argv: hide gunicorn's arguments.\n"
        'sys.argv = sys.argv[:1]\n' % service
    )
    if service == 'neutron':
        text += _NEUTRON_PRELUDE
    text += 'from %s import application  # noqa: E402,F401\n' % module
    return text


def wsgi_module_name(service):
    return service.replace('-', '_') + '_app'


def gunicorn_argv(lo, service, venv):
    """Command line serving one API with 1 worker process and 4 threads on
    loopback.
    """
    return [
        lo.venv_bin(venv, 'gunicorn'),
        '--chdir',
        lo.path('run', 'wsgi'),
        '--workers',
        '1',
        '--threads',
        '4',
        '--worker-class',
        'gthread',
        '--bind',
        '%s:%d' % (lay.HOST, lo.ports[service]),
        '--timeout',
        '300',
        '--graceful-timeout',
        '5',
        # gunicorn's default of 2 s equals the CLI's usual poll interval:
        # the client then reuses a pooled connection just as the server
        # closes it, and gets "Connection reset by peer"
        '--keep-alive',
        '30',
        '--no-control-socket',
        '--pid',
        lo.path('run', 'gunicorn-%s.pid' % service),
        '--access-logfile',
        lo.path('logs', '%s-access.log' % service),
        wsgi_module_name(service) + ':application',
    ]


def wsgi_env(lo):
    """Environment variables through which the WSGI apps find their
    configuration.
    """
    etc = lo.etc
    return {
        'OS_KEYSTONE_CONFIG_FILES': etc + '/keystone/keystone.conf',
        'OS_PLACEMENT_CONFIG_DIR': etc + '/placement',
        'OS_GLANCE_CONFIG_DIR': etc + '/glance',
        'OS_NEUTRON_CONFIG_DIR': etc + '/neutron',
        'OS_NOVA_CONFIG_DIR': etc + '/nova',
        'OS_NOVA_CONFIG_FILES': 'api-paste.ini;nova.conf;nova-db.conf',
    }


def mariadb_argv(lo):
    """mariadbd with its own data folder, socket and log, TCP on loopback
    only.
    """
    return [
        '/usr/sbin/mariadbd',
        '--no-defaults',
        '--user=root',
        '--datadir=' + lo.path('state', 'mysql'),
        '--socket=' + lo.mysql_socket,
        '--pid-file=' + lo.path('run', 'mysqld.pid'),
        '--bind-address=' + lay.HOST,
        '--port=%d' % lo.ports['mariadb'],
        '--log-error=' + lo.log('mariadb'),
        '--skip-name-resolve',
        '--max-connections=500',
        '--innodb-buffer-pool-size=64M',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_general_ci',
    ]


def mariadb_bootstrap_sql(databases=lay.DATABASES):
    lines = [
        "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s';"
        % (lay.DB_USER, lay.HOST, lay.DB_PASSWORD),
        "GRANT ALL ON *.* TO '%s'@'%s';" % (lay.DB_USER, lay.HOST),
    ]
    lines += ['CREATE DATABASE IF NOT EXISTS %s;' % d for d in databases]
    lines.append('FLUSH PRIVILEGES;')
    return '\n'.join(lines) + '\n'


def rabbitmq_env(lo):
    """Environment that keeps RabbitMQ, its epmd and Erlang distribution on
    loopback, with node data, cookie and logs inside the work folder.
    """
    st = lo.path('state', 'rabbitmq')
    return {
        'HOME': st,  # the Erlang cookie lives in $HOME
        'RABBITMQ_NODENAME': 'rabbit@localhost',
        'RABBITMQ_NODE_IP_ADDRESS': lay.HOST,
        'RABBITMQ_NODE_PORT': str(lo.ports['rabbitmq']),
        'RABBITMQ_DIST_PORT': str(lo.ports['rabbitmq-dist']),
        'ERL_EPMD_ADDRESS': lay.HOST,
        'ERL_EPMD_PORT': str(lo.ports['epmd']),
        'RABBITMQ_MNESIA_BASE': st + '/mnesia',
        'RABBITMQ_LOG_BASE': lo.logs,
        'RABBITMQ_LOGS': lo.log('rabbitmq'),
        'RABBITMQ_ENABLED_PLUGINS_FILE': st + '/enabled_plugins',
        'RABBITMQ_PID_FILE': lo.path('run', 'rabbitmq.pid'),
        'RABBITMQ_CONFIG_FILE': st + '/rabbitmq.conf',
        'RABBITMQ_ADVANCED_CONFIG_FILE': st + '/advanced.config',
        'RABBITMQ_CONF_ENV_FILE': st + '/rabbitmq-env.conf',
        'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS': (
            '-kernel inet_dist_use_interface {127,0,0,1}'
        ),
    }


def rabbitmq_conf(lo):
    """rabbitmq.conf: loopback listener, guest from loopback only, a small disk
    floor.
    """
    return (
        'listeners.tcp.default = %s:%d\n'
        'loopback_users.guest = true\n'
        'disk_free_limit.absolute = 100MB\n'
        'log.console = false\n' % (lay.HOST, lo.ports['rabbitmq'])
    )


def epmd_argv(lo):
    return ['epmd', '-address', lay.HOST, '-port', str(lo.ports['epmd'])]


def openrc(lo):
    """A shell file exporting the admin credentials."""
    env = lo.admin_env()
    return (
        '# admin credentials of the osc-livemigrate mini-cloud (%s mode)\n'
        % lo.mode
        + ''.join(
            'export %s=%s\n' % (k, shlex.quote(v))
            for k, v in sorted(env.items())
        )
    )
