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
"""Pure formatting of bytes, rates, percentages and durations for humans.

Only the plugin's own displays (the ``--wait`` bar, the ``watch`` table)
use these; ``list`` and ``show`` print raw integers as core does. Nothing
here talks to an API or reads a clock.
"""

_UNITS = ('B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB')


def human_bytes(n):
    """Bytes in IEC units with three significant digits.

    :param n: a byte count, or None.
    :returns: ``'-'`` for None, e.g. ``1536 -> '1.50 KiB'``, ``0 -> '0 B'``.
    """
    if n is None:
        return '-'
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    if unit == 'B':
        return '%d B' % n
    if abs(value) >= 100:
        return '%.0f %s' % (value, unit)
    if abs(value) >= 10:
        return '%.1f %s' % (value, unit)
    return '%.2f %s' % (value, unit)


def human_rate(bytes_per_s):
    """Throughput, e.g. ``1048576 -> '1.00 MiB/s'``; ``'-'`` when unknown."""
    if bytes_per_s is None:
        return '-'
    return human_bytes(int(bytes_per_s)) + '/s'


def human_percent(pct):
    """``42.4 -> '42%'``; ``'-'`` when unknown. Rounds down, so 99.9 never
    shows 100.
    """
    if pct is None:
        return '-'
    return '%d%%' % int(pct)


def human_duration(seconds):
    """``75 -> '1:15'``, ``3725 -> '1:02:05'``; ``'-'`` if None or < 0."""
    if seconds is None or seconds < 0:
        return '-'
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return '%d:%02d:%02d' % (hours, minutes, secs)
    return '%d:%02d' % (minutes, secs)


def percent_done(total, remaining):
    """Share of ``total`` no longer remaining, clamped to 0..100.

    Nova's instance progress uses the same definition (100 - remaining %),
    which stays meaningful when pre-copy rounds resend dirtied pages and the
    processed counter runs past the total.

    :returns: a float, or None when total is unknown or zero.
    """
    if not total or remaining is None:
        return None
    return max(0.0, min(100.0, 100.0 * (total - remaining) / total))


def fit(segments, width, tail='', tail_min=12):
    """One line of at most ``width`` columns from ranked segments.

    Segments keep their order; while the line is too wide, the segment with
    the highest rank goes first (rank 0: never dropped). ``tail`` (free
    text, e.g. a reason) takes the room left at the end and is cut with
    ``…``; segments are dropped to leave it ``tail_min`` columns. What
    still does not fit is cut with ``…``.

    :param segments: ``(text, rank)`` pairs; each ``text`` carries its own
        leading separator, empty ones are skipped.
    :returns: the line, never longer than ``width``. Example:
        ``fit([('50%', 0), (', 1.00 GiB left', 1)], 10) -> '50%'``.
    """
    kept = [(text, rank) for text, rank in segments if text]

    def need():
        room = min(len(tail), tail_min) if tail else 0
        return sum(len(text) for text, _ in kept) + room

    while need() > width:
        droppable = [i for i, (_, rank) in enumerate(kept) if rank]
        if not droppable:
            break
        # the highest rank; of equal ranks, the rightmost
        victim = max(droppable, key=lambda i: (kept[i][1], i))
        del kept[victim]
    line = ''.join(text for text, _ in kept).lstrip() + tail
    if len(line) > width:
        line = line[: max(width - 1, 0)] + '…'
    return line
