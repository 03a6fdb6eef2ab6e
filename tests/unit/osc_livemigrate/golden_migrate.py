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
"""Golden scenarios of ``server migrate``: with and without --wait, its
verdicts, Ctrl-C, refusals before nova, cold migration.
"""

import json

from keystoneauth1 import exceptions as ksa_exc

from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate import golden_run

UUID = '11111111-1111-1111-1111-111111111111'


def _migrating_cloud(
    final_status='completed',
    final_host='compute2',
    steps=3,
    metadata=None,
    events=(),
    interrupt_at=None,
):
    """vm1 on compute1; the live migration runs ``steps`` refreshes."""
    compute = fakes.FakeCompute()
    srv = compute.add_server(fakes.server())
    record = fakes.migration(status='running')
    live = fakes.migration(
        status='running',
        memory_total_bytes=4 * 2**30,
        memory_processed_bytes=0,
        memory_remaining_bytes=4 * 2**30,
        disk_total_bytes=0,
        disk_processed_bytes=0,
        disk_remaining_bytes=0,
    )
    n = {'ticks': 0}

    def start(server_id):
        compute.records.append(record)
        compute.live[('s-1', 1)] = live
        srv.status, srv.task_state = 'MIGRATING', 'migrating'
        srv.metadata.update(metadata or {})

    def tick(c):
        n['ticks'] += 1
        if n['ticks'] == interrupt_at:
            raise KeyboardInterrupt
        live.memory_processed_bytes = min(4 * 2**30, 2**30 * n['ticks'])
        live.memory_remaining_bytes = 4 * 2**30 - live.memory_processed_bytes
        if n['ticks'] > steps:
            record.status = final_status
            compute.live.clear()
            srv.status, srv.task_state = 'ACTIVE', None
            srv.compute_host = final_host

    compute.on_live_migrate, compute.tick = start, tick
    if events:
        compute.actions['s-1'] = [
            fakes.Obj(
                action='live-migration',
                request_id='req-1',
                start_time='1',
                events=[
                    {'event': e, 'result': 'Error', 'details': d}
                    for e, d in events
                ],
            )
        ]
    return compute


def _migrate(argv, tty=False, **cloud):
    return golden_run.run(
        'server migrate', argv, _migrating_cloud(**cloud), tty=tty
    )


LIVE_WAIT = ['vm1', '--live-migration', '--wait']


@golden_run.scenario
def migrate_no_wait():
    return _migrate(['vm1', '--live-migration'])


@golden_run.scenario
def migrate_wait_completed_json():
    return _migrate(LIVE_WAIT)


@golden_run.scenario
def migrate_wait_completed_tty():
    return _migrate(LIVE_WAIT, tty=True)


@golden_run.scenario
def migrate_wait_failed():
    return _migrate(
        LIVE_WAIT,
        final_status='error',
        final_host='compute1',
        metadata={
            'livemigrate:migration': UUID,
            'livemigrate:phase': 'aborted',
            'livemigrate:action': 'abort',
            'livemigrate:reason': 'stalled 3 rounds',
        },
        events=[('compute_live_migration', 'Migration aborted by policy')],
    )


@golden_run.scenario
def migrate_wait_cancelled_tty():
    return _migrate(
        LIVE_WAIT, tty=True, final_status='cancelled', final_host='compute1'
    )


@golden_run.scenario
def migrate_wait_timeout():
    return _migrate(LIVE_WAIT + ['--wait-timeout', '3'], steps=50)


@golden_run.scenario
def migrate_wait_refused_policy():
    return _migrate(
        LIVE_WAIT + ['--policy', 'adaptive'],
        metadata={
            'livemigrate:migration': UUID,
            'livemigrate:action': 'policy-refused',
            'livemigrate:reason': 'adaptive is not allowed here',
        },
        events=[('livemigrate_policy-refused', 'adaptive is not allowed')],
    )


@golden_run.scenario
def migrate_wait_policy_used_differs():
    return _migrate(
        LIVE_WAIT + ['--policy', 'turbo'],
        metadata={
            'livemigrate:migration': UUID,
            'livemigrate:policy_used': 'nova',
            'livemigrate:action': 'set-downtime',
        },
        events=[('livemigrate_policy-refused', 'turbo is not installed')],
    )


