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
"""The policy matrix on real hosts, because the simulator is only a model.

512 MiB TCG guests on two namespaced libvirt 11 / QEMU 10 hosts, a 20 MiB/s
migration cap, three workloads (calm: converges; warm and hot: a working
set that can never fit 500 ms), permits none / postcopy / pause, every
policy. One guest per workload is migrated back and forth (from wherever
it runs), and after every migration its serial log must show heartbeats and
two VERIFY sweeps; ``corrupt_pages`` is the rise of its corrupt count.

Two phased workloads (``--phased``) run on 256 MiB guests over the same
20 MiB/s cap: ``burst`` writes a 48 MiB set at 48 MiB/s for 16 s and
idles 6 s; ``ramp`` climbs 12, 24, 36, 48 MiB/s in 4 s steps, then idles
4 s. Each migration starts as the guest enters the first stage, so every
policy meets the same phases; their rows replace the phased rows of
``--out`` and keep the constant ones.

nova's and KubeVirt's completion timeouts are scaled down (nova's default
would wait 800 s/GiB, 400 s here), see ``SCALED``: the table and the JSON
state them. Rows have the simulator benchmark's fields plus
``corrupt_pages``, ``cap_mib_s`` and ``params``; ``lower_bound_s`` is RAM
over the cap, as in the simulator (zero pages make real runs beat it).

Run (root, ~15 min on 2 cores; ``--phased`` ~20 min)::

    OS_NOVA_DISABLE_EVENTLET_PATCHING=True OSC_LM_PREFIX=lmf \\
        OSC_LM_SUBNET=10.77.7 python -m benchmarks.real [--quick|--phased]
"""

import argparse
import json
import os
import sys
import time

from benchmarks import terms
from nova_ext.core import loader
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from testbed.guest import build
from testbed.guest.spec import GuestSpec
from testbed.guest.spec import schedule_fields
from testbed import hosts
from testbed import machine_lock
from testbed import migration

CAP_MIB_S = 20
WORKLOADS = {
    'calm': GuestSpec(
        mem_mib=512, fill_mib=32, dirty_mib=16, dirty_rate_mib_s=4
    ),
    'warm': GuestSpec(mem_mib=512, dirty_mib=32, dirty_rate_mib_s=40),
    'hot': GuestSpec(mem_mib=512, dirty_mib=64, dirty_rate_mib_s=100),
}
#: phased guests: small, and every migration starts as stage 0 begins
PHASED_CAP_MIB_S = 20
PHASED = {
    'burst': GuestSpec(
        mem_mib=256,
        verify_rate_mib_s=64,
        **schedule_fields((48,), [(16, (48,)), (6, (0,))]),
    ),
    'ramp': GuestSpec(
        mem_mib=256,
        verify_rate_mib_s=64,
        **schedule_fields((48,), [(4, (r,)) for r in (12, 24, 36, 48, 0)]),
    ),
}
PERMITS = ('none', 'postcopy', 'pause')
POLICIES = terms.policies()
#: nova: 800 s/GiB completion, 75 s/GiB downtime steps -> 30 and 3;
#: kubevirt: 150 s/GiB and 150 s progress -> 30 and 30
SCALED = {
    'nova': {'completion_timeout_s': '30', 'downtime_delay_s': '3'},
    'kubevirt': {'completion_timeout_per_gib': '30', 'progress_timeout': '30'},
}
DEFAULT_OUT = os.path.join(os.path.dirname(__file__), 'results', 'real.json')
TRACES = os.path.join(os.path.dirname(__file__), 'traces')


def policy_params(policy, permits):
    """Scaled timeouts, plus nova's force_complete where it is permitted."""
    params = dict(SCALED.get(policy, {}))
    if policy == 'nova' and permits != 'none':
        params['timeout_action'] = 'force_complete'
    return params


def ensure_guest(pair, image, name, spec):
    """The guest's libvirt domain wherever it runs; boot it if it is gone."""
    host = pair.find_domain(name)
    if host is None:
        pair.destroy_guest(name)
        pair.start_guest(name, spec, image)
        pair.wait_serial(name, lambda r: r.verifies, 60, 'a VERIFY sweep')
        host = 'A'
    if spec.schedule is not None:
        wait_for_stage_start(pair, name, spec)
    return host, pair.connect(host).lookupByName(name)


