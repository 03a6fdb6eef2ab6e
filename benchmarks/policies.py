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
"""Every convergence policy through the simulator on a matrix fixed in advance.

The matrix (issue 9; decided before any result was seen):

- families: ``constant``; ``bursts`` (on/off, duty 0.25/0.5/0.75, period
  30/60/120 s, the burst rate is the mean over the duty); ``sawtooth``
  (period 60 and 120 s); ``step`` (the rate x4 at t = 20 s: a quarter
  of the mean before, the mean after); ``three-sets`` (1 % hot, 10 %
  warm written in 60 s bursts at duty 0.5, the rest cold; the mean rate
  split 50/30/20 %); all with seed-1 noise (sigma 10 % per poll on
  bandwidth and dirty rate), plus ``constant-quiet``: constant, no noise;
- links 10 MiB/s, 40 MiB/s, 100 MiB/s, 1 GiB/s, 2.5 GiB/s, 10 GiB/s (the
  third and fifth added by issue 26); RAM 2, 8, 32 GiB; rho (mean
  dirty rate / bandwidth) 0.3, 0.7, 0.95, 0.99, 1.5, 3; working set 2 % and
  50 % of RAM (single-set families); permits abort only (``none``),
  ``postcopy``, ``pause``; 500 ms permitted downtime, 270 ms switch-over
  (these limits and budgets: :mod:`benchmarks.terms`);
- auto-converge on where ``(link + RAM + rho index) % 4 == 0``: a quarter
  of the cells, spread over every link, size and rho;
- every installed policy (``nova``, ``schedule``, ``kubevirt``,
  ``adaptive`` today; :func:`benchmarks.terms.policies`) and the
  reference ``oracle-precopy`` (the permitted downtime at once, never
  escalates); nova's timeout action is ``force_complete`` where post-copy
  or pause is permitted; adaptive's pause budget is 5000 ms;
- the generalisation set: seed 2 draws 2 burst, 1 saw-tooth and 1
  three-set family from periods 20-120 s and duties 0.2-0.8; only
  adaptive, oracle-precopy and nova run there (C1-C4 need no more);
- issue 26's noisier set: constant, bursts (duty 0.5, period 60 s) and
  three-sets at 20 % and 40 % noise (acting as 0.198 and 0.326 once
  clipped), RAM 2 and 8 GiB, every link, seeds 1-3, every policy;
- issue 26's shared-link scenarios: :mod:`benchmarks.shared_runs`.

Polls come every ``max(0.5 s, min(1 % of elapsed, RAM/bandwidth / 16,
round / 4))``
(see :func:`nova_ext.core.sim.runner.simulate`); a poll of k x 0.5 s draws the
mean of k per-0.5 s noise factors, from a stream keyed by the workload and
link (not the policy or permits);
runs stop 3 x RAM/bandwidth + 120 s
after nova's budget (800 s per GiB), ``oracle-precopy`` at the budget.

Run: ``python -m benchmarks.policies [--out PATH] [--workers N]``. It
prints a table per family, link and scenario, the claims of every set
(:mod:`.policy_report`), writes them and the rows to JSON, prints the
run count and exits 1 if a claim fails.
"""

import argparse
import json
import multiprocessing
import os
import sys
import time

from benchmarks import policy_report
from benchmarks import policy_rows
from benchmarks import terms
from nova_ext.core import loader
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.sim import model
from nova_ext.core.sim import noise as noises
from nova_ext.core.sim import oracle
from nova_ext.core.sim import runner
from nova_ext.core.sim import workload as workloads

LINKS_MIB_S = (10, 40, 100, 1024, 2560, 10240)
#: the links of issue 9's matrix, in the order its auto-converge rule
#: counts them; the links added later count on from there, so every old
#: cell keeps its setting
AC_LINK_ORDER = (10, 40, 1024, 10240, 100, 2560)
RAM_GIB = (2, 8, 32)
RHOS = (0.3, 0.7, 0.95, 0.99, 1.5, 3)
WWS_FRACTIONS = (0.02, 0.5)
PERMITS = ('none', 'postcopy', 'pause')
#: the base noise (every family but constant-quiet) and the noisier sets
BASE_SIGMA = 0.10
NOISY_SIGMAS = (0.20, 0.40)
NOISY_SEEDS = (1, 2, 3)
NOISY_RAM_GIB = (2, 8)
#: every installed policy, then the reference
POLICIES = terms.policies() + (terms.ORACLE,)
GENERAL_POLICIES = (terms.BASELINE, terms.SUBJECT, terms.ORACLE)
#: families run without noise, built as the family they name
QUIET = {'constant-quiet': 'constant'}
POLL_S = 0.5
POLL_GROWTH = 0.01
POLLS_PER_ROUND = 4
DEFAULT_OUT = os.path.join(
    os.path.dirname(__file__), 'results', 'policies.json'
)


