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
"""Work folder, ports and credentials of the mini-cloud."""

import pytest

from testbed.cloud import layout as lay


def test_defaults():
    lo = lay.Layout.from_env(environ={})
    assert lo.base == lay.DEFAULT_DIR
    assert lo.venv('main') == lay.DEFAULT_DIR + '/venvs/main'
    assert lo.log('keystone') == lay.DEFAULT_DIR + '/logs/keystone.log'
    assert lo.ports == lay.DEFAULT_PORTS
    assert lo.auth_url == 'http://127.0.0.1:5000/v3'


def test_env_moves_work_folder_and_venvs():
    lo = lay.Layout.from_env(
        environ={lay.DIR_ENV: '/tmp/x', lay.VENVS_ENV: '/v'}
    )
    assert lo.base == '/tmp/x'
    assert lo.venv_bin('glance', 'gunicorn') == '/v/glance/bin/gunicorn'
    assert '/v' not in lo.volatile and '/tmp/x/state' in lo.volatile


def test_parse_ports():
    assert lay.parse_ports('') == {}
    assert lay.parse_ports('keystone=15000, nova-api=18774') == {
        'keystone': 15000,
        'nova-api': 18774,
    }
    for bad in ('bogus=1', 'keystone', 'keystone=0', 'keystone=70000'):
        with pytest.raises(ValueError):
            lay.parse_ports(bad)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        lay.Layout.from_env(mode='kvm', environ={})


def test_endpoints_and_admin_env_are_loopback():
    lo = lay.Layout.from_env(environ={})
    types = {t for _, t, _ in lo.endpoints()}
    assert types == {'placement', 'image', 'network', 'compute'}
    assert all(u.startswith('http://127.0.0.1:') for _, _, u in lo.endpoints())
    env = lo.admin_env()
    assert env['OS_AUTH_URL'] == lo.auth_url and env['OS_USERNAME'] == 'admin'


def test_fake_and_libvirt_clouds_share_no_port():
    """Both clouds come up in one test session; RabbitMQ's Erlang
    distribution port counts too (its default 25672 is 5672 + 20000).
    """
    fake = lay.Layout.from_env(mode='fake', environ={}).ports
    libvirt = lay.Layout.from_env(mode='libvirt', environ={}).ports
    assert not set(fake.values()) & set(libvirt.values()), (fake, libvirt)
    assert len(set(fake.values())) == len(fake)
