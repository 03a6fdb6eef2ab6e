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
"""What a drain reads from and does to the cloud besides migrating.

nova (compute services, hypervisors, server groups, aggregates) and
placement (inventories, usages, the allocations on a drained host), all
through openstacksdk proxies, turned into the plain values ``capacity``
and ``fleet`` work on; and the per-host actions the runner calls:
disable, enable, the operator's ``--wait-for`` command.

Cost of one drain, read once: one services listing, one hypervisors
listing, one server groups listing; per enabled host three placement
requests (provider, inventories, usages); per drained host one more (the
allocations on it); per anti-affinity member that is not on a drained
host, one server GET.
"""

import shlex
import subprocess

from osc_livemigrate.plan import capacity
from osc_livemigrate.sdk import errors

BINARY = 'nova-compute'


def compute_services(compute):
    """``{host: service}`` of every nova-compute service."""
    with errors.sdk_errors('list the %s services' % BINARY):
        return {s.host: s for s in compute.services(binary=BINARY)}


def aggregate_hosts(compute, name):
    """The hosts of aggregate ``name``; :raises CommandError: if unknown."""
    with errors.sdk_errors(
        'find aggregate %s' % name,
        not_found='No aggregate named %r (see `openstack aggregate list`)'
        % name,
    ):
        return list(
            compute.find_aggregate(name, ignore_missing=False).hosts or ()
        )


def zone_hosts(services, zone):
    """The hosts of availability zone ``zone`` (from the services)."""
    hosts = [h for h, s in services.items() if s.availability_zone == zone]
    if not hosts:
        raise errors.command_error(
            'No %s service in availability zone %r (see `openstack '
            'availability zone list --long`)' % (BINARY, zone)
        )
    return hosts


def check_hosts(hosts, services):
    """:raises CommandError: naming the first host without a service."""
    for host in hosts:
        if host not in services:
            raise errors.command_error(
                'Host %s runs no %s service (see `openstack compute service '
                'list --service %s`)' % (host, BINARY, BINARY)
            )


def _nodes(compute):
    """``{service host: [hypervisor hostname, ...]}``."""
    out = {}
    with errors.sdk_errors('list the hypervisors'):
        for hv in compute.hypervisors(details=True):
            host = (getattr(hv, 'service_details', None) or {}).get('host')
            out.setdefault(host or hv.name, []).append(hv.name)
    return out


def _provider(placement, node):
    with errors.sdk_errors('find the resource provider of %s' % node):
        for rp in placement.resource_providers(name=node):
            return rp
    return None


def _host(placement, host, nodes):
    """A ``capacity.Host`` summing the host's nodes, and their providers."""
    inventories, usages, providers = {}, {}, []
    for node in nodes:
        rp = _provider(placement, node)
        if rp is None:
            continue
        providers.append(rp)
        with errors.sdk_errors('read the inventories of %s' % node):
            for inv in placement.resource_provider_inventories(rp):
                mine = inventories.setdefault(
                    inv.resource_class,
                    {'total': 0, 'reserved': 0, 'allocation_ratio': 1.0},
                )
                mine['total'] += inv.total or 0
                mine['reserved'] += inv.reserved or 0
                mine['allocation_ratio'] = inv.allocation_ratio or 1.0
            used = placement.fetch_resource_provider_usages(rp).usages
        for rc, amount in (used or {}).items():
            usages[rc] = usages.get(rc, 0) + (amount or 0)
    return capacity.Host(host, inventories, usages), providers


def read_ledger(compute, placement, services, drain_hosts):
    """The ``capacity.Ledger`` of a drain, from nova and placement.

    :param services: ``{host: service}`` (:func:`compute_services`).
    :param drain_hosts: the hosts the drain empties.
    """
    nodes = _nodes(compute)
    hosts, needs = [], {}
    for host in sorted(services):
        svc = services[host]
        draining = host in drain_hosts
        if not draining and (
            svc.status != 'enabled' or getattr(svc, 'state', 'up') == 'down'
        ):
            continue
        h, providers = _host(placement, host, nodes.get(host, [host]))
        hosts.append(h)
        if not draining:
            continue
        for rp in providers:
            with errors.sdk_errors('read the allocations on %s' % host):
                for alloc in placement.resource_provider_allocations(rp):
                    need = needs.setdefault(alloc.consumer_id, {})
                    for rc, amount in (alloc.resources or {}).items():
                        need[rc] = need.get(rc, 0) + amount
    groups, where = _anti_affinity(compute, needs)
    return capacity.Ledger(
        hosts,
        {
            sid: capacity.Need(sid, sid, res, groups.get(sid, frozenset()))
            for sid, res in needs.items()
        },
        where,
    )


def _anti_affinity(compute, server_ids):
    """Anti-affinity peers of ``server_ids`` and where each peer runs."""
    with errors.sdk_errors('list the server groups'):
        listed = [
            (
                getattr(g, 'policy', None) or (g.policies or [None])[0],
                g.member_ids or (),
            )
            for g in compute.server_groups(all_projects=True)
        ]
    groups = capacity.anti_affinity(
        (p, m) for p, m in listed if set(m) & set(server_ids)
    )
    where = {}
    for sid in sorted(set().union(*groups.values()) if groups else ()):
        with errors.sdk_errors('find server %s' % sid):
            srv = compute.get_server(sid)
        where[sid] = srv.compute_host
    return groups, where


def name_needs(ledger, servers):
    """Give the ledger's needs the servers' names (for its messages)."""
    for srv in servers:
        need = ledger.needs.get(srv.id)
        if need is not None:
            ledger.needs[srv.id] = capacity.Need(
                need.server_id,
                srv.name or srv.id,
                need.resources,
                need.apart_from,
            )


def disable(compute, service, reason, say):
    """Disable a host's nova-compute service unless it already is so."""
    if service.status == 'disabled' and (
        not reason or service.disabled_reason == reason
    ):
        say(
            '%s on %s already disabled (%s)'
            % (BINARY, service.host, service.disabled_reason or 'no reason')
        )
        return
    with errors.sdk_errors('disable %s on host %s' % (BINARY, service.host)):
        compute.disable_service(
            service, host=service.host, binary=BINARY, disabled_reason=reason
        )
    say(
        'Disabled %s on %s%s'
        % (BINARY, service.host, ' (%s)' % reason if reason else '')
    )


def enable(compute, service, say):
    with errors.sdk_errors('enable %s on host %s' % (BINARY, service.host)):
        compute.enable_service(service, host=service.host, binary=BINARY)
    say('Enabled %s on %s' % (BINARY, service.host))


def wait_for(command, host, run=subprocess.run):
    """Run the operator's ``--wait-for`` command with the host's name as
    its last argument (no shell).

    :returns: ``(ok, message)``; ``message`` says how it ended.
    """
    argv = shlex.split(command) + [host]
    try:
        done = run(argv, check=False)
    except OSError as e:
        return False, 'could not run %s: %s' % (argv[0], e)
    if done.returncode == 0:
        return True, ''
    return False, '%s exited %s' % (command, done.returncode)


def servers_on(compute, host):
    """The servers on ``host`` now (every project)."""
    with errors.sdk_errors('list servers on host %s' % host):
        return list(compute.servers(all_projects=True, compute_host=host))


def in_flight_servers(compute):
    """IDs of servers nova lists with a migration in flight."""
    from osc_livemigrate.follow import waiting

    with errors.sdk_errors('list the migrations in flight'):
        return {
            getattr(m, 'server_id', None)
            for m in waiting.in_flight_records(compute)
        }
