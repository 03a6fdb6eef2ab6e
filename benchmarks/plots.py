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
"""Pictures of the policies at work: memory left over time, decisions marked.

Three workloads, each policy on the same one, in the simulator: a guest
that converges by itself, a bursty one whose idle phases let pre-copy end,
and a hopeless one that writes three times faster than the link (2 GiB of
RAM, a 1 GiB working set, 1 GiB/s, 500 ms permitted, abort only). One PNG
per workload, a panel per policy: the saw-tooth of libvirt's
``memory_remaining``, a tick for each downtime step, a large marker for an
escalation, and how it ended.

``--traces`` draws the recorded real runs (``benchmarks/traces/real-*``:
the real hosts' samples and decisions) the same way, one PNG per workload.

Run: ``python -m benchmarks.plots`` (writes ``doc/source/admin/images/``,
which the policy guide shows); needs matplotlib (the ``bench`` tox env).
"""

import argparse
import json
import os
import sys

from benchmarks import terms
from nova_ext.core import loader
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.sim import model
from nova_ext.core.sim import runner
from nova_ext.core.sim import workload as workloads

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(
    os.path.dirname(HERE), 'doc', 'source', 'admin', 'images'
)
TRACES = os.path.join(HERE, 'traces')
RAM = 2 * GIB
LINK_BPS = GIB
#: name -> (title, workload); rho is the dirty rate over the link's
WORKLOADS = {
    'converging': (
        'converging: writes 1 GiB at 0.3 GiB/s (rho 0.3)',
        workloads.constant(RAM, 0.3 * GIB, GIB),
    ),
    'bursty': (
        'bursty: 1 GiB at 1.9 GiB/s for 30 s, then idle 30 s',
        workloads.bursts(RAM, 0.95 * GIB, GIB, period_s=60, duty=0.5),
    ),
    'hopeless': (
        'hopeless: writes 1 GiB at 3 GiB/s (rho 3)',
        workloads.constant(RAM, 3 * GIB, GIB),
    ),
}
MAX_S = 2400
#: how each decision is drawn: (marker, colour, label)
MARKS = {
    'set-downtime': ('|', 'grey', 'downtime step'),
    'postcopy': ('P', 'tab:blue', 'post-copy'),
    'pause': ('s', 'tab:orange', 'pause'),
    'abort': ('X', 'tab:red', 'abort'),
}


class _Recorder:
    """Passes a policy's decisions on and keeps what it saw."""

    def __init__(self, policy):
        self.policy = policy
        self.samples = []

    def decide(self, obs):
        self.samples.append((obs.elapsed_s, obs.memory_remaining_bytes))
        return self.policy.decide(obs)


def simulate(name, load, permits=Permits.named('none')):
    """One policy on one workload: (samples, decisions, outcome, end s)."""
    ctx = MigrationContext(RAM, permits)
    rec = _Recorder(loader.build_policy(name, ctx))
    mig = model.Migration(load, model.Link(LINK_BPS))
    events, _ = runner.drive(rec, mig, MAX_S)
    decisions = [(e.at_s, e.action) for e in events]
    outcome = mig.outcome if mig.done else 'unfinished'
    return rec.samples, decisions, outcome, mig.t


def _panel(ax, title, samples, decisions, outcome, end_s):
    ts = [t for t, _ in samples]
    left = [b / MIB for _, b in samples]
    ax.plot(ts, left, lw=0.8, color='black')
    seen = set()
    for at_s, action in decisions:
        marker, colour, label = MARKS.get(action, ('o', 'purple', action))
        y = _left_at(samples, at_s) / MIB
        ax.plot(
            [at_s],
            [y],
            marker=marker,
            color=colour,
            ms=12 if action != 'set-downtime' else 16,
            ls='none',
            label=label if label not in seen else None,
        )
        seen.add(label)
    ax.set_title('%s: %s at %d s' % (title, outcome, end_s), fontsize=9)
    ax.set_ylabel('MiB left', fontsize=8)
    ax.tick_params(labelsize=7)
    if seen:
        ax.legend(fontsize=7, loc='upper right')


def _left_at(samples, at_s):
    """The remaining bytes sampled last at or before ``at_s``."""
    value = samples[0][1] if samples else 0
    for t, b in samples:
        if t > at_s:
            break
        value = b
    return value


def _figure(title, rows, path):
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot

    fig, axes = pyplot.subplots(
        len(rows), 1, figsize=(8, 1.9 * len(rows)), squeeze=False
    )
    for ax, row in zip([a[0] for a in axes], rows):
        _panel(ax, *row)
    axes[-1][0].set_xlabel('seconds since the migration started', fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    pyplot.close(fig)
    return path


def simulator_plots(out):
    """One PNG per workload of :data:`WORKLOADS`; returns their paths."""
    paths = []
    for key, (title, load) in WORKLOADS.items():
        rows = [(name,) + simulate(name, load) for name in terms.policies()]
        paths.append(
            _figure(
                'simulator, %s; 2 GiB at 1 GiB/s, abort only' % title,
                rows,
                os.path.join(out, 'policy-%s.png' % key),
            )
        )
    return paths


def trace_plots(out, traces=TRACES):
    """One PNG per recorded real workload (all its permit sets)."""
    groups = {}
    for name in sorted(os.listdir(traces)):
        if not (name.startswith('real-') and name.endswith('.json')):
            continue
        with open(os.path.join(traces, name)) as f:
            trace = json.load(f)
        key = trace['spec'].get('name') or name.split('-')[2]
        groups.setdefault(key, []).append(trace)
    paths = []
    for key, group in sorted(groups.items()):
        rows = []
        for trace in group:
            samples = [
                (t, stats.get('memory_remaining', 0))
                for t, stats in trace['samples']
            ]
            decisions = [(d[0], d[1]) for d in trace['decisions']]
            end_s = samples[-1][0] if samples else 0
            rows.append(
                (
                    '%s, permits %s' % (trace['policy'], trace['permits']),
                    samples,
                    decisions,
                    trace['outcome'],
                    end_s,
                )
            )
        paths.append(
            _figure(
                'real hosts, %s guest (%d MiB, %d MiB/s cap)'
                % (key, group[0]['ram_bytes'] // MIB, group[0]['cap_mib_s']),
                rows,
                os.path.join(out, 'real-%s.png' % key),
            )
        )
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=DEFAULT_OUT, help='PNG folder')
    parser.add_argument(
        '--traces',
        action='store_true',
        help='also draw the recorded real runs in benchmarks/traces',
    )
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    paths = simulator_plots(args.out)
    if args.traces:
        paths += trace_plots(args.out)
    for path in paths:
        print('wrote %s' % path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
