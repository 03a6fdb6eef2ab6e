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