#: what the driver publishes with the first status of a refused request
EARLY_REFUSAL = {
    'livemigrate:migration': UUID,
    'livemigrate:policy_used': 'nova',
    'livemigrate:phase': 'pre-copy',
    'livemigrate:action': 'policy-refused',
    'livemigrate:reason': "server metadata asks for policy 'turbo', which "
    'is not installed (installed: adaptive, nova)',
    'livemigrate:policy_refused': json.dumps(
        {
            'asked': 'turbo',
            'used': 'nova',
            'reason': "server metadata asks for policy 'turbo', which is "
            'not installed (installed: adaptive, nova)',
        }
    ),
}


def _refused_early(tty):
    """The refusal shows on the second refresh, the first action of the
    fallback policy on the third (overwriting the reason, not the
    refusal); the migration completes after five.
    """
    compute = _migrating_cloud(
        steps=5,
        events=[('livemigrate_policy-refused', "'turbo' is not installed")],
    )
    tick, srv = compute.tick, compute.servers_by_id['s-1']
    n = {'ticks': 0}

    def later(c):
        n['ticks'] += 1
        if n['ticks'] == 2:
            srv.metadata.update(EARLY_REFUSAL)
        if n['ticks'] == 3:
            srv.metadata.update(
                {
                    'livemigrate:action': 'set-downtime',
                    'livemigrate:reason': 'step 1 of 10: 50 ms',
                }
            )
        tick(c)

    compute.tick = later
    return golden_run.run(
        'server migrate', LIVE_WAIT + ['--policy', 'turbo'], compute, tty=tty
    )


@golden_run.scenario
def migrate_wait_refused_early_json():
    return _refused_early(tty=False)


@golden_run.scenario
def migrate_wait_refused_early_tty():
    return _refused_early(tty=True)


@golden_run.scenario
def migrate_wait_detach():
    return _migrate(
        LIVE_WAIT + ['--on-interrupt', 'detach'], interrupt_at=2, steps=5
    )


@golden_run.scenario
def migrate_wait_abort():
    return _migrate(
        LIVE_WAIT + ['--on-interrupt', 'abort'],
        interrupt_at=2,
        final_status='cancelled',
        final_host='compute1',
    )


@golden_run.scenario
def migrate_wait_unreachable_once():
    compute = _migrating_cloud()
    compute.errors['get_server'] = ksa_exc.ConnectFailure('reset by peer')
    return golden_run.run('server migrate', LIVE_WAIT, compute)


@golden_run.scenario
def migrate_cold_wait():
    compute = fakes.FakeCompute()
    srv = compute.add_server(fakes.server())

    def step():
        srv.status, srv.compute_host = 'VERIFY_RESIZE', 'compute3'

    return golden_run.run(
        'server migrate', ['vm1', '--wait'], compute, step=step
    )


@golden_run.scenario
def migrate_cold_wait_verify_resize():
    compute = fakes.FakeCompute()
    srv = compute.add_server(
        fakes.server(status='RESIZE', task_state='resize_migrating')
    )
    n = {'sleeps': 0}

    def step():
        n['sleeps'] += 1
        if n['sleeps'] == 2:
            srv.status, srv.task_state = 'VERIFY_RESIZE', None
            srv.compute_host = 'compute3'

    return golden_run.run(
        'server migrate', ['vm1', '--wait'], compute, step=step
    )


@golden_run.scenario
def migrate_unknown_server():
    return _migrate(['ghost', '--live-migration'])


@golden_run.scenario
def migrate_host_is_current_host():
    return _migrate(['vm1', '--live-migration', '--host', 'compute1'])


@golden_run.scenario
def migrate_bad_policy_name():
    return _migrate(['vm1', '--live-migration', '--policy', '../x y'])


@golden_run.scenario
def migrate_policy_without_live():
    return _migrate(['vm1', '--policy', 'adaptive'])


@golden_run.scenario
def migrate_wait_timeout_negative():
    return _migrate(LIVE_WAIT + ['--wait-timeout', '-5'])


@golden_run.scenario
def migrate_wait_timeout_without_wait():
    return _migrate(['vm1', '--live-migration', '--wait-timeout', '30'])


@golden_run.scenario
def migrate_on_interrupt_without_wait():
    return _migrate(['vm1', '--live-migration', '--on-interrupt', 'abort'])


@golden_run.scenario
def migrate_poll_interval_without_wait():
    return _migrate(['vm1', '--live-migration', '--poll-interval', '1'])


@golden_run.scenario
def migrate_format_json_without_wait():
    return _migrate(['vm1', '--live-migration', '-f', 'json'])
