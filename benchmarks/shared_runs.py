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
"""Issue 26's shared-link scenarios: many migrations, one link.

The set, fixed in advance:

- links 40 MiB/s, 1 GiB/s, 10 GiB/s (10 % noise per poll, as the main
  matrix; one stream per migration, the same for every policy);
- arrangements: 2 and 8 migrations started together; queues of 8 with
  nova's ``max_concurrent_live_migrations`` 1 and 4;
- guests, 2 GiB, working set 50 %: all ``constant`` or all ``bursts``
  (duty 0.5, period 60 s) at rho 0.3, 0.95 or 3; or the ``mix``,
  members in turn constant rho 0.3, bursts rho 0.95, constant rho 3
  (its rhos are fixed, so it is not crossed with the rho axis: the
  issue's "about 1,300" counted it three times; 1,008 scenarios);
- rho is relative to the migration's planned fair share at its start
  (:func:`nova_ext.core.sim.fleet.shares_at_start`: capacity over the
  migrations then active; a queued one starts into a full queue on an
  unloaded link), fixed in advance so that every policy migrates the
  same guests;
- the claims' B is the share at the start the run gave it
  (:func:`share_at_start`): a queued migration that starts inside the
  background burst has half the link;
- permits none, postcopy, pause; background none, or half the link for
  60 s from 30 s; seeds 1 and 2; auto-converge off.

Every policy runs every migration of a scenario; ``oracle-precopy``
doing so is the reference scenario. Each migration's row carries the
claims' terms at its own B: ``ram_s`` = RAM / B, ``t_obs_s`` = 120 s + 3 x
RAM / B, nova's budget 800 s per GiB. A run gives up at nova's budget
(the reference) or the budget plus T_obs at the planned share.
"""

from benchmarks import policies as bench
from benchmarks import terms
from nova_ext.core import loader
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.sim import fleet
from nova_ext.core.sim import model
from nova_ext.core.sim import noise as noises
from nova_ext.core.sim import oracle
from nova_ext.core.sim import sharing
from nova_ext.core.sim import workload as workloads

LINKS_MIB_S = (40, 1024, 10240)
#: name -> (migrations, max_concurrent or None for "started together")
ARRANGEMENTS = {
    'together-2': (2, None),
    'together-8': (8, None),
    'queue-8-c1': (8, 1),
    'queue-8-c4': (8, 4),
}
RHOS = (0.3, 0.95, 3)
#: the mix's members, in turn: (family, rho)
MIX = (('constant', 0.3), ('bursts', 0.95), ('constant', 3))
BURSTS = {'duty': 0.5, 'period_s': 60}
RAM_GIB = 2
WWS = 0.5
BACKGROUNDS = {
    'none': (),
    'half-60s@30s': (sharing.Burst(30.0, 60.0, 0.5),),
}
SEEDS = (1, 2)
SIGMA = bench.BASE_SIGMA


def scenarios(links=LINKS_MIB_S, seeds=SEEDS):
    """Every scenario: dicts, in a fixed order."""
    out = []
    guests = [(g, rho) for g in ('constant', 'bursts') for rho in RHOS]
    guests.append(('mix', None))
    for link in links:
        for arrangement in ARRANGEMENTS:
            for guest, rho in guests:
                for permits in bench.PERMITS:
                    for background in BACKGROUNDS:
                        for seed in seeds:
                            out.append(
                                {
                                    'link_mib_s': link,
                                    'arrangement': arrangement,
                                    'guests': guest,
                                    'rho': rho,
                                    'permits': permits,
                                    'background': background,
                                    'seed': seed,
                                }
                            )
    return out


def quick_scenarios():
    """The unit tests' slice: 1 GiB/s, every arrangement, constant guests
    at rho 0.3 and the mix, abort only, no background, seed 1.
    """
    return [
        s
        for s in scenarios(links=(1024,), seeds=(1,))
        if s['permits'] == 'none'
        and s['background'] == 'none'
        and (s['guests'] == 'mix' or s['rho'] == 0.3)
        and s['guests'] != 'bursts'
    ]


def _name(sc):
    return '%(arrangement)s %(guests)s rho %(rho)s %(background)s' % sc


