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
"""Golden scenarios of ``server migration`` watch, list, show, abort and
force complete.
"""

from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate import golden_run


def _busy_cloud(version='2.95'):
    """Three live migrations in flight (two from compute1), one finished."""
    compute = fakes.FakeCompute(version)
    compute.add_server(fakes.server())
    for i, (sid, src) in enumerate(
        (('s-1', 'compute1'), ('s-2', 'compute1'), ('s-3', 'compute2')),
        start=1,
    ):
        rec = fakes.migration(
            mid=i,
            uuid='u%d' % i,
            server_id=sid,
            source=src,
            memory_total_bytes=3 * 2**30,
            memory_processed_bytes=2**29 * i,
            memory_remaining_bytes=3 * 2**30 - 2**29 * i,
        )
        compute.records.append(rec)
        compute.live[(sid, i)] = rec
    compute.records.append(
        fakes.migration(mid=9, uuid='old', status='completed')
    )
    return compute


def _watch(argv, tty=False):
    compute = _busy_cloud()
    n = {'sleeps': 0}

    def step():
        n['sleeps'] += 1
        for rec in compute.live.values():
            rec.memory_processed_bytes += 2**28
            rec.memory_remaining_bytes -= 2**28
        if n['sleeps'] >= 3:
            compute.live.clear()
            for r in compute.records:
                r.status = 'completed'

    return golden_run.run(
        'server migration watch', argv, compute, tty=tty, step=step
    )


@golden_run.scenario
def watch_server_json():
    return _watch(['--server', 'vm1'])


@golden_run.scenario
def watch_host_tty():
    return _watch(['--host', 'compute1', '--interval', '1'], tty=True)


@golden_run.scenario
def watch_all_count():
    return _watch(['--count', '2', '-f', 'json'], tty=True)


@golden_run.scenario
def watch_bad_interval():
    return _watch(['--interval', '0'])


@golden_run.scenario
def list_in_flight():
    return golden_run.run('server migration list', [], _busy_cloud())


def _block_migrating_cloud():
    """_busy_cloud, with u1 also copying a 2 GiB disk (a block migration)."""
    compute = _busy_cloud()
    u1 = compute.records[0]
    u1.disk_total_bytes = 2 * 2**30
    u1.disk_processed_bytes = 2**29
    u1.disk_remaining_bytes = 3 * 2**29
    return compute


@golden_run.scenario
def list_long_block_migration():
    return golden_run.run(
        'server migration list', ['--long'], _block_migrating_cloud()
    )


@golden_run.scenario
def list_long_sorted_by_an_added_column():
    return golden_run.run(
        'server migration list',
        [
            '--long',
            '-c',
            'Id',
            '-c',
            'Disk Remaining Bytes',
            '--sort-column',
            'Disk Remaining Bytes',
            '--sort-ascending',
        ],
        _block_migrating_cloud(),
    )


@golden_run.scenario
def show_block_migration():
    return golden_run.run(
        'server migration show', ['vm1', '1'], _block_migrating_cloud()
    )


@golden_run.scenario
def watch_host_with_history_json():
    """1,000 finished migrations on the host: the same calls as without."""
    compute = _block_migrating_cloud()
    for i in range(1000):
        compute.records.append(
            fakes.migration(mid=100 + i, uuid='h%d' % i, status='completed')
        )
    compute.servers_by_id['s-1'].metadata.update(
        {'livemigrate:migration': 'u1', 'livemigrate:phase': 'paused'}
    )
    return golden_run.run(
        'server migration watch',
        ['--host', 'compute1', '--count', '1', '-f', 'json'],
        compute,
    )


@golden_run.scenario
def list_json_old_microversion():
    return golden_run.run(
        'server migration list', ['-f', 'json'], _busy_cloud('2.20')
    )


@golden_run.scenario
def show_by_id():
    return golden_run.run('server migration show', ['vm1', '1'], _busy_cloud())


@golden_run.scenario
def show_finished():
    compute = _busy_cloud()
    compute.records[-1].server_id = 's-1'
    return golden_run.run('server migration show', ['vm1', '9'], compute)


#: what the driver leaves on vm1 after its migration 'old' (id 9) ended
OLD_FIGURES = (
    '{"migration":"old","outcome":"completed","policy":"adaptive",'
    '"action":"set-downtime","memory_bytes":3489660928,'
    '"disk_bytes":2147483648,"duration_s":41.5,"downtime_ms":284}'
)


def _ended_with_figures(shadows=''):
    """_busy_cloud whose finished migration 9 of vm1 left final figures,
    with a shadow policy's decisions when ``shadows`` names it.
    """
    compute = _busy_cloud()
    compute.records[-1].server_id = 's-1'
    compute.servers_by_id['s-1'].metadata.update(
        {
            'livemigrate:migration': 'old',
            'livemigrate:phase': 'completed',
            'livemigrate:last_migration': OLD_FIGURES,
            'livemigrate:shadows': shadows,
        }
    )
    names = ['livemigrate_set-downtime'] + [
        'livemigrate_shadow:kubevirt:' + a
        for a in ('set-downtime', 'set-downtime', 'postcopy')
    ]
    compute.actions['s-1'] = [
        fakes.Obj(
            action='live-migration',
            request_id='req-1',
            start_time='1',
            events=[
                {'event': e, 'result': 'Success', 'start_time': '2%d' % i}
                for i, e in enumerate(names)
            ],
        )
    ]
    return compute


@golden_run.scenario
def show_finished_with_final_figures():
    return golden_run.run(
        'server migration show', ['vm1', '9'], _ended_with_figures()
    )


@golden_run.scenario
def show_finished_with_shadow_decisions():
    return golden_run.run(
        'server migration show',
        ['vm1', '9', '-f', 'json'],
        _ended_with_figures(shadows='kubevirt,schedule'),
    )


@golden_run.scenario
def list_long_final_figures():
    return golden_run.run(
        'server migration list',
        ['--long', '-f', 'json', '--server', 'vm1'],
        _ended_with_figures(),
    )


@golden_run.scenario
def show_bad_ref():
    return golden_run.run(
        'server migration show', ['vm1', 'x1'], _busy_cloud()
    )


@golden_run.scenario
def abort_in_flight():
    return golden_run.run(
        'server migration abort', ['vm1', '1'], _busy_cloud()
    )


@golden_run.scenario
def abort_finished():
    compute = _busy_cloud()
    compute.records[-1].server_id = 's-1'
    compute.errors['abort_server_migration'] = fakes.http_error(409, 'bad')
    return golden_run.run('server migration abort', ['vm1', '9'], compute)


@golden_run.scenario
def abort_old_microversion():
    return golden_run.run(
        'server migration abort', ['vm1', '1'], _busy_cloud('2.23')
    )


@golden_run.scenario
def force_complete_hidden_postcopy():
    compute = _busy_cloud()
    compute.records[0].status = 'running (post-copy)'
    del compute.live[('s-1', 1)]
    return golden_run.run(
        'server migration force complete', ['vm1', '1'], compute
    )


@golden_run.scenario
def force_complete_bad_ref():
    return golden_run.run(
        'server migration force complete', ['vm1', 'nope'], _busy_cloud()
    )
