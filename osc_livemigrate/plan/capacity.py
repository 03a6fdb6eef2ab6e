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
"""Can the remaining hosts hold a host's servers? Arithmetic over placement.

Before a host is emptied, its servers' allocations (from placement) are
placed, on paper, onto the hosts that stay enabled: each host's free
amount of a resource class is ``(total - reserved) * allocation_ratio -
used``, the same sum placement does. Servers go largest first, each to the
candidate with the most room left (so a wave spreads), never to a host
that already holds a member of one of its anti-affinity groups. The
packing is greedy: when it fails the cloud may still, barely, hold the
servers, but a drain that would depend on that is better stopped.

Example: c2 has 8 VCPU free and c3 4; c1's servers need 4, 4 and 2: vm-a
-> c2, vm-b -> c2 (c3 has 4 too; c2 came first), vm-c -> c3.
"""

import dataclasses

MEBI = 'MEMORY_MB'


@dataclasses.dataclass(frozen=True)
class Host:
    """A compute host as placement sees it.

    :param inventories: ``{resource class: {'total', 'reserved',
        'allocation_ratio', 'max_unit'}}`` (placement's inventory fields).
    :param usages: ``{resource class: used}``.
    """

    name: str
    inventories: dict
    usages: dict

    def free(self):
        """``{resource class: amount a new allocation may take}``."""
        out = {}
        for rc, inv in self.inventories.items():
            total = inv.get('total', 0) or 0
            reserved = inv.get('reserved', 0) or 0
            ratio = inv.get('allocation_ratio', 1.0) or 1.0
            out[rc] = int((total - reserved) * ratio) - (
                self.usages.get(rc, 0) or 0
            )
        return out


@dataclasses.dataclass(frozen=True)
class Need:
    """One server to place: its allocation on its host and the members of
    its anti-affinity groups (server IDs, itself excluded).
    """

    server_id: str
    name: str
    resources: dict
    apart_from: frozenset = frozenset()


@dataclasses.dataclass
class Fit:
    """The paper placement: ``{server ID: host}``, or what is short."""

    placed: dict
    short: str = None

    @property
    def ok(self):
        return self.short is None


def _fits(free, resources):
    return all(free.get(rc, 0) >= amount for rc, amount in resources.items())


def _room(free, resources):
    """How much is left after taking ``resources``: the least left of any
    class the server asks for.
    """
    if not resources:
        return 0
    return min(free.get(rc, 0) - amount for rc, amount in resources.items())


def _amounts(resources):
    return ', '.join(
        '%s %s' % (amount, rc) for rc, amount in sorted(resources.items())
    )


def place(needs, hosts, where=None, later=frozenset()):
    """Place ``needs`` onto ``hosts`` on paper.

    :param needs: list of :class:`Need` (one host's servers).
    :param hosts: list of :class:`Host` that stay enabled.
    :param where: ``{server ID: host}`` of servers already elsewhere (for
        anti-affinity: a group member on a host rules that host out); the
        result's placements are added to it.
    :param later: hosts a later wave drains: used only where no other host
        fits (a server sent there moves again).
    :returns: a :class:`Fit`; on failure ``short`` names the first server
        that found no host and why, and ``placed`` holds what did fit.
    """
    free = {h.name: h.free() for h in hosts}
    order = [h.name for h in hosts]
    where = dict(where or {})
    placed = {}
    for need in sorted(
        needs, key=lambda n: (-sum(n.resources.values()), n.name)
    ):
        taken = {where.get(m) for m in need.apart_from} - {None}
        fitting = [
            h
            for h in order
            if h not in taken and _fits(free[h], need.resources)
        ]
        if not fitting:
            return Fit(placed, _shortfall(need, free, taken))
        best = max(
            fitting,
            key=lambda h: (
                h not in later,
                _room(free[h], need.resources),
                -order.index(h),
            ),
        )
        for rc, amount in need.resources.items():
            free[best][rc] -= amount
        placed[need.server_id] = best
        where[need.server_id] = best
    return Fit(placed)


def _shortfall(need, free, taken):
    if not free:
        return 'server %s needs %s; no enabled host is left' % (
            need.name,
            _amounts(need.resources),
        )
    open_hosts = [h for h in free if h not in taken]
    if not open_hosts:
        return (
            'server %s: every enabled host already holds a member of its '
            'anti-affinity group' % need.name
        )
    most = {
        rc: max(free[h].get(rc, 0) for h in open_hosts)
        for rc in need.resources
    }
    lacking = {
        rc: amount
        for rc, amount in need.resources.items()
        if most[rc] < amount
    }
    what = lacking or need.resources
    return 'server %s needs %s; the most any host%s has free is %s' % (
        need.name,
        _amounts(what),
        ' it may go to' if taken else '',
        _amounts({rc: max(0, most[rc]) for rc in what}),
    )


def destinations(need, hosts_free, where=None):
    """Hosts that can take ``need`` now, most room first.

    :param hosts_free: ``{host: {resource class: free}}``, live (the
        runner takes what it sends).
    :returns: list of host names.
    """
    where = where or {}
    taken = {where.get(m) for m in need.apart_from} - {None}
    fitting = [
        h
        for h in hosts_free
        if h not in taken and _fits(hosts_free[h], need.resources)
    ]
    return sorted(
        fitting, key=lambda h: (-_room(hosts_free[h], need.resources), h)
    )


