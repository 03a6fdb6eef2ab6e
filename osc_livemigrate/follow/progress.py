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
"""Pure progress maths and rendering for ``--wait`` and ``watch``.

One :class:`Update` is built per refresh from what the API returned (the
migration record, the server's ``livemigrate:*`` metadata) and a time stamp
the caller measured; it renders either as one TTY bar line or as one JSON
object. The honest outcome of a wait is decided here too, from plain values,
so every branch is testable without an API.
"""

import dataclasses
import json

from osc_livemigrate.follow import format as fmt
from osc_livemigrate.follow import trust
from osc_livemigrate.tables import contract

# Nova migration statuses of a live migration that has not finished yet.
IN_FLIGHT = frozenset(
    (
        'accepted',
        'queued',
        'preparing',
        'pre-migrating',
        'running',
        'running (post-copy)',
        'post-migrating',
        'migrating',
    )
)
SUCCESS = 'completed'

#: phases in which nothing flows until something outside changes: no ETA
WAITING_PHASES = frozenset((contract.POSTCOPY_FAILED,))

#: the phase a nova status implies when the driver has not said (stock nova,
#: or before its first sample): nova marks post-copy in the status itself
STATUS_PHASES = {'running': 'pre-copy', 'running (post-copy)': 'post-copy'}
#: driver phases after which a new migration starts afresh
FINAL_PHASES = frozenset(('completed', 'aborted', 'failed'))


def phase_of(keys, metadata, status):
    """The driver's phase for this migration; else what nova's status says.

    Our driver keeps the status ``running`` in post-copy too, so the status
    is trusted only when the driver has published no phase, or one of a
    migration that has ended. A live phase we cannot tie to this migration
    (no UUID before 2.59) gives None rather than a guess.
    """
    if keys.get('phase'):
        return keys['phase']
    published = (metadata or {}).get(contract.PREFIX + 'phase')
    if published and published not in FINAL_PHASES:
        return None
    return STATUS_PHASES.get(status)


#: what every percentage the plugin prints measures (for --help)
PERCENT_HELP = (
    'The percentage is the share of memory and disk bytes no longer '
    'remaining (100 - remaining / total, as nova computes it); while '
    'following a migration it never goes below the highest value seen'
)

BYTE_FIELDS = tuple(
    '%s_%s_bytes' % (kind, what)
    for kind in ('memory', 'disk')
    for what in ('total', 'processed', 'remaining')
)


def driver_keys(metadata, migration_uuid):
    """The driver's live keys for one migration, without the prefix.

    :param metadata: server metadata dict (may be None).
    :param migration_uuid: the migration being watched; keys written for
        another migration (or when we do not know which one: before 2.59)
        are stale and ignored, as the contract says.
    :returns: e.g. ``{'phase': 'pre-copy', 'action': 'set-downtime'}``.
    """
    metadata = metadata or {}
    if (
        not migration_uuid
        or metadata.get(contract.MIGRATION_KEY) != migration_uuid
    ):
        return {}
    return {
        k: metadata[contract.PREFIX + k]
        for k in contract.STATUS_FIELDS
        if metadata.get(contract.PREFIX + k) not in (None, '')
    }


def _sum(*values):
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def byte_counts(migration):
    """(total, processed, remaining) of memory and disk; None if unknown."""
    get = lambda name: getattr(migration, name, None)  # noqa: E731
    return (
        _sum(get('memory_total_bytes'), get('disk_total_bytes')),
        _sum(get('memory_processed_bytes'), get('disk_processed_bytes')),
        _sum(get('memory_remaining_bytes'), get('disk_remaining_bytes')),
    )


