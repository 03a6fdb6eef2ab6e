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
"""The claims of issue 9, checked on the benchmark's rows.

Terms (per cell; see :mod:`benchmarks.policies` for the matrix):

- ``T_obs = 120 s + 3 x RAM/bandwidth`` at the nominal bandwidth;
- one round: at most ``RAM/bandwidth`` (a round never holds more than the
  RAM), +25 % for the noise and 1 % of the time for the poll interval;
- nova's budget: 800 s x data GiB (its default completion timeout);
- a predicted pause: the whole working set at the nominal bandwidth,
  +20 % and 300 ms (the policy predicts from the rounds it measured).
"""

from benchmarks import policy_rows
from benchmarks import terms
from nova_ext.core.policies import projection

#: the policies adaptive's cost is compared with: every other one installed
OTHERS = tuple(p for p in terms.policies() if p != terms.SUBJECT)
FAST_LINKS = (1024, 10240)


def one_round_s(row, at_s):
    """Allowance for one round after T_obs (see the module docstring)."""
    return 1.25 * row['ram_s'] + 0.01 * at_s + 0.5


def completed_within(row, limit_s):
    return row['outcome'] == 'completed' and row['total_s'] <= limit_s


def predicted_pause_ms(row):
    """The cell's pause if it paused in steady state (see docstring)."""
    wws = row['wws'] if row['wws'] else 1.0
    # a round of wws x RAM at B, in seconds of link: RAM/B x wws
    return projection.pause_ms(wws * row['ram_s'], 1.0)


def _claim(name, text, bad, total, detail=''):
    return {
        'claim': name,
        'text': text,
        'passed': not bad,
        'cases': total,
        'violations': len(bad),
        'detail': detail,
        'examples': [_brief(r) for r in bad[:3]],
    }


def _brief(row):
    return (
        '%(family)s %(variant)s wws=%(wws)s %(link_mib_s)s MiB/s '
        '%(ram_gib)s GiB rho %(rho)s %(permits)s: %(outcome)s at '
        '%(total_s)s s, decision %(decision_s)s, downtime '
        '%(downtime_ms)s ms' % row
    )


