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
"""Every convergence policy through the simulator, side by side, one run.

Scenario matrix: guest RAM 1/4/16/64 GiB, bandwidth 1 GiB/s, dirty rate /
bandwidth (rho) 0.1-4, writable working set 2 % and 50 % of RAM, downtime
limit 500 ms, switch-over overhead 270 ms (real plain migrations here:
263-284 ms), permits none / postcopy / pause.

Baselines run with their own defaults. ``nova`` uses
``live_migration_timeout_action = force_complete`` where post-copy or pause
is permitted (an operator who permits them sets it) and ``abort`` otherwise.

Run: ``python -m benchmarks.policies [--out PATH] [--quick]``. It prints a
summary table, checks the claims in :func:`check_claims`, writes the rows
as JSON and exits 1 if a claim fails.
"""

import argparse
import itertools
import json
import os
import statistics
import sys
import time

from nova_ext import loader
from nova_ext.observation import GIB
from nova_ext.observation import MigrationContext
from nova_ext.observation import Permits
from nova_ext.sim import model
from nova_ext.sim import runner

RAM_GIB = (1, 4, 16, 64)
RHOS = (0.1, 0.5, 0.9, 1.2, 2, 4)
WWS_FRACTIONS = (0.02, 0.5)
PERMITS = ('none', 'postcopy', 'pause')
POLICIES = ('adaptive', 'nova', 'kubevirt', 'schedule')
BANDWIDTH_BPS = 1 * GIB
LIMIT_MS = 500
OVERHEAD_MS = 270.0
DEFAULT_OUT = os.path.join(
    os.path.dirname(__file__), 'results', 'policies.json'
)


def policy_params(policy, permits):
    """Per-policy parameters for one permit set (defaults otherwise)."""
    if policy == 'nova' and permits != 'none':
        return {'timeout_action': 'force_complete'}
    return {}


def run_one(policy, ram_gib, rho, wws_fraction, permits):
    """Simulate one cell of the matrix.

    :returns: the JSON row (see the module docstring for the fields)
    """
    ram = ram_gib * GIB
    wws = int(ram * wws_fraction)
    workload = model.Workload(ram, rho * BANDWIDTH_BPS, wws)
    link = model.Link(BANDWIDTH_BPS, switchover_overhead_ms=OVERHEAD_MS)
    context = MigrationContext(ram, Permits.named(permits, LIMIT_MS))
    obj = loader.build_policy(policy, context, policy_params(policy, permits))
    result = runner.simulate(obj, workload, link)
    lower = ram / BANDWIDTH_BPS
    return {
        'policy': policy,
        'ram_gib': ram_gib,
        'rho': rho,
        'wws_gib': round(wws / GIB, 4),
        'permits': permits,
        'converges': rho < 1 or wws <= BANDWIDTH_BPS * LIMIT_MS / 1000.0,
        'outcome': result.outcome,
        'total_s': result.total_s,
        'lower_bound_s': lower,
        'ratio': round(result.total_s / lower, 4),
        'downtime_ms': result.downtime_ms,
        'decision_s': result.decision_s,
        'postcopy_s': result.postcopy_s,
        'paused_s': result.paused_s,
        'bytes_sent': result.bytes_sent,
        'iterations': result.iterations,
        'final_reason': result.events[-1].reason if result.events else None,
        'limit_ms': LIMIT_MS,
        'overhead_ms': OVERHEAD_MS,
    }