class RateTracker:
    """Throughput over a sliding window of (time, processed bytes) samples.

    Nova saves the counters only every monitor interval (5 s by default), so
    two refreshes may see the same value; a window of several saves smooths
    that saw-tooth. Example: samples (0 s, 0 B) and (10 s, 100 MiB) give
    10 MiB/s.
    """

    def __init__(self, window_s=30.0):
        self.window_s = window_s
        self._samples = []
        self.highest_percent = None

    def no_lower(self, pct):
        """``pct``, or the highest percentage seen before if that is higher.

        Remaining bytes grow again when the guest dirties memory faster than
        a round copies it, so nova's 100 - remaining % can fall (98.4 then
        96.8); a progress display that goes backwards reads as a fault.
        Example: 40, then 35 -> 40, then 60 -> 60.
        """
        if pct is None:
            return self.highest_percent
        if self.highest_percent is None or pct > self.highest_percent:
            self.highest_percent = pct
        return self.highest_percent

    def add(self, now_s, processed_bytes):
        """Record a sample; return bytes/s, or None until two samples differ in
        time.
        """
        if processed_bytes is None:
            return self.rate()
        if self._samples and processed_bytes < self._samples[-1][1]:
            self._samples = []  # counters restarted: a new attempt
        self._samples.append((now_s, processed_bytes))
        while (
            len(self._samples) > 2
            and now_s - self._samples[1][0] >= self.window_s
        ):
            self._samples.pop(0)
        return self.rate()

    def rate(self):
        if len(self._samples) < 2:
            return None
        (t0, p0), (t1, p1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return None
        return (p1 - p0) / (t1 - t0)


@dataclasses.dataclass(frozen=True)
class Update:
    """One refresh of one migration, everything the displays need."""

    server: str
    migration: str = None
    status: str = None
    elapsed_s: float = 0.0
    total_bytes: int = None
    processed_bytes: int = None
    remaining_bytes: int = None
    rate_bytes_per_s: float = None
    phase: str = None
    action: str = None
    reason: str = None
    source: str = None
    dest: str = None
    memory_total_bytes: int = None
    memory_processed_bytes: int = None
    memory_remaining_bytes: int = None
    disk_total_bytes: int = None
    disk_processed_bytes: int = None
    disk_remaining_bytes: int = None
    #: the highest percentage seen before for this migration, if any
    percent_floor: float = None
    #: the fields above whose value came from server metadata, which the
    #: server's owner can write (:mod:`trust`)
    owner_writable: tuple = ()

    @property
    def percent(self):
        pct = fmt.percent_done(self.total_bytes, self.remaining_bytes)
        if self.percent_floor is not None and (
            pct is None or pct < self.percent_floor
        ):
            return self.percent_floor
        return pct

    @property
    def eta_s(self):
        if self.phase in WAITING_PHASES:
            return None
        if not self.rate_bytes_per_s or self.rate_bytes_per_s <= 0:
            return None
        if self.remaining_bytes is None:
            return None
        return self.remaining_bytes / self.rate_bytes_per_s

    def as_dict(self):
        d = dataclasses.asdict(self)
        del d['percent_floor']
        d['percent'] = None if self.percent is None else round(self.percent, 1)
        d['eta_s'] = None if self.eta_s is None else round(self.eta_s, 1)
        d['elapsed_s'] = round(self.elapsed_s, 1)
        d['owner_writable'] = list(self.owner_writable)
        if self.rate_bytes_per_s is not None:
            d['rate_bytes_per_s'] = int(self.rate_bytes_per_s)
        return d


def make_update(
    server,
    migration,
    metadata,
    elapsed_s,
    rate_tracker,
    migration_uuid=None,
    status=None,
):
    """Build an Update from API objects (any object with nova's field names).

    :param migration: a server migration (bytes) or an os-migrations record
        (status only), or None when nova no longer lists it.
    :param rate_tracker: a :class:`RateTracker` fed with this sample.
    """
    total = processed = remaining = None
    if migration is not None:
        total, processed, remaining = byte_counts(migration)
        status = status or getattr(migration, 'status', None)
        migration_uuid = migration_uuid or getattr(migration, 'uuid', None)
    keys = driver_keys(metadata, migration_uuid)
    phase = phase_of(keys, metadata, status)
    marked = tuple(
        f for f in ('phase', 'action', 'reason') if keys.get(f) is not None
    )
    rate = rate_tracker.add(elapsed_s, processed) if rate_tracker else None
    floor = None
    if rate_tracker is not None:
        floor = rate_tracker.highest_percent
        rate_tracker.no_lower(fmt.percent_done(total, remaining))
    return Update(
        server=server,
        migration=migration_uuid,
        status=status,
        elapsed_s=elapsed_s,
        total_bytes=total,
        processed_bytes=processed,
        remaining_bytes=remaining,
        rate_bytes_per_s=rate,
        phase=phase,
        action=keys.get('action'),
        reason=keys.get('reason'),
        source=getattr(migration, 'source_compute', None),
        dest=getattr(migration, 'dest_compute', None),
        percent_floor=floor,
        owner_writable=marked,
        **{name: getattr(migration, name, None) for name in BYTE_FIELDS},
    )


def render_bar(update, width=100, bar_cells=20):
    """One TTY line of at most ``width`` columns, what matters first.

    Example (width 100): ``[##########..........]  50% ETA 1:42 pre-copy,
    1.00 GiB left, 10.0 MiB/s, 1.00 GiB done | set-downtime: stalled``.
    Percentage, ETA, phase and the driver's last action always stay; on a
    narrower terminal the memory/disk split of ``left`` goes first, then
    ``done``, the bar, the rate and ``left``, and the action's reason is cut
    to the room left (:func:`format.fit`). At 80 columns the example reads
    ``50% ETA 1:42 pre-copy, 1.00 GiB left, 10.0 MiB/s | set-downtime:
    stalled``. When the migration copies disks
    too, ``left`` is split: ``1.00 GiB left (memory 512 MiB, disk 512
    MiB)``. Byte counts and the rate are left out while unknown. What
    came from server metadata is tagged (:data:`trust.TAG`): ``post-copy
    [owner-writable], ... | [owner-writable] postcopy: stalled``.
    """
    mine = update.owner_writable
    pct = update.percent
    filled = int((pct or 0) * bar_cells / 100)
    segments = (
        ('[%s%s] ' % ('#' * filled, '.' * (bar_cells - filled)), 3),
        ('%4s' % fmt.human_percent(pct), 0),
        (' ETA %s' % fmt.human_duration(update.eta_s), 0),
        (
            ' %s'
            % trust.tagged(
                update.phase or update.status or '-', 'phase' in mine
            ),
            0,
        ),
        (_known(', %s left', update.remaining_bytes, fmt.human_bytes), 1),
        (_split(update), 5),
        (_known(', %s', update.rate_bytes_per_s, fmt.human_rate), 2),
        (_known(', %s done', update.processed_bytes, fmt.human_bytes), 4),
        (_action(update.action, 'action' in mine), 0),
    )
    tail = ': %s' % update.reason if update.action and update.reason else ''
    return fmt.fit(segments, width, tail)


def _action(action, owner_writable):
    if not action:
        return ''
    if owner_writable:
        return ' | %s %s' % (trust.TAG, action)
    return ' | %s' % action


def _known(template, value, human):
    """``template`` filled with ``human(value)``; '' when value is unknown
    (the ETA's ``-`` already says so).
    """
    return '' if value is None else template % human(value)


def _split(update):
    if not update.disk_total_bytes:
        return ''
    return ' (memory %s, disk %s)' % (
        fmt.human_bytes(update.memory_remaining_bytes),
        fmt.human_bytes(update.disk_remaining_bytes),
    )


def render_json(kind, **fields):
    """One JSON object on one line, ``{"type": kind, ...}``, keys sorted."""
    return json.dumps(dict(fields, type=kind), sort_keys=True)


TABLE_HEADERS = (
    'Server',
    'Migration',
    'Status',
    'Source',
    'Dest',
    'Progress',
    'Memory Left',
    'Disk Left',
    'Rate',
    'ETA',
)


def render_table(updates):
    """A plain text table of updates (the TTY view of ``watch``)."""
    rows = [TABLE_HEADERS] + [
        (
            u.server,
            u.migration or '-',
            trust.tagged(
                u.phase or u.status or '-', 'phase' in u.owner_writable
            ),
            u.source or '-',
            u.dest or '-',
            fmt.human_percent(u.percent),
            fmt.human_bytes(u.memory_remaining_bytes),
            fmt.human_bytes(u.disk_remaining_bytes),
            fmt.human_rate(u.rate_bytes_per_s),
            fmt.human_duration(u.eta_s),
        )
        for u in updates
    ]
    widths = [
        max(len(str(r[i])) for r in rows) for i in range(len(TABLE_HEADERS))
    ]
    return '\n'.join(
        '  '.join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
        for r in rows
    )
