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
"""What a drain shows while it runs and when it ends.

On a terminal, a block redrawn in place: one line per host being drained
and one for the cloud (servers left, migrations running, bytes left, ETA),
with event lines printed above it. Otherwise one JSON object per line, as
``follow.output`` writes them: ``{"type": "started", ...}`` per event and
``{"type": "drain-progress", ...}`` whenever the counts change. At the
end, a summary table per host.

Example cloud line: ``cloud: 12 servers left, 4 running (1 not ours),
3.50 GiB left, ETA 2:10``.
"""

from osc_livemigrate.follow import format as fmt
from osc_livemigrate.follow import output
from osc_livemigrate.plan import drain as dp
from osc_livemigrate.plan import report as rp

SUMMARY_HEADERS = (
    'Host',
    'State',
    'Moved',
    'Failed',
    'Skipped',
    'Time',
    'Bytes',
    'Decisions',
)


def host_line(hr, running, bytes_left):
    """``'c1: 3/10 moved, 2 running, 1 failed, 1.00 GiB left'``."""
    failed = hr.count(dp.FAILED, dp.TIMED_OUT)
    return '%s: %d/%d moved, %d running%s%s' % (
        hr.host,
        hr.count(dp.MIGRATED),
        len([i for i in hr.items if i.action != dp.SKIP]),
        running,
        ', %d failed' % failed if failed else '',
        ', %s left' % fmt.human_bytes(bytes_left) if bytes_left else '',
    )


def eta_s(left, running, durations):
    """Seconds until ``left`` servers are moved, from the mean duration
    of those already moved, ``running`` at a time; None before the first.
    """
    if not durations or not left:
        return None
    mean = sum(durations) / len(durations)
    return left * mean / max(running, 1)


def snapshot(runner):
    """The numbers of one progress refresh, as a dict (the JSON fields)."""
    ours = set(runner.running)
    flights = runner.flights()
    left = sum(hr.left() for hr in runner.hosts if hr.state != rp.STOPPED)
    durations = [
        r.duration_s
        for hr in runner.hosts
        for r in hr.results.values()
        if r.result == dp.MIGRATED and r.duration_s is not None
    ]
    bytes_left = sum(runner.nova_bytes.get(s, 0) for s in ours)
    eta = eta_s(left, len(ours), durations)
    return {
        'servers_left': left,
        'running': len(ours),
        'not_ours': len([f for f in flights if f.key not in ours]),
        'bytes_left': bytes_left or None,
        'eta_s': None if eta is None else round(eta),
        'hosts': {
            hr.host: {
                'moved': hr.count(dp.MIGRATED),
                'left': hr.left(),
                'running': len(
                    [r for r in runner.running.values() if r.host == hr.host]
                ),
            }
            for hr in runner.hosts
            if hr.state == rp.DISABLED and hr.left()
        },
    }


def cloud_line(snap):
    """The cloud's line; bytes and ETA only once known."""
    return 'cloud: %d servers left, %d running (%d not ours)%s%s' % (
        snap['servers_left'],
        snap['running'],
        snap['not_ours'],
        ', %s left' % fmt.human_bytes(snap['bytes_left'])
        if snap['bytes_left']
        else '',
        ', ETA %s' % fmt.human_duration(snap['eta_s'])
        if snap['eta_s'] is not None
        else '',
    )


class Display:
    """Writes a drain's events and progress (see the module docstring).

    :param stream: where to write (the app's stderr: stdout keeps the
        final table, for ``-f json`` and scripts).
    :param fmt: ``'auto'`` (JSON unless ``stream`` is a terminal) or
        ``'json'``.
    """

    def __init__(self, stream, fmt='auto'):
        self.out = output.Output(stream, fmt)
        self._drawn = 0
        self._last = None

    def _clear(self):
        if self._drawn:
            self.out.text('\x1b[%dA\x1b[J' % self._drawn)
            self._drawn = 0

    def event(self, text, kind='notice', **fields):
        """One event: a line above the block, or a JSON object."""
        if self.out.json:
            fields = {k: v for k, v in fields.items() if v is not None}
            self.out.line(text, kind, **fields)
            return
        self._clear()
        self.out.line(text)

    def progress(self, runner):
        snap = snapshot(runner)
        if self.out.json:
            if snap != self._last:
                self.out.record('drain-progress', **snap)
            self._last = snap
            return
        hosts = {hr.host: hr for hr in runner.hosts}
        lines = [
            host_line(
                hosts[h],
                v['running'],
                sum(
                    runner.nova_bytes.get(s, 0)
                    for s, r in runner.running.items()
                    if r.host == h
                ),
            )
            for h, v in snap['hosts'].items()
        ]
        lines.append(cloud_line(snap))
        self._clear()
        self.out.text(''.join(line + '\x1b[K\n' for line in lines))
        self._drawn = len(lines)

    def done(self):
        """Leave the last block on screen, and stop redrawing it."""
        self._drawn = 0


def summary_rows(host_runs):
    """One row per host, for :data:`SUMMARY_HEADERS`."""
    rows = []
    for hr in host_runs:
        took = (
            None
            if hr.started is None or hr.ended is None
            else round(hr.ended - hr.started, 1)
        )
        rows.append(
            (
                hr.host,
                hr.state + (' (%s)' % hr.stop if hr.stop else ''),
                hr.count(dp.MIGRATED),
                hr.count(dp.FAILED, dp.TIMED_OUT),
                hr.count(dp.SKIPPED),
                took,
                hr.moved_bytes or None,
                ', '.join(
                    '%s x%d' % (k, n) for k, n in sorted(hr.decisions.items())
                ),
            )
        )
    return rows


def render_table(headers, rows):
    """A plain text table (for stderr, beside the command's own table)."""
    cells = [[str('' if c is None else c) for c in row] for row in rows]
    widths = [
        max([len(h)] + [len(r[i]) for r in cells])
        for i, h in enumerate(headers)
    ]
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def fmt_row(row):
        return (
            '| ' + ' | '.join(c.ljust(w) for c, w in zip(row, widths)) + ' |'
        )

    out = [line, fmt_row(headers), line]
    out.extend(fmt_row(r) for r in cells)
    out.append(line)
    return '\n'.join(out) + '\n'
