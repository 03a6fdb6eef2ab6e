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
"""Config rendering of the mini-cloud: pure, nothing is started."""

import configparser
import os

from oslo_config import cfg
import pytest

from testbed.cloud import layout as lay
from testbed.cloud import render
from testbed.cloud import startup


@pytest.fixture
def lo():
    return lay.Layout.from_env(base='/w', environ={})


def _parse(text):
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(text)
    return cp


def test_ini_renders_bools_none_and_ints():
    text = render.ini(
        {'DEFAULT': {'a': True, 'b': False, 'c': None, 'd': 4}, 'x': {}}
    )
    assert text == '[DEFAULT]\na = true\nb = false\nc =\nd = 4\n\n[x]\n'


def _oslo(tmp_path, text):
    """``{section: {key: value}}`` as oslo.config's own parser reads it."""
    path = tmp_path / 'read.conf'
    path.write_text(text)
    sections = {}
    cfg.ConfigParser(str(path), sections).parse()
    return {
        name: {key: values[-1] for key, values in options.items()}
        for name, options in sections.items()
    }


def test_oslo_config_reads_what_ini_writes(tmp_path):
    sections = {
        'database': {'connection': 'mysql+pymysql://u:p%40ss@h/db?x=1'},
        'DEFAULT': {'Debug': True, 'workers': 4, 'empty': None},
        'paths': {'a': '/w/with space', 'b': 'x=y', 'c': 'k: v'},
        'hash': {'value': 'a # not a comment'},
        'nothing': {},
    }
    text = render.ini(sections)
    # written in the order given: [DEFAULT] is a section like any other
    assert text.index('[database]') < text.index('[DEFAULT]')
    assert _oslo(tmp_path, text) == {
        'database': {'connection': 'mysql+pymysql://u:p%40ss@h/db?x=1'},
        'DEFAULT': {'Debug': 'true', 'workers': '4', 'empty': ''},
        'paths': {'a': '/w/with space', 'b': 'x=y', 'c': 'k: v'},
        'hash': {'value': 'a # not a comment'},
        'nothing': {},
    }


@pytest.mark.parametrize('mode', lay.MODES)
def test_every_file_reads_the_same_to_oslo_config(tmp_path, mode):
    layout = lay.Layout.from_env(mode=mode, base='/w', environ={})
    files = render.all_files(layout)
    for name, text in files.items():
        if not name.endswith(('.conf', '.ini')) or not text.startswith('['):
            continue
        # configparser without its defaults section: [DEFAULT] is not
        # inherited by the other sections in oslo.config
        ours = configparser.ConfigParser(
            interpolation=None, default_section='\0'
        )
        ours.optionxform = str
        ours.read_string(text)
        assert _oslo(tmp_path, text) == {
            section: dict(ours[section]) for section in ours.sections()
        }, name


def test_fake_mode_nova_uses_the_live_migration_fake_driver(lo):
    nova = _parse(render.nova_files(lo)['nova/nova.conf'])
    assert nova['DEFAULT']['compute_driver'] == 'fake.FakeLiveMigrateDriver'
    assert int(nova['DEFAULT']['max_concurrent_live_migrations']) >= 4
    assert nova['conductor']['workers'] == '1'
    assert nova['scheduler']['workers'] == '1'
    assert nova['service_user']['send_service_user_token'] == 'true'
    for section in ('placement', 'glance', 'neutron', 'service_user'):
        assert nova[section]['username'] == 'nova'
        assert nova[section]['auth_url'] == 'http://127.0.0.1:5000/v3'


def test_fake_driver_name_exists_in_nova_34():
    # FakeLiveMigrateDriver (nova/virt/fake.py) loops 5 s before completing,
    # so abort and force-complete can be exercised; nova imports
    # 'nova.virt.' + compute_driver.
    assert render.FAKE_DRIVER == 'fake.FakeLiveMigrateDriver'


def test_computes_have_distinct_hosts_and_state_and_no_database(lo):
    files = render.nova_files(lo)
    seen = set()
    for host in lay.COMPUTE_HOSTS:
        cp = _parse(files['nova/compute-%s.conf' % host])
        assert cp['DEFAULT']['host'] == host
        assert cp['DEFAULT']['state_path'] == '/w/state/%s' % host
        seen.add(cp['DEFAULT']['state_path'])
        assert not cp.has_section('database') and not cp.has_section(
            'api_database'
        )
    assert len(seen) == 2
    nova = _parse(files['nova/nova.conf'])
    assert not nova.has_section('database') and not nova.has_section(
        'api_database'
    )
    db = _parse(files['nova/nova-db.conf'])
    assert db['api_database']['connection'].endswith(
        '@127.0.0.1:3306/nova_api'
    )


