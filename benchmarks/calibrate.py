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
"""Simulator versus real hosts: fit on half the scenarios, judge the rest.

A model is only worth its error on runs it was not fitted to. Eight
converging scenarios (guest RAM, filled MiB, working set, dirty rate, cap)
and four phased ones (a burst/idle schedule and a ramp in each half; each
migration starts as the schedule's first stage begins) run at least three
times each on the real hosts under one fixed, passive
policy (``schedule`` with a step that never fires, so QEMU's own 300 ms
downtime decides). The constants of :class:`nova_ext.core.sim.calibrated.
Calibration` are fitted (coordinate search on |log(sim/real)| of the
median total time and downtime) on the ``fit`` half and reported on the
``holdout`` half: median relative error of total time (target <= 25 %) and
of downtime (target <= max(25 %, 50 ms)).

Run (root)::

    OS_NOVA_DISABLE_EVENTLET_PATCHING=True OSC_LM_PREFIX=lmf \\
        OSC_LM_SUBNET=10.77.7 python -m benchmarks.calibrate [--runs 3]
    python -m benchmarks.calibrate --phased  # only the phased scenarios
    python -m benchmarks.calibrate --refit   # reuse the stored real runs
"""

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys

from nova_ext.core import loader
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.sim import calibrated
from nova_ext.core.sim import workload as sim_workload

#: (name, ram MiB, fill MiB, working set MiB, dirty MiB/s, cap MiB/s, half,
#: stages): a constant guest has no stages and dirties the set at the
#: rate; a phased one runs ``stages`` ((seconds, MiB/s), ...) over and over
#: (the rate is then their mean) and each migration starts as its first
#: stage begins
SCENARIOS = (
    ('s256-f32-w16-r4-c20', 256, 32, 16, 4, 20, 'fit', None),
    ('s512-f64-w16-r5-c20', 512, 64, 16, 5, 20, 'holdout', None),
    ('s512-f0-w4-r40-c20', 512, 0, 4, 40, 20, 'fit', None),
    ('s256-f0-w4-r30-c30', 256, 0, 4, 30, 30, 'holdout', None),
    ('s512-f128-w32-r10-c40', 512, 128, 32, 10, 40, 'fit', None),
    ('s256-f64-w32-r12-c40', 256, 64, 32, 12, 40, 'holdout', None),
    ('s256-f0-w64-r8-c20', 256, 0, 64, 8, 20, 'fit', None),
    ('s512-f32-w48-r15-c30', 512, 32, 48, 15, 30, 'holdout', None),
    # burst/idle and ramps, a pair in each half
    (
        'p256-f0-w32-b48x12i6-c20',
        256,
        0,
        32,
        32,
        20,
        'fit',
        ((12, 48), (6, 0)),
    ),
    (
        'p256-f32-w48-b40x10i6-c30',
        256,
        32,
        48,
        25,
        30,
        'holdout',
        ((10, 40), (6, 0)),
    ),
    (
        'p256-f0-w32-ramp48x4-c20',
        256,
        0,
        32,
        24,
        20,
        'fit',
        ((4, 12), (4, 24), (4, 36), (4, 48), (4, 0)),
    ),
    (
        'p256-f16-w40-ramp40x3-c30',
        256,
        16,
        40,
        20,
        30,
        'holdout',
        ((3, 10), (3, 20), (3, 30), (3, 40), (3, 0)),
    ),
)
POLICY, PARAMS = 'schedule', {'steps': 't600:abort'}
DEFAULT_OUT = os.path.join(
    os.path.dirname(__file__), 'results', 'calibration.json'
)
#: search ranges of the fitted constants
BOUNDS = {
    'setup_s': (0.0, 5.0),
    'bandwidth_factor': (0.3, 3.0),
    'dirty_factor': (0.1, 3.0),
    'resident_mib': (0.0, 200.0),
    'zero_page_cost': (0.0, 0.3),
    'switchover_ms': (0.0, 300.0),
    'final_mib_s': (50.0, 5000.0),
}


def _policy(ram_mib):
    ctx = MigrationContext(ram_mib * MIB, Permits.named('none'))
    return loader.build_policy(POLICY, ctx, PARAMS)


def guest_spec(scenario):
    """The test guest of one scenario (phased ones leave the vCPU time to
    write: their sweeps verify at 64 MiB/s).
    """
    from testbed.guest import spec as guest_spec

    _, ram, fill, wws, rate, _, _, stages = scenario
    if stages is None:
        return guest_spec.GuestSpec(
            mem_mib=ram, fill_mib=fill, dirty_mib=wws, dirty_rate_mib_s=rate
        )
    return guest_spec.GuestSpec(
        mem_mib=ram,
        fill_mib=fill,
        verify_rate_mib_s=64,
        **guest_spec.schedule_fields((wws,), [(d, (r,)) for d, r in stages]),
    )


