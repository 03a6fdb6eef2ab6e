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
"""Seeding creates only what is missing, so a rerun after an interrupted
``up`` is harmless. A recording stand-in for openstacksdk's proxies plays
the cloud here; the real one is seeded in tests/functional/cloud.
"""

import dataclasses
import types

from openstack import exceptions as sdk_exceptions

from testbed.cloud import computes
from testbed.cloud import layout as lay
from testbed.cloud import render
from testbed.cloud import seed
from testbed.guest import disk
from testbed.guest import spec as guest_spec


class _Proxy:
    """Records create_*/assign_* calls; find_*/list calls answer from
    ``have``.
    """

    def __init__(self, calls, have):
        self._calls, self._have = calls, have

    def __getattr__(self, name):
        def call(*args, **kwargs):
            if name.startswith(('create_', 'assign_')):
                self._calls.append((name, args, kwargs))
                # what the cloud answers: a new network has no subnet
                made = {'id': '%s-id' % kwargs.get('name', name)}
                made.update(subnet_ids=[], **kwargs)
                return types.SimpleNamespace(**made)
            if name.startswith('find_'):
                assert kwargs.pop('ignore_missing') is False
                if name not in self._have:
                    raise sdk_exceptions.NotFoundException(name)
            return self._have[name](*args, **kwargs)

        return call


def _conn(**have):
    calls = []
    conn = types.SimpleNamespace(
        identity=_Proxy(calls, have),
        compute=_Proxy(calls, have),
        network=_Proxy(calls, have),
        image=_Proxy(calls, have),
    )
    return conn, calls


def test_keystone_objects_of_an_empty_keystone(tmp_path):
    conn, calls = _conn(services=lambda **q: [], endpoints=lambda **q: [])
    seed.keystone_objects(conn, lay.Layout(str(tmp_path)))
    made = [name for name, _, _ in calls]
    assert made.count('create_project') == 1
    assert made.count('create_role') == 2
    assert made.count('create_user') == len(lay.SERVICE_USERS)
    assert made.count('assign_project_role_to_user') == 2 * len(
        lay.SERVICE_USERS
    )
    assert made.count('create_service') == 4
    endpoints = [kw for name, _, kw in calls if name == 'create_endpoint']
    assert len(endpoints) == 4 * 3
    assert {e['region_id'] for e in endpoints} == {lay.REGION}


def test_keystone_objects_that_exist_are_not_created_again(tmp_path):
    found = types.SimpleNamespace(id='x')
    conn, calls = _conn(
        find_project=lambda *a, **k: found,
        find_role=lambda *a, **k: found,
        find_user=lambda *a, **k: found,
        services=lambda **q: [found],
        endpoints=lambda **q: [
            types.SimpleNamespace(interface=i)
            for i in ('public', 'internal', 'admin')
        ],
    )
    seed.keystone_objects(conn, lay.Layout(str(tmp_path)))
    # role assignments are idempotent in keystone: made every time
    assert {name for name, _, _ in calls} == {'assign_project_role_to_user'}


def test_rehash_sets_every_known_password_again():
    users = {}
    conn, calls = _conn(
        find_user=lambda name, **k: users.setdefault(
            name, types.SimpleNamespace(name=name)
        ),
    )
    updated = []
    conn.identity.__dict__['update_user'] = lambda user, **kw: updated.append(
        (user.name, kw)
    )
    seed.rehash_passwords(conn)
    # the admin last: setting its password revokes the connection's token
    assert updated == [
        (name, {'password': lay.service_password(name)})
        for name in lay.SERVICE_USERS
    ] + [('admin', {'password': lay.ADMIN_PASSWORD})]


def test_keystone_hashes_passwords_with_the_cheapest_bcrypt_cost(tmp_path):
    text = render.keystone_files(lay.Layout(str(tmp_path)))[
        'keystone/keystone.conf'
    ]
    assert '[identity]\npassword_hash_rounds = 4\n' in text


