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


def group_key(row):
    """A configuration without its seed: all seeds of it form a cell.

    A shared-link row's configuration is one migration of a scenario.
    """
    if row.get('scenario') is not None:
        return (
            row['link_mib_s'],
            row['scenario'],
            row['permits'],
            row['member'],
        )
    return (
        row['family'],
        row['variant'],
        row['wws'],
        row['link_mib_s'],
        row['ram_gib'],
        row['rho'],
        row['permits'],
        row.get('sigma'),
    )


def by_cell(rows):
    """:returns: ``{(group key, seed): {policy: row}}``, one entry per
    migration run under every policy.
    """
    out = {}
    for row in rows:
        key = group_key(row) + (row.get('seed'),)
        out.setdefault(key, {})[row['policy']] = row
    return out


def tables(rows, policies, title=lambda r: r['family']):
    """A table per family (or ``title``): per link, each policy's done %
    and cost.
    """
    lines = []
    links = sorted({r['link_mib_s'] for r in rows})
    for family in sorted({title(r) for r in rows}):
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
                    if title(r) == family
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


def scenario_title(row):
    """A shared-link table's title: the scenario less its rho and seed."""
    return 'shared %s, guests %s' % (row['arrangement'], row['guests'])


def noisy_title(row):
    """A noisy set's table title: the family at its noise level."""
    return '%s at %d %% noise' % (row['family'], round(row['sigma'] * 100))


CELL_COLUMNS = (
    'family',
    'variant',
    'seed',
    'sigma',
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
#: a shared-link row's own columns (:mod:`benchmarks.shared_runs`)
SHARED_COLUMNS = CELL_COLUMNS + (
    'scenario',
    'arrangement',
    'guests',
    'member',
    'share_mib_s',
)
SHARED_RUN_COLUMNS = ('start_s', 'end_s')
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


def _cells_table(rows, cell_columns=CELL_COLUMNS, run_columns=RUN_COLUMNS):
    out = []
    for runs in by_cell(rows).values():
        first = next(iter(runs.values()))
        out.append(
            [
                [first.get(c) for c in cell_columns],
                [[r.get(c) for c in run_columns] for r in runs.values()],
            ]
        )
    return out


def rows_from(table, cell_columns=CELL_COLUMNS, run_columns=RUN_COLUMNS):
    """The rows back from :func:`document`'s compact cell table."""
    rows = []
    for cell, runs in table:
        base = dict(zip(cell_columns, cell))
        for run in runs:
            rows.append(dict(base, **dict(zip(run_columns, run))))
    return rows


def shared_rows_from(table):
    """:func:`rows_from` for the shared-link table."""
    return rows_from(table, SHARED_COLUMNS, RUN_COLUMNS + SHARED_RUN_COLUMNS)


def document(claims, sets, elapsed_s, runs):
    """The JSON written to results: claims, then one entry per cell.

    Each cell is ``[cell values, [run values per policy]]`` in the order
    of ``cell_columns`` and ``run_columns`` (the reason is adaptive's
    last one); :func:`rows_from` turns it back into rows.

    :param sets: ``{'main'|'generalisation'|'noisy'|'shared': rows}``
    """
    return {
        'claims': claims,
        'elapsed_s': round(elapsed_s, 1),
        'runs': runs,
        'cell_columns': list(CELL_COLUMNS),
        'run_columns': list(RUN_COLUMNS),
        'shared_columns': list(SHARED_COLUMNS),
        'shared_run_columns': list(SHARED_RUN_COLUMNS),
        'cells': _cells_table(sets.get('main', [])),
        'generalisation_cells': _cells_table(sets.get('generalisation', [])),
        'noisy_cells': _cells_table(sets.get('noisy', [])),
        'shared_cells': _cells_table(
            sets.get('shared', []),
            SHARED_COLUMNS,
            RUN_COLUMNS + SHARED_RUN_COLUMNS,
        ),
    }
