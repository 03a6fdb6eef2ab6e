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
"""What a fresh mini-cloud holds: service users and endpoints, flavors, an
image and a network.

Each function takes an admin :class:`testbed.cloud.rest.Session`, creates
only what is missing (a rerun after an interrupted ``up`` is harmless) and
talks REST only; :class:`testbed.cloud.cloud.Cloud` decides when to call
them.
"""

import time

from testbed.cloud import layout as lay
from testbed.cloud.procs import CloudError

FLAVORS = (
    ('m1.tiny', 1, 64, 1),
    ('m1.small', 1, 256, 1),
)  # name, vcpus, MiB, GB
IMAGE = 'tiny'
#: the fake driver never reads the image: zeros will do
IMAGE_BYTES = 1024 * 1024
NETWORK = 'private'
#: a documentation range: only a database record here
SUBNET_CIDR = '192.0.2.0/24'


def keystone_objects(s, layout):
    """Service project, service users with admin+service roles, and every
    endpoint of ``layout``.
    """
    project = _find_or_create(
        s, 'projects', 'project', 'service', {'domain_id': 'default'}
    )
    roles = {r['name']: r['id'] for r in s.get('identity', '/roles')['roles']}
    for role in ('admin', 'service'):
        if role not in roles:
            roles[role] = s.post(
                'identity', '/roles', {'role': {'name': role}}
            )['role']['id']
    for user in lay.SERVICE_USERS:
        uid = _find_or_create(
            s,
            'users',
            'user',
            user,
            {'domain_id': 'default', 'password': lay.service_password(user)},
        )
        for role in ('admin', 'service'):
            s.put(
                'identity',
                '/projects/%s/users/%s/roles/%s' % (project, uid, roles[role]),
            )
    for name, stype, url in layout.endpoints():
        found = s.get('identity', '/services?type=%s' % stype)['services']
        sid = (
            found[0]['id']
            if found
            else s.post(
                'identity',
                '/services',
                {'service': {'name': name, 'type': stype}},
            )['service']['id']
        )
        have = {
            e['interface']
            for e in s.get('identity', '/endpoints?service_id=%s' % sid)[
                'endpoints'
            ]
        }
        for interface in ('public', 'internal', 'admin'):
            if interface not in have:
                s.post(
                    'identity',
                    '/endpoints',
                    {
                        'endpoint': {
                            'service_id': sid,
                            'interface': interface,
                            'url': url,
                            'region_id': lay.REGION,
                        }
                    },
                )


def flavor_names(s):
    return {f['name'] for f in s.get('compute', '/flavors')['flavors']}


def ensure_flavor(s, flavor, existing):
    """Create ``(name, vcpus, ram, disk)`` unless ``existing`` has it."""
    name, vcpus, ram, disk = flavor
    if name not in existing:
        s.post(
            'compute',
            '/flavors',
            {
                'flavor': {
                    'name': name,
                    'id': name,
                    'vcpus': vcpus,
                    'ram': ram,
                    'disk': disk,
                }
            },
        )


def image(s, glance_log, timeout=60):
    """The public raw image :data:`IMAGE`, uploaded and active."""
    images = s.get('image', '/v2/images?name=%s' % IMAGE)['images']
    if images and images[0]['status'] == 'active':
        return
    found = (
        images[0]
        if images
        else s.post(
            'image',
            '/v2/images',
            {
                'name': IMAGE,
                'disk_format': 'raw',
                'container_format': 'bare',
                'visibility': 'public',
            },
        )
    )
    if found['status'] == 'queued':
        s.put(
            'image',
            '/v2/images/%s/file' % found['id'],
            raw=b'\0' * IMAGE_BYTES,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = s.get('image', '/v2/images/%s' % found['id'])['status']
        if status == 'active':
            return
        time.sleep(0.5)
    raise CloudError(
        'glance',
        'image %s not active after upload (%s)' % (IMAGE, status),
        glance_log,
    )


def network(s):
    """The shared flat network :data:`NETWORK` with one subnet (no DHCP:
    neutron runs its API only).
    """
    nets = s.get('network', '/v2.0/networks?name=%s' % NETWORK)['networks']
    net = (
        nets[0]
        if nets
        else s.post(
            'network',
            '/v2.0/networks',
            {
                'network': {
                    'name': NETWORK,
                    'shared': True,
                    'provider:network_type': 'flat',
                    'provider:physical_network': 'physnet1',
                }
            },
        )['network']
    )
    if not net.get('subnets'):
        s.post(
            'network',
            '/v2.0/subnets',
            {
                'subnet': {
                    'network_id': net['id'],
                    'name': NETWORK + '-subnet',
                    'ip_version': 4,
                    'cidr': SUBNET_CIDR,
                    'enable_dhcp': False,
                }
            },
        )


def _find_or_create(s, collection, kind, name, extra):
    found = s.get('identity', '/%s?name=%s' % (collection, name))[collection]
    if found:
        return found[0]['id']
    body = {kind: dict(extra, name=name)}
    return s.post('identity', '/' + collection, body)[kind]['id']