def wait_for_stage_start(pair, name, spec, stage=0):
    """Wait for a heartbeat that shows the guest entering ``stage``.

    Heartbeats come once a second, so the migration starts at most about
    a second into the stage.
    """
    seen = len(pair.serial(name).heartbeats)
    period = sum(d for d, _ in spec.schedule.stages)

    def entered(report):
        beats = report.heartbeats[max(seen - 1, 0) :]
        return (
            len(beats) >= 2
            and beats[-1].stage == stage
            and beats[-2].stage != stage
        )

    return pair.wait_serial(
        name, entered, period + 30, 'the guest entering stage %d' % stage
    )


def migrate(
    pair, image, name, spec, policy, params, permits, cap_mib_s, **kwargs
):
    """Migrate the guest once, away from wherever it runs.

    :returns: (RealRun, source host, corrupt pages this run added or None
        if the guest did not come back alive, serial report afterwards)
    """
    source, dom = ensure_guest(pair, image, name, spec)
    dest = 'B' if source == 'A' else 'A'
    before = pair.serial(name)
    ctx = MigrationContext(spec.mem_mib * MIB, permits)
    obj = loader.build_policy(policy, ctx, params)
    run = migration.run(
        pair,
        dom,
        obj,
        source=source,
        dest=dest,
        postcopy=permits.postcopy,
        bandwidth_mib_s=cap_mib_s,
        **kwargs,
    )
    try:
        after = pair.wait_serial(
            name,
            lambda r: (
                len(r.verifies) >= len(before.verifies) + 2
                and len(r.heartbeats) >= len(before.heartbeats) + 3
            ),
            60,
            'two VERIFY sweeps after the migration',
        )
        corrupt = after.corrupt - before.corrupt
    except RuntimeError:
        after, corrupt = pair.serial(name), None
    return run, source, corrupt, after


def last_stat(run, key):
    """The last value of one job-stats key the monitor saw, or None."""
    for _, stats in reversed(run.samples):
        if key in stats:
            return stats[key]
    return None