def collect(runs, scenarios=SCENARIOS):
    """Run every scenario ``runs`` times on real hosts; returns raw rows."""
    from benchmarks import real
    from testbed.guest import build
    from testbed import hosts
    from testbed import machine_lock

    with machine_lock.exclusive('python -m benchmarks.calibrate', 'hosts'):
        image = build.build()
        pair = hosts.HostPair()
        pair.up()
        try:
            return _collect(real, pair, image, runs, scenarios)
        finally:
            pair.down()


def _collect(real, pair, image, runs, scenarios):
    """The runs of :func:`collect`, on hosts that are up."""
    out = []
    for sc in scenarios:
        name, ram, _, _, _, cap, _, _ = sc
        spec = guest_spec(sc)
        guest = 'cal-%s' % name
        for n in range(runs):
            run, source, corrupt, _ = real.migrate(
                pair,
                image,
                guest,
                spec,
                POLICY,
                PARAMS,
                Permits.named('none'),
                cap,
            )
            out.append(
                {
                    'scenario': name,
                    'run': n,
                    'source': source,
                    'outcome': run.outcome,
                    'total_s': run.total_s,
                    'downtime_ms': run.downtime_ms,
                    'iterations': real.last_stat(run, 'memory_iteration'),
                    'corrupt_pages': corrupt,
                }
            )
            print(
                '%-24s run %d %-9s %6.2f s %6s ms corrupt %s'
                % (
                    name,
                    n,
                    run.outcome,
                    run.total_s,
                    run.downtime_ms,
                    corrupt,
                ),
                flush=True,
            )
            if n == 0:
                real.save_trace(
                    run,
                    os.path.join(real.TRACES, 'calibration-%s.json' % name),
                    policy=POLICY,
                    params=PARAMS,
                    ram_bytes=ram * MIB,
                    cap_mib_s=cap,
                    spec=dict(
                        spec.__dict__,
                        schedule=spec.schedule and spec.schedule.cmdline(),
                    ),
                )
        pair.destroy_guest(guest)
    return out


def medians(raw):
    """:returns: {scenario: (median total_s, median downtime_ms, n)}."""
    by = {}
    for r in raw:
        if r['outcome'] == 'completed':
            by.setdefault(r['scenario'], []).append(r)
    return {
        k: (
            statistics.median(r['total_s'] for r in v),
            statistics.median(r['downtime_ms'] for r in v),
            len(v),
        )
        for k, v in by.items()
    }


def sim_workload_of(cal, scenario):
    """The calibrated model's workload for a scenario, phased or not.

    A phased guest gets the constant guest's calibrated RAM and its own
    schedule, each rate scaled by ``dirty_factor`` as a constant rate is.
    """
    _, ram, fill, wws, rate, _, _, stages = scenario
    base = calibrated.workload(ram, fill, wws, rate, cal)
    if stages is None:
        return base
    return sim_workload.Workload(
        base.ram_bytes,
        sets=(float(wws * MIB),),
        stages=tuple(
            sim_workload.Stage(d, (r * MIB * cal.dirty_factor,))
            for d, r in stages
        ),
    )


def predict(cal, scenario, poll_s=0.5, max_s=3600.0):
    """(total_s, downtime_ms) the calibrated simulator predicts."""
    ram, cap = scenario[1], scenario[5]
    _, total, downtime = calibrated.run(
        _policy(ram), sim_workload_of(cal, scenario), cap, cal, poll_s, max_s
    )
    return total, downtime


def _cost(cal, scenarios, real):
    cost = 0.0
    for sc in scenarios:
        total, downtime = predict(cal, sc)
        if downtime is None:
            return math.inf
        rt, rd, _ = real[sc[0]]
        cost += abs(math.log(total / rt))
        cost += abs(math.log(max(downtime, 1.0) / max(rd, 1.0)))
    return cost


