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

Each function takes an admin openstacksdk connection (see
:mod:`testbed.cloud.api`) and creates only what is missing, so a rerun
after an interrupted ``up`` is harmless; :mod:`testbed.cloud.bootstrap`
decides when to call them.
"""

from openstack import exceptions as sdk_exceptions

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
DOMAIN = 'default'


def find(finder, name, **query):
    """What an openstacksdk ``find_*`` proxy method finds, or None (its
    ``ignore_missing=True`` is deprecated).

        find(conn.network.find_network, 'private')
    """
    try:
        return finder(name, ignore_missing=False, **query)
    except sdk_exceptions.NotFoundException:
        return None


def keystone_objects(conn, layout):
    """Service project, service users with admin+service roles, and every
    endpoint of ``layout``.
    """
    ident = conn.identity
    project = find(
        ident.find_project, 'service', domain_id=DOMAIN
    ) or ident.create_project(name='service', domain_id=DOMAIN)
    roles = [
        find(ident.find_role, role) or ident.create_role(name=role)
        for role in ('admin', 'service')
    ]
    for name in lay.SERVICE_USERS:
        user = find(
            ident.find_user, name, domain_id=DOMAIN
        ) or ident.create_user(
            name=name,
            domain_id=DOMAIN,
            password=lay.service_password(name),
        )
        for role in roles:
            ident.assign_project_role_to_user(project, user, role)
    for name, stype, url in layout.endpoints():
        found = list(ident.services(type=stype))
        service = (
            found[0] if found else ident.create_service(name=name, type=stype)
        )
        have = {e.interface for e in ident.endpoints(service_id=service.id)}
        for interface in ('public', 'internal', 'admin'):
            if interface not in have:
                ident.create_endpoint(
                    service_id=service.id,
                    interface=interface,
                    url=url,
                    region_id=lay.REGION,
                )


def rehash_passwords(conn):
    """Set the admin's and the service users' passwords again, so that
    keystone stores them with its current ``password_hash_rounds`` (a
    stored hash keeps the rounds it was made with). The admin comes last:
    keystone revokes a user's tokens when the password is set, ``conn``'s
    own included.
    """
    ident = conn.identity
    users = [
        (name, lay.service_password(name)) for name in lay.SERVICE_USERS
    ] + [('admin', lay.ADMIN_PASSWORD)]
    for name, password in users:
        user = find(ident.find_user, name, domain_id=DOMAIN)
        if user is not None:
            ident.update_user(user, password=password)


def flavor_names(conn):
    return {f.name for f in conn.compute.flavors()}


def ensure_flavor(conn, flavor, existing, replace=False):
    """Create ``(name, vcpus, ram, disk)`` unless ``existing`` has it.

    :param replace: if the flavor exists with other sizes, delete and
        create it anew (servers keep their embedded copy).
    """
    name, vcpus, ram, disk = flavor
    if name in existing and replace:
        old = conn.compute.get_flavor(name)
        if (old.vcpus, old.ram, old.disk) != (vcpus, ram, disk):
            conn.compute.delete_flavor(name)
            existing = set(existing) - {name}
    if name not in existing:
        conn.compute.create_flavor(
            name=name, id=name, vcpus=vcpus, ram=ram, disk=disk
        )


def upload_image(conn, name, data, found=None, **properties):
    """A public raw image ``name`` holding ``data``: created, or, if
    ``found`` (an earlier, interrupted ``up`` made it) is still queued,
    uploaded into.
    """
    if found is None:
        return conn.image.create_image(
            name,
            data=data,
            disk_format='raw',
            container_format='bare',
            visibility='public',
            allow_duplicates=True,
            **properties,
        )
    if found.status == 'queued':
        sdk_exceptions.raise_from_response(found.upload(conn.image, data=data))
    return found


def image(conn, glance_log, timeout=60):
    """The public raw image :data:`IMAGE`, uploaded and active."""
    found = find(conn.image.find_image, IMAGE)
    if found is not None and found.status == 'active':
        return
    found = upload_image(conn, IMAGE, b'\0' * IMAGE_BYTES, found)
    try:
        conn.image.wait_for_status(found, 'active', interval=0.5, wait=timeout)
    except sdk_exceptions.ResourceTimeout as e:
        raise CloudError(
            'glance',
            'image %s not active after upload (%s)' % (IMAGE, e),
            glance_log,
        )


def network(conn):
    """The shared flat network :data:`NETWORK` with one subnet (no DHCP:
    neutron runs its API only).
    """
    net = find(conn.network.find_network, NETWORK)
    net = net or conn.network.create_network(
        name=NETWORK,
        is_shared=True,
        provider_network_type='flat',
        provider_physical_network='physnet1',
    )
    if not net.subnet_ids:
        conn.network.create_subnet(
            network_id=net.id,
            name=NETWORK + '-subnet',
            ip_version=4,
            cidr=SUBNET_CIDR,
            is_dhcp_enabled=False,
        )
