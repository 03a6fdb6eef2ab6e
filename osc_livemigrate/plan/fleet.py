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
"""Which hosts a drain empties, in which waves, and the plan it shows.

The hosts come from the command line, an aggregate or an availability zone
(any mix; each host once, in the order given, an aggregate's and a zone's
sorted by name). They are drained ``--hosts-at-once`` at a time: a wave
starts when the previous one is over, so the hosts still to drain, and
those already drained, are known when each wave's capacity is checked.

Example: hosts c1..c5, ``--hosts-at-once 2``: waves [c1, c2], [c3, c4],
[c5].
"""

import dataclasses

from osc_livemigrate.plan import drain as dp

PLAN_HEADERS = ('Wave', 'Host', 'Server', 'Action', 'Policy', 'Detail')


def select_hosts(named=(), aggregate_hosts=(), zone_hosts=()):
    """The hosts to drain, each once.

    :param named: hosts given on the command line, kept in their order.
    :param aggregate_hosts: an aggregate's hosts (sorted here).
    :param zone_hosts: an availability zone's hosts (sorted here).
    :returns: list of host names.
    """
    out = []
    for host in list(named) + sorted(aggregate_hosts) + sorted(zone_hosts):
        if host not in out:
            out.append(host)
    return out


def waves(hosts, at_once):
    """Split ``hosts`` into consecutive waves of ``at_once`` hosts.

    :param at_once: a positive integer (``--hosts-at-once``).
    """
    if at_once < 1:
        raise ValueError('at_once must be positive, not %r' % at_once)
    return [
        list(hosts[i : i + at_once]) for i in range(0, len(hosts), at_once)
    ]


@dataclasses.dataclass(frozen=True)
class HostPlan:
    """One host of the plan: its wave and its servers (drain.Item)."""

    wave: int
    host: str
    items: tuple
    #: why the drain stops before this host, or '' (e.g. capacity short)
    stop: str = ''

    @property
    def moving(self):
        return [i for i in self.items if i.action != dp.SKIP]


def plan_rows(host_plans, destinations=None):
    """The ``--dry-run`` table: one row per server, in the order they go.

    :param host_plans: list of :class:`HostPlan`.
    :param destinations: ``{server ID: host}`` from the capacity check
        (shown as where each server would fit), or None.
    :returns: rows matching :data:`PLAN_HEADERS`.
    """
    destinations = destinations or {}
    rows = []
    for hp in host_plans:
        if hp.stop:
            rows.append((hp.wave, hp.host, None, 'stop', None, hp.stop))
            continue
        if not hp.items:
            rows.append(
                (hp.wave, hp.host, None, 'disable', None, 'no servers')
            )
        for item in hp.items:
            rows.append(
                (
                    hp.wave,
                    hp.host,
                    item.name,
                    item.action,
                    item.policy or '',
                    item.reason or _fits_on(destinations.get(item.server_id)),
                )
            )
    return rows


def _fits_on(host):
    return 'fits on %s' % host if host else ''


def summary(host_plans, limits_line, notes=()):
    """The lines a plan starts with: hosts, waves, servers, limits, notes."""
    n_waves = len({hp.wave for hp in host_plans})
    moving = sum(len(hp.moving) for hp in host_plans if not hp.stop)
    skipped = sum(
        len(hp.items) - len(hp.moving) for hp in host_plans if not hp.stop
    )
    lines = [
        'Plan: %d host(s) in %d wave(s); %d server(s) to move, %d skipped; '
        'limits: %s' % (len(host_plans), n_waves, moving, skipped, limits_line)
    ]
    lines.extend('Note: %s' % n for n in notes if n)
    return lines
