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
"""Golden scenarios of ``compute host drain``."""

from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate import golden_run
from tests.unit.osc_livemigrate.plan import sim


def _drain(argv, outcomes=None, duration=2):
    """Four servers on compute1: three ACTIVE, one SHUTOFF; compute2 empty
    (placement: 64 VCPU each, a server takes 1).
    """
    compute = sim.SimCompute()
    compute.placement = sim.FakePlacement(compute)
    compute.services_list = [
        fakes.Obj(
            id='svc-' + host,
            host=host,
            binary='nova-compute',
            status='enabled',
            disabled_reason=None,
            availability_zone='nova',
        )
        for host in ('compute1', 'compute2')
    ]
    for i, status in enumerate(('ACTIVE', 'ACTIVE', 'ACTIVE', 'SHUTOFF')):
        compute.add_server(fakes.server('s-%d' % i, 'vm%d' % i, status=status))
    running, n = {}, {'id': 100}
    outcomes = outcomes or {}

    def start(sid):
        srv = compute.servers_by_id[sid]
        srv.status, srv.task_state = 'MIGRATING', 'migrating'
        n['id'] += 1
        rec = fakes.migration(mid=n['id'], uuid='m%d' % n['id'], server_id=sid)
        compute.records.append(rec)
        running[sid] = [rec, duration]

    def step():
        for sid, entry in list(running.items()):
            entry[1] -= 1
            if entry[1] > 0:
                continue
            rec, statuses = entry[0], outcomes.get(sid) or ['completed']
            rec.status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            srv = compute.servers_by_id[sid]
            srv.status, srv.task_state = 'ACTIVE', None
            if rec.status == 'completed':
                srv.compute_host = 'compute2'
            del running[sid]

    compute.on_live_migrate = start
    return golden_run.run('compute host drain', argv, compute, step=step)


@golden_run.scenario
def drain_dry_run():
    return _drain(
        [
            'compute1',
            '--dry-run',
            '--policy',
            'adaptive',
            '--server-policy',
            'vm1=nova',
        ]
    )


@golden_run.scenario
def drain_real():
    return _drain(
        ['compute1', '--disable', '--retries', '1', '--retry-delay', '3'],
        outcomes={'s-1': ['error', 'completed'], 's-2': ['failed']},
    )


@golden_run.scenario
def drain_with_policies():
    compute_argv = [
        'compute1',
        '--policy',
        'adaptive',
        '--server-policy',
        'vm1=nova',
        '--concurrency',
        '1',
    ]
    return _drain(compute_argv, outcomes={'s-2': ['cancelled']})


@golden_run.scenario
def drain_json_timeout():
    return _drain(
        ['compute1', '--wait-timeout', '3', '-f', 'json'], duration=10
    )


@golden_run.scenario
def drain_no_service():
    return _drain(['compute9'])


@golden_run.scenario
def drain_bad_concurrency():
    return _drain(['compute1', '--concurrency', '0'])


@golden_run.scenario
def drain_dry_run_bad_server_policy():
    return _drain(['compute1', '--dry-run', '--server-policy', 'vm1=../x y'])


@golden_run.scenario
def drain_bad_policy():
    return _drain(['compute1', '--policy', 'a b'])


@golden_run.scenario
def drain_negative_wait_timeout():
    return _drain(['compute1', '--wait-timeout', '-5'])