def matrix(quick=False):
    """:returns: every (policy, ram, rho, wws, permits) cell to run."""
    rams = RAM_GIB[:2] if quick else RAM_GIB
    return list(
        itertools.product(POLICIES, rams, RHOS, WWS_FRACTIONS, PERMITS)
    )


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def check_claims(rows):
    """The issue's claims for ``adaptive``, each as (text, passed, detail)."""
    by = {}
    for row in rows:
        by.setdefault(row['policy'], []).append(row)
    ada = by['adaptive']
    claims = []

    bad = [
        r
        for r in ada
        if (r['permits'] != 'none' or r['converges'])
        and r['outcome'] != 'completed'
    ]
    claims.append(
        (
            'adaptive completes every row with permits postcopy/'
            'pause and every converging row',
            not bad,
            '%d failures' % len(bad),
        )
    )

    bad = [
        r
        for r in ada
        if r['converges']
        and (r['postcopy_s'] is not None or r['paused_s'] is not None)
    ]
    claims.append(
        (
            'adaptive never uses post-copy or pause where pre-copy converges',
            not bad,
            '%d violations' % len(bad),
        )
    )

    def low_rho_median(policy):
        return _median(
            [
                r['ratio']
                for r in by[policy]
                if r['rho'] <= 0.5 and r['outcome'] == 'completed'
            ]
        )

    med = {p: low_rho_median(p) for p in by}
    ok = med['adaptive'] <= 1.3 and all(
        med['adaptive'] <= med[p] for p in ('nova', 'kubevirt')
    )
    claims.append(
        (
            'median total/lower bound at rho <= 0.5: adaptive <= 1.3 '
            'and <= nova, kubevirt',
            ok,
            ', '.join('%s %.3f' % (p, med[p]) for p in sorted(med)),
        )
    )

    nova_rows = {_key(r): r for r in by['nova']}
    ratios = []
    for r in ada:
        if r['converges']:
            continue
        n = nova_rows[_key(r)]
        if n['decision_s'] and r['decision_s']:
            ratios.append(n['decision_s'] / r['decision_s'])
    smallest = min(ratios) if ratios else 0
    claims.append(
        (
            'non-converging rows: min nova decision_s / adaptive '
            'decision_s >= 10',
            smallest >= 10,
            'min %.1f over %d rows' % (smallest, len(ratios)),
        )
    )

    bad = [
        r
        for r in ada
        if r['downtime_ms'] is not None
        and r['paused_s'] is None
        and r['downtime_ms'] > r['limit_ms'] + r['overhead_ms']
    ]
    claims.append(
        (
            'adaptive downtime <= limit + overhead unless paused',
            not bad,
            '%d violations' % len(bad),
        )
    )
    return claims


def _key(row):
    return (row['ram_gib'], row['rho'], row['wws_gib'], row['permits'])


def summary(rows):
    """:returns: printable lines, one per policy and permit set."""
    head = '%-9s %-8s %5s %5s %5s %11s %10s %9s %11s' % (
        'policy',
        'permits',
        'done',
        'abrt',
        'other',
        'ratio@lo-rho',
        'med dt ms',
        'max dt ms',
        'med dec s*',
    )
    lines = [head, '-' * len(head)]
    for policy in POLICIES:
        for permits in PERMITS:
            sel = [
                r
                for r in rows
                if r['policy'] == policy and r['permits'] == permits
            ]
            if not sel:
                continue
            done = sum(r['outcome'] == 'completed' for r in sel)
            aborted = sum(r['outcome'] == 'aborted' for r in sel)
            ratio = _median(
                [
                    r['ratio']
                    for r in sel
                    if r['rho'] <= 0.5 and r['outcome'] == 'completed'
                ]
            )
            downtimes = [
                r['downtime_ms'] for r in sel if r['downtime_ms'] is not None
            ]
            decision = _median(
                [r['decision_s'] for r in sel if not r['converges']]
            )
            lines.append(
                '%-9s %-8s %5d %5d %5d %11.3f %10.0f %9.0f %11s'
                % (
                    policy,
                    permits,
                    done,
                    aborted,
                    len(sel) - done - aborted,
                    ratio or 0,
                    _median(downtimes) or 0,
                    max(downtimes or [0]),
                    '%.1f' % decision if decision is not None else '-',
                )
            )
    lines.append(
        '* median decision_s over rows where pre-copy cannot converge'
    )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks.policies',
        description='Run every convergence policy through the migration '
        'simulator and compare them.',
    )
    parser.add_argument(
        '--out',
        default=DEFAULT_OUT,
        help='where to write the JSON rows (default: %(default)s)',
    )
    parser.add_argument(
        '--quick',
        action='store_true',
        help='only the 1 and 4 GiB guests (a smoke run)',
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    cells = matrix(args.quick)
    rows = []
    for n, cell in enumerate(cells, 1):
        rows.append(run_one(*cell))
        if sys.stderr.isatty():
            print(
                '\r%d/%d simulated' % (n, len(cells)),
                end='',
                file=sys.stderr,
                flush=True,
            )
    elapsed = time.monotonic() - started
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print('\n'.join(summary(rows)))
    print()
    claims = check_claims(rows)
    for text, ok, detail in claims:
        print('%s  %s (%s)' % ('PASS' if ok else 'FAIL', text, detail))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(rows, fh, indent=1)
    print(
        '\n%d runs in %.1f s; rows written to %s'
        % (len(rows), elapsed, args.out)
    )
    return 0 if all(ok for _, ok, _ in claims) else 1


if __name__ == '__main__':
    sys.exit(main())