def test_every_url_and_bind_address_is_loopback(lo):
    text = '\n'.join(render.all_files(lo).values())
    for line in text.splitlines():
        if '://' in line:
            assert '@127.0.0.1:' in line or '//127.0.0.1:' in line, line
        if line.startswith(
            ('bind_host', 'osapi_compute_listen', 'metadata_listen', 'my_ip')
        ):
            assert line.endswith('127.0.0.1'), line
    assert '--bind-address=127.0.0.1' in startup.mariadb_argv(lo)
    assert startup.rabbitmq_env(lo)['RABBITMQ_NODE_IP_ADDRESS'] == '127.0.0.1'
    assert startup.rabbitmq_env(lo)['ERL_EPMD_ADDRESS'] == '127.0.0.1'
    assert 'listeners.tcp.default = 127.0.0.1:5672' in startup.rabbitmq_conf(
        lo
    )


def test_neutron_is_api_only(lo):
    files = render.neutron_files(lo)
    conf = _parse(files['neutron/neutron.conf'])
    assert conf['DEFAULT']['service_plugins'] == ''
    assert conf['DEFAULT']['rpc_workers'] == '0'
    assert conf['DEFAULT']['api_workers'] == '1'
    ml2 = _parse(files['neutron/plugins/ml2/ml2_conf.ini'])
    assert ml2['ml2']['mechanism_drivers'] == ''


def test_logs_all_go_to_the_one_log_folder(lo):
    for rel, text in render.all_files(lo).items():
        for line in text.splitlines():
            if line.startswith('log_file'):
                assert (
                    os.path.dirname(line.split('=', 1)[1].strip()) == '/w/logs'
                ), rel


def test_custom_ports_reach_every_file(lo):
    lo2 = lay.Layout.from_env(
        base='/w',
        environ={lay.PORTS_ENV: 'keystone=15000,mariadb=13306,rabbitmq=15672'},
    )
    text = '\n'.join(render.all_files(lo2).values())
    assert (
        ':5000/' not in text and ':3306/' not in text and ':5672/' not in text
    )
    assert '127.0.0.1:15000/v3' in text
    assert '127.0.0.1:13306/nova' in text
    assert 'rabbit://guest:guest@127.0.0.1:15672/' in text


@pytest.mark.parametrize('service', sorted(startup.WSGI_MODULES))
def test_wsgi_shims_hide_argv_and_export_application(service):
    text = startup.wsgi_shim(service)
    compile(text, service, 'exec')
    assert 'sys.argv = sys.argv[:1]' in text
    assert text.index('sys.argv = ') < text.index('import application')
    assert 'from %s import application' % startup.WSGI_MODULES[service] in text
    assert ('configure_mappers' in text) == (service == 'neutron')


def test_gunicorn_serves_one_worker_on_loopback(lo):
    argv = startup.gunicorn_argv(lo, 'keystone', 'main')
    assert argv[0] == '/w/venvs/main/bin/gunicorn'
    # idle keep-alive connections outlive a 2 s poll interval
    assert argv[argv.index('--keep-alive') + 1] == '30'
    assert argv[argv.index('--bind') + 1] == '127.0.0.1:5000'
    assert argv[argv.index('--workers') + 1] == '1'
    assert argv[-1] == 'keystone_app:application'
    assert (
        startup.gunicorn_argv(lo, 'nova-api', 'main')[-1]
        == 'nova_api_app:application'
    )


def test_openrc_exports_admin_credentials(lo):
    text = startup.openrc(lo)
    assert 'export OS_AUTH_URL=http://127.0.0.1:5000/v3\n' in text
    assert 'export OS_USERNAME=admin\n' in text
    assert 'export OS_COMPUTE_API_VERSION=2.95\n' in text


def test_bootstrap_sql_creates_user_and_databases():
    sql = startup.mariadb_bootstrap_sql()
    assert "'openstack'@'127.0.0.1'" in sql
    for db in lay.DATABASES:
        assert 'CREATE DATABASE IF NOT EXISTS %s;' % db in sql