def _members(sc):
    """:returns: [(family, rho)] and the fleet scenario with workloads."""
    count, limit = ARRANGEMENTS[sc['arrangement']]
    if sc['guests'] == 'mix':
        kinds = [MIX[i % len(MIX)] for i in range(count)]
    else:
        kinds = [(sc['guests'], sc['rho'])] * count
    link = sharing.SharedLink(
        sc['link_mib_s'] * MIB, BACKGROUNDS[sc['background']]
    )
    plain = fleet.Scenario(
        link, tuple(fleet.Member(None) for _ in kinds), limit
    )
    shares = fleet.shares_at_start(plain)
    ram = RAM_GIB * GIB
    members = []
    for (family, rho), share in zip(kinds, shares):
        params = BURSTS if family == 'bursts' else {}
        load = workloads.build(family, ram, rho * share, ram * WWS, **params)
        members.append(fleet.Member(load))
    return kinds, shares, fleet.Scenario(link, tuple(members), limit)


def _step_s(mig):
    """The main matrix's polls (:func:`benchmarks.policies.run_cell`),
    at this migration's current share.
    """
    share = mig.share_bps
    step = bench.POLL_GROWTH * mig.t
    step = min(step, mig.w.ram_bytes / share / 16.0)
    step = min(step, mig.round_bytes / share / bench.POLLS_PER_ROUND)
    return max(bench.POLL_S, step)


def _terms(share_bps):
    """The claims' terms for a migration whose B is ``share_bps``."""
    ram_s = RAM_GIB * 1024.0 / (share_bps / MIB)
    return {
        'ram_s': round(ram_s, 3),
        't_obs_s': round(120.0 + 3.0 * ram_s, 3),
        'nova_budget_s': terms.NOVA_BUDGET_S_PER_GIB * RAM_GIB,
    }


def share_at_start(scenario, runs, i):
    """B of member ``i`` in this run, as the claims define it: capacity
    minus background at its start, over the migrations then active.

    A queued migration's start depends on the policy (when a slot
    freed): one that starts inside the background burst gets half the
    link, and its T_obs is counted from that.
    """
    at = runs[i].start_s
    # NOTE: the one whose slot it took ends as it starts; results keep
    # times to the ms, hence the tolerance
    active = sum(
        1
        for j, run in enumerate(runs)
        if j == i or run.start_s <= at < run.end_s - 0.01
    )
    return scenario.link.available_bps(at) / active


def run_scenario(sc):
    """Every policy over every migration of ``sc``; :returns: its rows."""
    kinds, shares, scenario = _members(sc)
    permits = Permits.named(sc['permits'], terms.LIMIT_MS)
    context = MigrationContext(RAM_GIB * GIB, permits)
    hypervisor = model.Link(
        sc['link_mib_s'] * MIB, switchover_overhead_ms=terms.OVERHEAD_MS
    )
    name = _name(sc)
    # the run's limits before it runs: at the planned shares
    terms_of = [_terms(share) for share in shares]
    rows = []
    for policy in bench.POLICIES:
        if policy == terms.ORACLE:
            objs = [oracle.OraclePrecopy(context) for _ in kinds]
            max_s = [t['nova_budget_s'] for t in terms_of]
        else:
            params = bench.policy_params(policy, sc['permits'])
            objs = [
                loader.build_policy(policy, context, params) for _ in kinds
            ]
            max_s = [t['nova_budget_s'] + t['t_obs_s'] for t in terms_of]
        streams = [
            noises.Noise(
                sc['seed'], SIGMA, key='%s/%s/%d' % (sc['link_mib_s'], name, i)
            )
            for i in range(len(kinds))
        ]
        runs = fleet.drive(
            scenario,
            objs,
            hypervisor,
            max_s,
            bench.POLL_S,
            _step_s,
            streams,
        )
        started = [share_at_start(scenario, runs, i) for i in range(len(runs))]
        for i, run in enumerate(runs):
            family, rho = kinds[i]
            res = run.result
            row = {
                'family': family,
                'variant': 'd0.50/p60' if family == 'bursts' else '-',
                'seed': sc['seed'],
                'sigma': SIGMA,
                'wws': WWS,
                'link_mib_s': sc['link_mib_s'],
                'ram_gib': RAM_GIB,
                'rho': rho,
                'permits': sc['permits'],
                'auto_converge': False,
                'scenario': name,
                'arrangement': sc['arrangement'],
                'guests': sc['guests'],
                'member': i,
                'share_mib_s': round(started[i] / MIB, 1),
                'start_s': round(run.start_s, 3),
                'end_s': round(run.end_s, 3),
            }
            row.update(_terms(started[i]))
            row.update(bench.run_fields(policy, res))
            rows.append(row)
    return rows