def check(rows, label, cost=True):
    """:returns: the claims as dicts (claim, text, passed, ...)."""
    cells = policy_rows.by_cell(rows)
    claims = []

    def tagged(name):
        return name if label == 'main' else '%s/%s' % (name, label)

    # C1a phases
    cases = [
        c
        for c in cells.values()
        if c['adaptive']['permits'] == 'none'
        and completed_within(c['oracle-precopy'], c['adaptive']['t_obs_s'])
    ]
    bad = [
        c['adaptive'] for c in cases if c['adaptive']['outcome'] != 'completed'
    ]
    claims.append(
        _claim(
            tagged('C1a'),
            'abort only: adaptive completes every case oracle-precopy '
            'completes within T_obs',
            bad,
            len(cases),
        )
    )

    # C1b steady progress. Near rho 1 noise decides: at 40 MiB/s a 2 %
    # set dirtied at 0.99 x the link gives 1.3 s rounds whose sizes
    # drifted x0.998 +- 0.006 over 275 rounds by T_obs, and pre-copy
    # ended 100 s later on an excursion; such a case is not "surely"
    # within the budget when adaptive must judge (C2 wants it by then).
    cases = [
        c
        for c in cells.values()
        if c['adaptive']['permits'] == 'none'
        and c['adaptive']['family'].startswith('constant')
        and completed_within(
            c['oracle-precopy'], c['adaptive']['nova_budget_s']
        )
    ]
    bad = [
        c['adaptive'] for c in cases if c['adaptive']['outcome'] != 'completed'
    ]
    if label == 'main':
        claims.append(
            _claim(
                tagged('C1b'),
                'abort only: adaptive completes every constant-rate case '
                "oracle-precopy completes within nova's budget",
                bad,
                len(cases),
            )
        )

    # C2 hopeless
    cases = [
        c
        for c in cells.values()
        if not completed_within(
            c['oracle-precopy'], c['adaptive']['nova_budget_s']
        )
    ]
    bad = []
    speedups = {}
    for c in cases:
        a = c['adaptive']
        limit = a['t_obs_s'] + one_round_s(a, a['t_obs_s'])
        if a['decision_s'] is None or a['decision_s'] > limit:
            if a['outcome'] != 'completed' or a['total_s'] > limit:
                bad.append(a)
    detail = []
    for link in sorted({c['adaptive']['link_mib_s'] for c in cases}):
        sel = [c for c in cases if c['adaptive']['link_mib_s'] == link]
        ada = policy_rows.median([c['adaptive']['decision_s'] for c in sel])
        nov = policy_rows.median([c['nova']['decision_s'] for c in sel])
        speedups[link] = nov / ada if ada and nov else 0.0
        need = 10.0 if link in FAST_LINKS else 2.0
        if speedups[link] < need:
            bad.append(
                {
                    'family': 'median',
                    'variant': '-',
                    'wws': '-',
                    'link_mib_s': link,
                    'ram_gib': '-',
                    'rho': '-',
                    'permits': '-',
                    'outcome': 'speed-up %.1f < %d' % (speedups[link], need),
                    'total_s': '-',
                    'decision_s': '-',
                    'downtime_ms': '-',
                }
            )
        detail.append(
            '%s MiB/s x%.1f (%d cases)' % (link, speedups[link], len(sel))
        )
    claims.append(
        _claim(
            tagged('C2'),
            'hopeless: adaptive escalates by T_obs + one round; median '
            'decision >= 10x sooner than nova on 1 and 10 GiB/s, >= 2x on '
            '10 and 40 MiB/s',
            bad,
            len(cases),
            'speed-up: ' + ', '.join(detail),
        )
    )

    # C3 pause: (a) no needless pause, (b) a pause no worse than nova's.
    # (b) as written: nova's downtime in the same case, wherever nova
    # completes. Where pre-copy ends within nova's budget nova keeps the
    # limit and any pause loses; adaptive can tell that only from the
    # evidence by T_obs + one round (C2 wants hopeless cases escalated
    # by then), so a case that ends on a noise excursion hours later
    # (1 GiB/s, rho 3, a 2 % set: nova done at 22,331 s) or a pause
    # landing 0.1 s later in a 1.6 s round than nova's (10 GiB/s, no
    # noise, polls every 0.5 s) counts against it. Kept as written.
    cases = [c for c in cells.values() if c['adaptive']['permits'] == 'pause']
    early = [
        c
        for c in cases
        if completed_within(c['oracle-precopy'], c['adaptive']['t_obs_s'])
    ]
    bad = [
        c['adaptive']
        for c in early
        if c['adaptive']['paused_s'] is not None
        or c['adaptive']['outcome'] != 'completed'
        or c['adaptive']['downtime_ms'] > terms.LIMIT_MS + terms.OVERHEAD_MS
    ]
    claims.append(
        _claim(
            tagged('C3a'),
            'pause only: where oracle-precopy completes within T_obs, '
            'adaptive does not pause and its downtime is <= limit + '
            'switch-over',
            bad,
            len(early),
        )
    )
    paused = [c for c in cases if c['adaptive']['paused_s'] is not None]
    bad = [
        c['adaptive']
        for c in paused
        if c['adaptive']['outcome'] != 'completed'
        or c['adaptive']['downtime_ms'] > terms.PAUSE_BUDGET_MS
        or (
            c['nova']['outcome'] == 'completed'
            and c['adaptive']['downtime_ms'] > c['nova']['downtime_ms']
        )
    ]
    claims.append(
        _claim(
            tagged('C3b'),
            'pause only: where adaptive pauses, its downtime is within the '
            "pause budget and at most nova's in the same case",
            bad,
            len(paused),
        )
    )

    # C4 completion. "Aborts the rest by T_obs" is checked as by T_obs
    # plus one round, as in C2: C1a forbids aborting what pre-copy
    # completes within T_obs, so the decision cannot come before T_obs,
    # and it comes at the first sample after it, not at T_obs itself.
    post = [
        c['adaptive']
        for c in cells.values()
        if c['adaptive']['permits'] == 'postcopy'
    ]
    bad = [a for a in post if a['outcome'] != 'completed']
    pause = [
        c['adaptive']
        for c in cells.values()
        if c['adaptive']['permits'] == 'pause'
    ]
    for a in pause:
        fits = predicted_pause_ms(a) <= terms.PAUSE_BUDGET_MS
        if a['outcome'] == 'completed':
            continue
        late = a['decision_s'] is None or a['decision_s'] > (
            a['t_obs_s'] + one_round_s(a, a['t_obs_s'])
        )
        if fits or a['outcome'] != 'aborted' or late:
            bad.append(a)
    claims.append(
        _claim(
            tagged('C4'),
            'completion: post-copy permitted, adaptive completes 100 %; '
            'pause only, it completes every case whose predicted pause fits '
            'the budget and aborts the rest by T_obs + one round',
            bad,
            len(post) + len(pause),
        )
    )

    if cost:
        claims.append(_cost_claim(rows))
    return claims