def fit(real, passes=6, steps=24):
    """Coordinate search over :data:`BOUNDS` on the ``fit`` scenarios."""
    scenarios = [s for s in SCENARIOS if s[6] == 'fit' and s[0] in real]
    cal = calibrated.Calibration()
    best = _cost(cal, scenarios, real)
    for _ in range(passes):
        for field, (lo, hi) in BOUNDS.items():
            for i in range(steps + 1):
                value = lo + (hi - lo) * i / steps
                trial = dataclasses.replace(cal, **{field: value})
                cost = _cost(trial, scenarios, real)
                if cost < best:
                    cal, best = trial, cost
        # then refine around the current point
        for field, (lo, hi) in BOUNDS.items():
            here = getattr(cal, field)
            span = (hi - lo) / steps
            for i in range(-10, 11):
                value = min(hi, max(lo, here + span * i / 10))
                trial = dataclasses.replace(cal, **{field: value})
                cost = _cost(trial, scenarios, real)
                if cost < best:
                    cal, best = trial, cost
    return cal


def report(cal, real):
    """Per-scenario rows and the median errors of each half."""
    rows = []
    for sc in SCENARIOS:
        if sc[0] not in real:
            continue
        rt, rd, n = real[sc[0]]
        st, sd = predict(cal, sc)
        rows.append(
            {
                'scenario': sc[0],
                'half': sc[6],
                'phased': sc[7] is not None,
                'runs': n,
                'real_total_s': rt,
                'sim_total_s': round(st, 3),
                'total_err': round(abs(st - rt) / rt, 4),
                'real_downtime_ms': rd,
                'sim_downtime_ms': round(sd, 1),
                'downtime_err': round(abs(sd - rd) / max(rd, 1), 4),
                'downtime_abs_err_ms': round(abs(sd - rd), 1),
            }
        )
    summary = {}
    for half in ('fit', 'holdout'):
        sel = [r for r in rows if r['half'] == half]
        summary[half] = {
            'total_median_err': statistics.median(r['total_err'] for r in sel),
            'downtime_median_err': statistics.median(
                r['downtime_err'] for r in sel
            ),
            'downtime_median_abs_err_ms': statistics.median(
                r['downtime_abs_err_ms'] for r in sel
            ),
        }
    return rows, summary


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks.calibrate',
        description=__doc__.splitlines()[0],
    )
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument(
        '--refit',
        action='store_true',
        help='fit again on the real runs stored in --out',
    )
    parser.add_argument(
        '--phased',
        action='store_true',
        help='run only the phased scenarios; the stored runs of the '
        'others in --out are kept',
    )
    parser.add_argument('--out', default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.refit:
        with open(args.out) as fh:
            raw = json.load(fh)['real_runs']
    elif args.phased:
        phased = [sc for sc in SCENARIOS if sc[7] is not None]
        names = {sc[0] for sc in phased}
        with open(args.out) as fh:
            raw = [
                r
                for r in json.load(fh)['real_runs']
                if r['scenario'] not in names
            ]
        raw += collect(args.runs, phased)
    else:
        raw = collect(args.runs)
    real = medians(raw)
    cal = fit(real)
    rows, summary = report(cal, real)
    print(
        '%-24s %-7s %8s %8s %6s %8s %8s %6s'
        % (
            'scenario',
            'half',
            'real s',
            'sim s',
            'err',
            'real ms',
            'sim ms',
            'err',
        )
    )
    for r in rows:
        print(
            '%-24s %-7s %8.2f %8.2f %5.0f%% %8.0f %8.0f %5.0f%%'
            % (
                r['scenario'],
                r['half'],
                r['real_total_s'],
                r['sim_total_s'],
                100 * r['total_err'],
                r['real_downtime_ms'],
                r['sim_downtime_ms'],
                100 * r['downtime_err'],
            )
        )
    print('fitted: %s' % json.dumps(dataclasses.asdict(cal)))
    hold = summary['holdout']
    checks = [
        (
            'holdout median total-time error <= 25 %',
            hold['total_median_err'] <= 0.25,
            '%.1f %%' % (100 * hold['total_median_err']),
        ),
        (
            'holdout median downtime error <= max(25 %, 50 ms)',
            hold['downtime_median_err'] <= 0.25
            or hold['downtime_median_abs_err_ms'] <= 50,
            '%.1f %%, %.0f ms'
            % (
                100 * hold['downtime_median_err'],
                hold['downtime_median_abs_err_ms'],
            ),
        ),
    ]
    for text, ok, detail in checks:
        print('%s  %s (%s)' % ('PASS' if ok else 'FAIL', text, detail))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(
            {
                'policy': POLICY,
                'params': PARAMS,
                'fitted': dataclasses.asdict(cal),
                'summary': summary,
                'scenarios': rows,
                'real_runs': raw,
            },
            fh,
            indent=1,
        )
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == '__main__':
    sys.exit(main())