def families():
    """The fixed family set: [(family, variant, params, noise_seed)]."""
    out = [('constant', '-', {}, 1), ('constant-quiet', '-', {}, None)]
    for duty in (0.25, 0.5, 0.75):
        for period in (30, 60, 120):
            out.append(
                (
                    'bursts',
                    'd%.2f/p%d' % (duty, period),
                    {'duty': duty, 'period_s': period},
                    1,
                )
            )
    for period in (60, 120):
        out.append(('sawtooth', 'p%d' % period, {'period_s': period}, 1))
    out.append(('step', 'x4@20s', {}, 1))
    out.append(('three-sets', 'd0.50/p60', {'duty': 0.5, 'period_s': 60}, 1))
    return out


def general_families(seed=2):
    """The generalisation set, drawn from the stated ranges with ``seed``."""
    draw = noises.Noise(seed, key='families')

    def uniform(low, high):
        return round(low + (high - low) * draw._uniform(), 2)

    out = []
    for _ in range(2):
        duty, period = uniform(0.2, 0.8), uniform(20, 120)
        out.append(
            (
                'bursts',
                'd%.2f/p%.0f' % (duty, period),
                {'duty': duty, 'period_s': period},
                seed,
            )
        )
    period = uniform(20, 120)
    out.append(('sawtooth', 'p%.0f' % period, {'period_s': period}, seed))
    duty, period = uniform(0.2, 0.8), uniform(20, 120)
    out.append(
        (
            'three-sets',
            'd%.2f/p%.0f' % (duty, period),
            {'duty': duty, 'period_s': period},
            seed,
        )
    )
    return out


def auto_converge(link_i, ram_i, rho_i):
    """The fixed rule: a quarter of the cells, on every axis."""
    return (link_i + ram_i + rho_i) % 4 == 0


def noisy_families():
    """Issue 26's noisier set: (family, variant, params, seed, sigma).

    Constant, bursts (duty 0.5, period 60 s) and three-sets at 20 % and
    40 % noise, seeds 1-3 (run on RAM 2 and 8 GiB, every link).
    """
    base = [
        f
        for f in families()
        if f[0] in ('constant', 'three-sets') or f[1] == 'd0.50/p60'
    ]
    return [
        (family, variant, params, seed, sigma)
        for sigma in NOISY_SIGMAS
        for family, variant, params, _ in base
        for seed in NOISY_SEEDS
    ]


def cells(family_set, policies=POLICIES, links=LINKS_MIB_S, rams=RAM_GIB):
    """Every cell of a family set: dicts, one per workload/link/permits.

    A family is (family, variant, params, seed), noise at
    :data:`BASE_SIGMA`, or (..., seed, sigma).
    """
    out = []
    for entry in family_set:
        family, variant, params, seed = entry[:4]
        sigma = entry[4] if len(entry) > 4 else BASE_SIGMA
        if seed is None:
            sigma = 0.0
        fractions = (None,) if family == 'three-sets' else WWS_FRACTIONS
        for wws in fractions:
            for link in links:
                for ram in rams:
                    for rho in RHOS:
                        ac = auto_converge(
                            AC_LINK_ORDER.index(link),
                            RAM_GIB.index(ram),
                            RHOS.index(rho),
                        )
                        for permits in PERMITS:
                            out.append(
                                {
                                    'family': family,
                                    'variant': variant,
                                    'params': params,
                                    'seed': seed,
                                    'sigma': sigma,
                                    'wws': wws,
                                    'link_mib_s': link,
                                    'ram_gib': ram,
                                    'rho': rho,
                                    'permits': permits,
                                    'auto_converge': ac,
                                    'policies': policies,
                                }
                            )
    return out


def quick_cells():
    """The unit tests' slice of the matrix.

    Constant, one burst and the step; 40 MiB/s and 1 GiB/s; 2 GiB; every
    rho and permit set.
    """
    fams = [
        f
        for f in families()
        if f[0] in ('constant', 'step') or f[1] == 'd0.50/p60'
    ]
    return cells(fams, links=(40, 1024), rams=(2,))


def policy_params(policy, permits):
    """Per-policy parameters for one permit set (defaults otherwise)."""
    if policy == 'nova' and permits != 'none':
        return {'timeout_action': 'force_complete'}
    if policy == 'adaptive':
        return {'max_pause_ms': terms.PAUSE_BUDGET_MS}
    return {}


def scales(cell):
    """RAM/bandwidth, T_obs and nova's budget of one cell, in seconds."""
    ram_s = cell['ram_gib'] * 1024.0 / cell['link_mib_s']
    return {
        'ram_s': round(ram_s, 3),
        't_obs_s': round(120.0 + 3.0 * ram_s, 3),
        'nova_budget_s': terms.NOVA_BUDGET_S_PER_GIB * cell['ram_gib'],
    }