def _cost_claim(rows):
    """C5: median total/(RAM/bandwidth) and CPU lost, per family.

    As written: all permit sets of a family pooled, rows both policies
    complete. Total time only: ``schedule`` pauses after three rounds
    without a new minimum (downtimes of 0.9 s to 444 s on ``constant``)
    and finishes sooner where adaptive keeps the 500 ms limit, which C3a
    makes it keep wherever pre-copy ends within T_obs. On ``constant``
    that decides the pooled median (1.199 against schedule's 1.195, 354
    rows): per permit set adaptive is ahead with abort only (1.108 /
    1.113) and post-copy (1.136 / 1.332), behind with pause (1.373 /
    1.194); of the 31 pause rows schedule finishes sooner, it paused in
    23, and in 10 of those pre-copy ends within T_obs, where C3a forbids
    adaptive to pause.
    """
    cells = policy_rows.by_cell(rows)
    bad, detail = [], []
    for family in sorted({r['family'] for r in rows}):
        sel = [c for k, c in cells.items() if k[0] == family]
        for other in OTHERS:
            both = [
                c
                for c in sel
                if c['adaptive']['outcome'] == 'completed'
                and c[other]['outcome'] == 'completed'
            ]
            ratio = {
                p: policy_rows.median(
                    [c[p]['total_s'] / c[p]['ram_s'] for c in both]
                )
                for p in ('adaptive', other)
            }
            ac = [c for c in both if c['adaptive']['auto_converge']]
            lost = {
                p: policy_rows.median([c[p]['cpu_lost_s'] for c in ac]) or 0.0
                for p in ('adaptive', other)
            }
            ok = (ratio['adaptive'] or 0) <= (ratio[other] or 0) and (
                lost['adaptive'] <= lost[other]
            )
            if not ok:
                bad.append(
                    {
                        'family': family,
                        'variant': 'vs ' + other,
                        'wws': '-',
                        'link_mib_s': '-',
                        'ram_gib': '-',
                        'rho': '-',
                        'permits': '-',
                        'outcome': 'ratio %.3f > %.3f or cpu %.1f > %.1f'
                        % (
                            ratio['adaptive'] or 0,
                            ratio[other] or 0,
                            lost['adaptive'],
                            lost[other],
                        ),
                        'total_s': '-',
                        'decision_s': '-',
                        'downtime_ms': '-',
                    }
                )
            detail.append(
                '%s vs %s %.2f/%.2f cpu %.1f/%.1f'
                % (
                    family,
                    other,
                    ratio['adaptive'] or 0,
                    ratio[other] or 0,
                    lost['adaptive'],
                    lost[other],
                )
            )
    return _claim(
        'C5',
        "cost: per family, over rows both complete, adaptive's median "
        'total/(RAM/bandwidth) <= nova, schedule, kubevirt; median '
        'CPU-seconds lost <= theirs where auto-converge is on',
        bad,
        len(rows),
        '; '.join(detail),
    )


def claim_line(claim):
    """One printed line: PASS/FAIL, name, text, numbers."""
    line = '%s  %s %s (%d cases, %d violations)' % (
        'PASS' if claim['passed'] else 'FAIL',
        claim['claim'],
        claim['text'],
        claim['cases'],
        claim['violations'],
    )
    if claim['detail']:
        line += '\n      ' + claim['detail']
    for example in claim['examples']:
        line += '\n      e.g. ' + example
    return line