def take(hosts_free, host, resources, sign=1):
    """Take (``sign=1``) or give back (``-1``) ``resources`` on ``host``."""
    for rc, amount in resources.items():
        hosts_free[host][rc] = hosts_free[host].get(rc, 0) - sign * amount


def anti_affinity(groups):
    """``{server ID: frozenset(other members)}`` for anti-affinity groups.

    :param groups: iterable of ``(policy, member IDs)``; ``policy`` is
        nova's (``anti-affinity``; ``soft-anti-affinity`` is a preference
        the scheduler may break, so it does not stop a drain).
    """
    out = {}
    for policy, members in groups:
        if policy != 'anti-affinity':
            continue
        members = frozenset(members)
        for m in members:
            out[m] = out.get(m, frozenset()) | (members - {m})
    return out


class Ledger:
    """The paper state of the cloud while a drain runs: free amounts of
    the hosts servers may go to, what each server needs, where anti-affinity
    group members are. Pure bookkeeping; the command fills it from
    placement and nova once, and the runner keeps it up to date.

    :param hosts: list of :class:`Host` (every enabled compute host).
    :param needs: ``{server ID: Need}`` of the servers to move.
    :param where: ``{server ID: host}`` of every anti-affinity group member.
    """

    def __init__(self, hosts, needs, where):
        self.hosts = {h.name: h for h in hosts}
        self.free = {h.name: h.free() for h in hosts}
        self.needs = dict(needs)
        self.where = dict(where)
        self.closed = set()  # hosts being drained or drained
        self.later = set()  # hosts a later wave drains: a last resort
        self.paper = {}  # server ID -> host it is reserved on, on paper

    def close(self, hosts):
        """No server may go to ``hosts`` any more (being drained)."""
        self.closed.update(hosts)
        self.later.difference_update(hosts)

    def defer(self, hosts):
        """``hosts`` are drained later: destinations of last resort."""
        self.later.update(set(hosts) - self.closed)

    def reopen(self, host):
        """``host`` is drained and enabled again: a destination again."""
        self.closed.discard(host)

    def moved(self, server_id, source):
        """The server left ``source``: its room there is free again."""
        need = self.needs.get(server_id)
        if need is not None and source in self.free:
            take(self.free, source, need.resources, sign=-1)

    def open_hosts(self):
        return [
            self.hosts[h] for h in sorted(self.free) if h not in self.closed
        ]

    def check(self, host, server_ids):
        """Whether the hosts left can hold ``server_ids`` of ``host``.

        Reads the live free amounts (what is already on its way is taken).
        :returns: a :class:`Fit`; ``short`` starts with the host's name.
        """
        needs = [self.needs[s] for s in server_ids if s in self.needs]
        # the live free amounts, as hosts with nothing used
        hosts = [
            Host(
                h.name,
                {
                    rc: {'total': amount, 'reserved': 0, 'allocation_ratio': 1}
                    for rc, amount in self.free[h.name].items()
                },
                {},
            )
            for h in self.open_hosts()
        ]
        fit = place(needs, hosts, self.where, self.later)
        if not fit.ok:
            wanted, free = {}, {}
            for n in needs:
                for rc, amount in n.resources.items():
                    wanted[rc] = wanted.get(rc, 0) + amount
            for h in hosts:
                for rc, amount in h.free().items():
                    if rc in wanted:
                        free[rc] = free.get(rc, 0) + max(0, amount)
            fit.short = (
                'capacity short for host %s: its %d servers need %s, the %d '
                'hosts left have %s free; %s'
                % (
                    host,
                    len(needs),
                    _amounts(wanted),
                    len(hosts),
                    _amounts(free) or 'nothing',
                    fit.short,
                )
            )
        return fit

    def reserve(self, fit):
        """Hold the paper placement of a host that passed :meth:`check`,
        so the next host's check sees it taken; a real move replaces it.
        """
        for server_id, host in fit.placed.items():
            self.take(server_id, host)
            self.paper[server_id] = host

    def destinations(self, server_id):
        """Open hosts that can take the server now, most room first (its
        own paper reservation counts as free), hosts a later wave drains
        last.
        """
        need = self.needs.get(server_id)
        open_free = {
            h: dict(f) for h, f in self.free.items() if h not in self.closed
        }
        if need is None:
            return sorted(open_free)
        own = self.paper.get(server_id)
        if own in open_free:
            take(open_free, own, need.resources, sign=-1)
        found = destinations(need, open_free, self.where)
        return sorted(found, key=lambda h: h in self.later)

    def take(self, server_id, host):
        """The server is on its way to ``host`` (its paper reservation, if
        any, is given back first).
        """
        need = self.needs.get(server_id)
        old = self.paper.pop(server_id, None)
        if need is not None and old in self.free:
            take(self.free, old, need.resources, sign=-1)
        if need is not None and host in self.free:
            take(self.free, host, need.resources)
        self.where[server_id] = host

    def give_back(self, server_id, host, back_to=None):
        """A move to ``host`` failed: the server stays on ``back_to``."""
        need = self.needs.get(server_id)
        if need is not None and host in self.free:
            take(self.free, host, need.resources, sign=-1)
        if back_to is not None:
            self.where[server_id] = back_to
