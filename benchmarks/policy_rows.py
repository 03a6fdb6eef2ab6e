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
"""The simulator benchmark's rows: grouped by cell, tabled, stored.

A row is one policy's run in one cell (see :mod:`benchmarks.policies`);
the results file keeps the rows as a compact cell table
(:func:`document`, back with :func:`rows_from`).
"""

import statistics


def median(values):
    """The median of the values that are not None (None if none are)."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def by_cell(rows):
    """:returns: ``{cell key: {policy: row}}``."""
    out = {}
    for row in rows:
        key = (
            row['family'],
            row['variant'],
            row['wws'],
            row['link_mib_s'],
            row['ram_gib'],
            row['rho'],
            row['permits'],
        )
        out.setdefault(key, {})[row['policy']] = row
    return out


def tables(rows, policies):
    """A table per family: per link, each policy's done % and cost."""
    lines = []
    links = sorted({r['link_mib_s'] for r in rows})
    for family in sorted({r['family'] for r in rows}):
        lines.append('')
        lines.append(
            '%s: done %% / median total/(RAM/bw) of completed / median '
            'first escalation s' % family
        )
        lines.append(
            '%-15s' % 'policy'
            + ''.join('%26s' % ('%s MiB/s' % link) for link in links)
        )
        for policy in policies:
            out = '%-15s' % policy
            for link in links:
                sel = [
                    r
                    for r in rows
                    if r['family'] == family
                    and r['policy'] == policy
                    and r['link_mib_s'] == link
                ]
                done = [r for r in sel if r['outcome'] == 'completed']
                ratio = median([r['total_s'] / r['ram_s'] for r in done])
                dec = median([r['decision_s'] for r in sel])
                out += '%26s' % (
                    '%5.1f%% %7.2f %9s'
                    % (
                        100.0 * len(done) / max(1, len(sel)),
                        ratio or 0,
                        '%.0f' % dec if dec is not None else '-',
                    )
                )
            lines.append(out)
    return lines


CELL_COLUMNS = (
    'family',
    'variant',
    'seed',
    'wws',
    'link_mib_s',
    'ram_gib',
    'rho',
    'permits',
    'auto_converge',
    'ram_s',
    't_obs_s',
    'nova_budget_s',
)
RUN_COLUMNS = (
    'policy',
    'outcome',
    'total_s',
    'downtime_ms',
    'decision_s',
    'cpu_lost_s',
    'postcopy_s',
    'paused_s',
    'actions',
    'reason',
)


def _cells_table(rows):
    out = []
    for runs in by_cell(rows).values():
        first = next(iter(runs.values()))
        out.append(
            [
                [first[c] for c in CELL_COLUMNS],
                [[r.get(c) for c in RUN_COLUMNS] for r in runs.values()],
            ]
        )
    return out


def rows_from(table):
    """The rows back from :func:`document`'s compact cell table."""
    rows = []
    for cell, runs in table:
        base = dict(zip(CELL_COLUMNS, cell))
        for run in runs:
            rows.append(dict(base, **dict(zip(RUN_COLUMNS, run))))
    return rows


def document(claims, main_rows, general_rows, elapsed_s):
    """The JSON written to results: claims, then one entry per cell.

    Each cell is ``[cell values, [run values per policy]]`` in the order
    of ``cell_columns`` and ``run_columns`` (the reason is adaptive's
    last one); :func:`rows_from` turns it back into rows.
    """
    return {
        'claims': claims,
        'elapsed_s': round(elapsed_s, 1),
        'cell_columns': list(CELL_COLUMNS),
        'run_columns': list(RUN_COLUMNS),
        'cells': _cells_table(main_rows),
        'generalisation_cells': _cells_table(general_rows),
    }