def test_only_missing_flavors_are_created():
    conn, calls = _conn()
    for flavor in seed.FLAVORS:
        seed.ensure_flavor(conn, flavor, {'m1.tiny'})
    assert calls == [
        (
            'create_flavor',
            (),
            {'name': 'm1.small', 'id': 'm1.small', 'vcpus': 1, 'ram': 256}
            | {'disk': 1},
        )
    ]


def test_guest_flavor_of_another_size_is_replaced():
    calls = []

    def get_flavor(name):
        return types.SimpleNamespace(vcpus=1, ram=512, disk=1)

    def delete_flavor(name):
        calls.append(('delete_flavor', (name,), {}))

    conn, made = _conn(get_flavor=get_flavor, delete_flavor=delete_flavor)
    seed.ensure_flavor(conn, ('m1.lm', 1, 512, 2), {'m1.lm'}, replace=True)
    seed.ensure_flavor(conn, ('m1.lm', 1, 512, 1), {'m1.lm'}, replace=True)
    assert calls == [('delete_flavor', ('m1.lm',), {})]
    assert [kw['disk'] for _, _, kw in made] == [2]


def test_network_gets_its_subnet_once():
    conn, calls = _conn()
    seed.network(conn)
    assert [name for name, _, _ in calls] == [
        'create_network',
        'create_subnet',
    ]
    net = types.SimpleNamespace(id='n', subnet_ids=['s'])
    conn, calls = _conn(find_network=lambda name: net)
    seed.network(conn)
    assert calls == []


def test_a_queued_image_is_uploaded_into_not_created_again():
    uploads = []
    queued = types.SimpleNamespace(
        status='queued',
        upload=lambda proxy, data: (
            uploads.append(data)
            or types.SimpleNamespace(status_code=204, headers={})
        ),
    )
    conn, calls = _conn()
    assert seed.upload_image(conn, 'tiny', b'0', queued) is queued
    assert uploads == [b'0'] and calls == []
    seed.upload_image(conn, 'tiny', b'0', None, min_ram=512)
    ((name, args, kwargs),) = calls
    assert (name, args) == ('create_image', ('tiny',))
    assert kwargs['visibility'] == 'public' and kwargs['min_ram'] == 512


def test_an_image_made_for_other_check_rates_is_replaced(
    tmp_path, monkeypatch
):
    """An image's name says its workload's size and rate only: one that
    boots another command line (older check rates) is deleted and made
    again; one that boots the right one is kept.
    """
    raw = tmp_path / 'disk.raw'
    raw.write_bytes(b'disk')
    monkeypatch.setattr(
        computes.disk, 'build_disk', lambda spec, log: str(raw)
    )
    wanted = {
        disk.image_name(s): guest_spec.kernel_cmdline(s)
        for s in computes.WORKLOADS
    }
    images = {
        name: types.SimpleNamespace(
            id=name + '-kept',
            status='active',
            properties={'livemigrate_workload': cmdline},
        )
        for name, cmdline in wanted.items()
    }
    stale, kept = sorted(wanted)
    images[stale].properties['livemigrate_workload'] = wanted[stale].replace(
        'dirtier.verify_rate=32', 'dirtier.verify_rate=256'
    )
    assert images[stale].properties['livemigrate_workload'] != wanted[stale]
    deleted = []
    conn, calls = _conn(
        find_image=lambda name: images[name], delete_image=deleted.append
    )
    out = computes.ensure_images(conn, log=lambda line: None)
    assert deleted == [images[stale]]
    ((name, args, kwargs),) = calls
    assert (name, args) == ('create_image', (stale,))
    assert kwargs['livemigrate_workload'] == wanted[stale]
    assert out[kept] == kept + '-kept'


def test_the_seed_key_changes_with_what_the_images_boot(monkeypatch):
    before = computes.seed_key()
    lighter = tuple(
        dataclasses.replace(s, verify_rate_mib_s=16)
        for s in computes.WORKLOADS
    )
    monkeypatch.setattr(computes, 'WORKLOADS', lighter)
    assert computes.seed_key() != before