def save_trace(run, path, **meta):
    """Write a run's job-stats sequence as JSON (for replay tests)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as fh:
        json.dump(
            dict(
                meta,
                outcome=run.outcome,
                decisions=run.decisions,
                samples=[[round(t, 3), s] for t, s in run.samples],
            ),
            fh,
            indent=0,
        )


def converges(spec, cap_mib_s):
    """Whether plain pre-copy ends within ``terms.LIMIT_MS``, per the model.

    A phased guest converges if a stage leaves its working set alone for
    longer than a round (pre-copy ends at that stage's first sync).
    """
    fits = spec.dirty_mib <= cap_mib_s * terms.LIMIT_MS / 1000.0
    if spec.schedule is None:
        return spec.dirty_rate_mib_s < cap_mib_s or fits
    round_s = spec.dirty_mib / cap_mib_s
    return fits or any(
        sum(rates) == 0 and 2 * round_s < duration
        for duration, rates in spec.schedule.stages
    )


def row(policy, workload, spec, permits, params, run, corrupt, cap_mib_s=None):
    """One JSON row: the simulator benchmark's fields plus real ones."""
    cap_mib_s = cap_mib_s or CAP_MIB_S
    cap = cap_mib_s * MIB
    ram = spec.mem_mib * MIB
    wws = spec.dirty_mib * MIB
    rho = spec.dirty_rate_mib_s / cap_mib_s
    lower = ram / cap
    last = run.decisions[-1] if run.decisions else None
    extra = {}
    if spec.schedule is not None:
        extra['schedule'] = spec.schedule.cmdline()
    return {
        'policy': policy,
        'workload': workload,
        'ram_gib': round(ram / 1024**3, 4),
        'rho': rho,
        'wws_gib': round(wws / 1024**3, 4),
        'permits': permits,
        'converges': converges(spec, cap_mib_s),
        'outcome': run.outcome,
        'total_s': run.total_s,
        'lower_bound_s': lower,
        'ratio': round(run.total_s / lower, 4),
        'downtime_ms': run.downtime_ms,
        'decision_s': last[0] if last else None,
        'postcopy_s': run.postcopy_s,
        'paused_s': run.paused_s,
        'bytes_sent': last_stat(run, 'memory_processed'),
        'iterations': last_stat(run, 'memory_iteration'),
        'final_reason': last[2] if last else None,
        'limit_ms': terms.LIMIT_MS,
        'overhead_ms': terms.OVERHEAD_MS,
        'corrupt_pages': corrupt,
        'host': run.host,
        'error': run.error,
        'cap_mib_s': cap_mib_s,
        'params': params,
        **extra,
    }


def table(rows):
    """:returns: printable lines, one per run."""
    head = '%-9s %-5s %-8s %-9s %8s %9s %7s %s' % (
        'policy',
        'load',
        'permits',
        'outcome',
        'total s',
        'downtime',
        'corrupt',
        'last decision',
    )
    lines = [head, '-' * len(head)]
    for r in rows:
        dt = r['downtime_ms']
        lines.append(
            '%-9s %-5s %-8s %-9s %8.1f %9s %7s %s'
            % (
                r['policy'],
                r['workload'],
                r['permits'],
                r['outcome'],
                r['total_s'],
                '-' if dt is None else '%d ms' % dt,
                '?' if r['corrupt_pages'] is None else r['corrupt_pages'],
                (r['final_reason'] or '-')[:60],
            )
        )
    lines.append(
        'cap %s MiB/s, max downtime %d ms; scaled timeouts: %s'
        % (
            '/'.join(str(c) for c in sorted({r['cap_mib_s'] for r in rows})),
            terms.LIMIT_MS,
            json.dumps(SCALED),
        )
    )
    return lines


def run_matrix(pair, image, workloads, cap_mib_s, rows, save=None):
    """Every permit set and policy on each workload; appends to ``rows``.

    :param save: called after every run, so that a long matrix that is
        cut short keeps the runs it made
    """
    for workload, spec in workloads.items():
        name = 'real-%s' % workload
        for permits in PERMITS:
            for policy in POLICIES:
                params = policy_params(policy, permits)
                run, _, corrupt, _ = migrate(
                    pair,
                    image,
                    name,
                    spec,
                    policy,
                    params,
                    Permits.named(permits, terms.LIMIT_MS),
                    cap_mib_s,
                )
                rows.append(
                    row(
                        policy,
                        workload,
                        spec,
                        permits,
                        params,
                        run,
                        corrupt,
                        cap_mib_s,
                    )
                )
                print(table(rows[-1:])[2], flush=True)
                if save is not None:
                    save()
                if policy == terms.SUBJECT:
                    save_trace(
                        run,
                        os.path.join(
                            TRACES,
                            'real-adaptive-%s-%s.json' % (workload, permits),
                        ),
                        policy=policy,
                        permits=permits,
                        ram_bytes=spec.mem_mib * MIB,
                        cap_mib_s=cap_mib_s,
                        spec=dict(
                            spec.__dict__,
                            schedule=spec.schedule and spec.schedule.cmdline(),
                        ),
                    )
        pair.destroy_guest(name)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks.real',
        description='Every convergence policy on real libvirt/QEMU hosts.',
    )
    parser.add_argument('--out', default=DEFAULT_OUT)
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        '--quick', action='store_true', help='only the hot workload'
    )
    which.add_argument(
        '--phased',
        action='store_true',
        help='only the phased workloads; their rows replace the phased '
        'rows of --out, the constant rows stay',
    )
    args = parser.parse_args(argv)
    if args.phased:
        workloads, cap = PHASED, PHASED_CAP_MIB_S
    else:
        loads = ['hot'] if args.quick else list(WORKLOADS)
        workloads, cap = {w: WORKLOADS[w] for w in loads}, CAP_MIB_S
    kept = []
    if args.phased and os.path.exists(args.out):
        with open(args.out) as fh:
            kept = [r for r in json.load(fh) if r['workload'] not in PHASED]
    started = time.monotonic()
    rows = []
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)

    def save():
        with open(args.out, 'w') as fh:
            json.dump(kept + rows, fh, indent=1)

    with machine_lock.exclusive('python -m benchmarks.real', 'hosts'):
        image = build.build()
        pair = hosts.HostPair()
        pair.up()
        try:
            run_matrix(pair, image, workloads, cap, rows, save)
        finally:
            pair.down()
    print()
    print('\n'.join(table(rows)))
    print(
        '\n%d runs in %.0f s; written to %s'
        % (len(rows), time.monotonic() - started, args.out)
    )
    # the recorded runs as pictures, beside the simulator's (the policy
    # guide shows both); matplotlib is imported only once the runs are made
    from benchmarks import plots

    for path in plots.trace_plots(plots.DEFAULT_OUT):
        print('wrote %s' % path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