def run_cell(cell):
    """Simulate every policy of ``cell``; :returns: its rows."""
    ram = cell['ram_gib'] * GIB
    bandwidth = cell['link_mib_s'] * MIB
    wws = int(ram * cell['wws']) if cell['wws'] else None
    load = workloads.build(
        QUIET.get(cell['family'], cell['family']),
        ram,
        cell['rho'] * bandwidth,
        wws,
        **cell['params'],
    )
    link = model.Link(
        bandwidth,
        switchover_overhead_ms=terms.OVERHEAD_MS,
        auto_converge=cell['auto_converge'],
    )
    permits = Permits.named(cell['permits'], terms.LIMIT_MS)
    permits = Permits(
        postcopy=permits.postcopy,
        pause=permits.pause,
        abort=permits.abort,
        auto_converge=cell['auto_converge'],
        max_downtime_ms=terms.LIMIT_MS,
    )
    context = MigrationContext(ram, permits)
    sc = scales(cell)
    base = {k: v for k, v in cell.items() if k not in ('params', 'policies')}
    base.update(sc)
    rows = []
    for policy in cell['policies']:
        if policy == terms.ORACLE:
            obj = oracle.OraclePrecopy(context)
            max_s = sc['nova_budget_s']
        else:
            obj = loader.build_policy(
                policy, context, policy_params(policy, cell['permits'])
            )
            max_s = sc['nova_budget_s'] + sc['t_obs_s']
        # the same workload sees the same noise whatever the policy and
        # permits: the key names the workload and link, not the permits
        key = '%(family)s/%(variant)s/%(wws)s/%(link_mib_s)s/%(ram_gib)s/'
        key += '%(rho)s'
        noise = (
            noises.Noise(cell['seed'], cell['sigma'], key=key % cell)
            if cell['seed'] is not None
            else None
        )
        res = runner.simulate(
            obj,
            load,
            link,
            poll_s=POLL_S,
            max_s=max_s,
            noise=noise,
            poll_growth=POLL_GROWTH,
            max_poll_s=sc['ram_s'] / 16.0,
            polls_per_round=POLLS_PER_ROUND,
        )
        row = dict(base)
        row.update(run_fields(policy, res))
        rows.append(row)
    return rows


def run_fields(policy, res):
    """A row's fields that come from one run's :class:`runner.Result`."""
    return {
        'policy': policy,
        'outcome': res.outcome,
        'total_s': res.total_s,
        'downtime_ms': res.downtime_ms,
        'decision_s': res.escalation_s,
        'cpu_lost_s': res.cpu_lost_s,
        'postcopy_s': res.in_postcopy_s,
        'paused_s': res.paused_s,
        'actions': '+'.join(res.actions) or '-',
        'reason': (
            res.events[-1].reason
            if policy == terms.SUBJECT and res.actions
            else None
        ),
    }


def run_all(todo, workers=2, run=run_cell):
    """Run the cells (or scenarios, with their ``run``) on ``workers``
    processes.

    :returns: all rows, in the order of ``todo`` whatever the workers
    """
    rows = []
    tty = sys.stderr.isatty()
    if workers > 1:
        ctx = multiprocessing.get_context('fork')
        with ctx.Pool(workers) as pool:
            # NOTE: imap, not imap_unordered: rows in the order of the
            # cells, so that two runs' files compare byte for byte
            for n, got in enumerate(pool.imap(run, todo, chunksize=4), 1):
                rows.extend(got)
                if tty and n % 50 == 0:
                    print(
                        '\r%d/%d cells' % (n, len(todo)),
                        end='',
                        file=sys.stderr,
                        flush=True,
                    )
    else:
        for cell in todo:
            rows.extend(run(cell))
    if tty:
        print(file=sys.stderr)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks.policies',
        description='Run every convergence policy through the migration '
        'simulator on the fixed matrix and check the claims.',
    )
    parser.add_argument(
        '--out',
        default=DEFAULT_OUT,
        help='where to write claims and rows (default: %(default)s)',
    )
    parser.add_argument(
        '--quick',
        action='store_true',
        help="a smoke run on the unit tests' slice (not the claims' "
        'matrix: its claims say nothing)',
    )
    parser.add_argument(
        '--workers',
        type=int,
        default=2,
        help='worker processes (default: %(default)s; at most 2 here)',
    )
    args = parser.parse_args(argv)

    # NOTE: imported here: shared_runs builds on this module's terms
    from benchmarks import shared_runs

    started = time.monotonic()
    if args.quick:
        sets = {
            'main': run_all(quick_cells(), args.workers),
            'shared': run_all(
                shared_runs.quick_scenarios(),
                args.workers,
                shared_runs.run_scenario,
            ),
        }
    else:
        sets = {
            'main': run_all(cells(families()), args.workers),
            'generalisation': run_all(
                cells(general_families(), GENERAL_POLICIES), args.workers
            ),
            'noisy': run_all(
                cells(noisy_families(), rams=NOISY_RAM_GIB), args.workers
            ),
            'shared': run_all(
                shared_runs.scenarios(),
                args.workers,
                shared_runs.run_scenario,
            ),
        }
    elapsed = time.monotonic() - started
    runs = sum(len(rows) for rows in sets.values())
    claims = policy_report.print_and_check(sets)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(
            policy_rows.document(claims, sets, elapsed, runs),
            fh,
            separators=(',', ':'),
        )
    print(
        '\n%d runs in %.1f s on %d workers; claims and rows written to %s'
        % (runs, elapsed, args.workers, args.out)
    )
    return 0 if all(c['passed'] for c in claims) else 1


if __name__ == '__main__':
    sys.exit(main())
