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
"""The cloud-wide limits of a drain, as arithmetic over plain values.

A drain may start a live migration only while ``--max-parallel`` (every
migration in the cloud) and ``--max-per-host`` (every migration touching a
host, outbound and inbound) both leave room. The counts include what nova
already runs that this command did not start: the caller lists nova's
in-flight migration records and adds its own just-started ones whose
record has not shown yet (nova creates it after answering 202).

Example: limits 4 total, 2 per host; nova runs c1->c3 and c2->c3. A move
c1->c4 may start (total 3, c1 2, c4 1); c1->c3 may not (c3 has 2).
"""

import collections
import dataclasses

#: nova's default ``max_concurrent_live_migrations``: on each source, more
#: than this many wait in ``queued`` (they count here as in flight)
NOVA_DEFAULT_MAX_CONCURRENT = 1


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a drain may run at once.

    :param max_parallel: migrations in the whole cloud, or None (no limit).
    :param max_per_host: migrations touching one host, or None.
    :param inbound: whether ``max_per_host`` counts inbound migrations too
        (the command then chooses each destination); False keeps the old
        ``--concurrency`` meaning: outbound from each drained host only.
    """

    max_parallel: int = None
    max_per_host: int = None
    inbound: bool = True

    def describe(self):
        """One line for the plan, e.g. ``'at most 4 in the cloud, 2 per
        host (out + in)'``.
        """
        parts = []
        if self.max_parallel is not None:
            parts.append('at most %d in the cloud' % self.max_parallel)
        if self.max_per_host is not None:
            parts.append(
                '%d per host (%s)'
                % (
                    self.max_per_host,
                    'out + in' if self.inbound else 'outbound',
                )
            )
        return ', '.join(parts) or 'no limit'


@dataclasses.dataclass(frozen=True)
class Flight:
    """One migration in flight: its key (server ID), source, destination
    (None while the scheduler has not chosen one).
    """

    key: str
    source: str
    dest: str = None


@dataclasses.dataclass(frozen=True)
class Load:
    """How many migrations run in the cloud and touch each host."""

    total: int
    outbound: dict
    inbound: dict

    def on(self, host, inbound=True):
        """Migrations touching ``host`` (outbound, plus inbound if asked)."""
        out = self.outbound.get(host, 0)
        return out + (self.inbound.get(host, 0) if inbound else 0)


def load(flights):
    """Count flights; one per key (a server migrates once at a time).

    :param flights: iterable of :class:`Flight`; a later one with the same
        key replaces an earlier one (our own guess replaced by nova's
        record).
    :returns: a :class:`Load`.
    """
    by_key = {}
    for f in flights:
        by_key[f.key] = f
    out, inn = collections.Counter(), collections.Counter()
    for f in by_key.values():
        out[f.source] += 1
        if f.dest and f.dest != f.source:
            inn[f.dest] += 1
    return Load(len(by_key), dict(out), dict(inn))


def blocked(current, limits, source, dest=None):
    """Why a migration ``source -> dest`` may not start now, or None.

    :param current: the :class:`Load` now.
    :param dest: the destination the command chose, or None (scheduler's
        choice: only checked when ``limits.inbound`` is False).
    :returns: a reason string, or None when it may start.
    """
    if limits.max_parallel is not None and (
        current.total >= limits.max_parallel
    ):
        return '%d migrations run in the cloud (--max-parallel %d)' % (
            current.total,
            limits.max_parallel,
        )
    cap = limits.max_per_host
    if cap is None:
        return None
    if current.on(source, limits.inbound) >= cap:
        return '%d migrations touch %s (--max-per-host %d)' % (
            current.on(source, limits.inbound),
            source,
            cap,
        )
    if limits.inbound:
        if dest is None:
            return 'no destination chosen (--max-per-host counts inbound)'
        if current.on(dest) >= cap:
            return '%d migrations touch %s (--max-per-host %d)' % (
                current.on(dest),
                dest,
                cap,
            )
    return None


def pick_destination(current, limits, candidates):
    """The least busy candidate with room under ``--max-per-host``.

    :param candidates: host names that can hold the server (capacity and
        anti-affinity already checked), in preference order.
    :returns: a host name, or None when every candidate is at its limit.
    """
    best = None
    for host in candidates:
        busy = current.on(host)
        if limits.max_per_host is not None and busy >= limits.max_per_host:
            continue
        if best is None or busy < best[0]:
            best = (busy, host)
    return best[1] if best else None


def nova_note(limits, nova_max_concurrent=NOVA_DEFAULT_MAX_CONCURRENT):
    """The plan's note when nova's own per-source limit is the tighter one.

    nova-compute runs at most ``max_concurrent_live_migrations`` at once
    on each source and queues the rest; a queued migration still counts
    against our limits, so the command never starts more than it counts.

    :returns: a sentence, or None when ours is the tighter limit.
    """
    per_source = limits.max_per_host
    if limits.max_parallel is not None and (
        per_source is None or limits.max_parallel < per_source
    ):
        per_source = limits.max_parallel
    if per_source is not None and per_source <= nova_max_concurrent:
        return None
    return (
        'nova-compute runs at most max_concurrent_live_migrations '
        '(default %d) at once per source, fewer than these limits allow; '
        'the rest wait in "queued" and count here as in flight'
        % nova_max_concurrent
    )


def scheduler_note(limits, n_hosts):
    """The plan's note when nova's scheduler chooses destinations for a
    drain of several hosts: it may pick a host a later wave drains.

    :returns: a sentence, or None.
    """
    if limits.inbound or n_hosts < 2:
        return None
    return (
        "without --max-per-host nova's scheduler chooses each destination "
        'and may choose a host a later wave drains (its servers then move '
        'twice); --max-per-host makes the drain choose them'
    )
