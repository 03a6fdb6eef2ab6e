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
"""Fixed fake-cloud scenarios of every command, replayed to prove behaviour.

Each scenario builds a :class:`fakes.FakeCompute`, runs one command line the
way ``openstack`` would (the command class comes from setup.cfg's
``openstack.livemigrate.v1`` entry points, so a renamed module is followed)
and records stdout, stderr, the exit code and every SDK call. The records of
a known-good tree are stored in ``golden/<scenario>.json``;
``test_golden`` replays and compares. To record anew (only when a change of
output is intended, and say so in the commit)::

    python -m tests.unit.osc_livemigrate.golden_scenarios --write

To compare with another tree (an older commit), export it (``git archive
<commit> | tar -x -C /tmp/old``), copy this file into it, run the command
above there and ``diff -r`` the two ``golden`` directories.
"""

import configparser
import contextlib
import importlib
import io
import json
import os
import sys
import types

from keystoneauth1 import exceptions as ksa_exc
from osc_lib import exceptions

from tests.unit.osc_livemigrate import fakes
from tests.unit.osc_livemigrate.plan import sim

ROOT = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden')
GROUP = 'openstack.livemigrate.v1'
UUID = '11111111-1111-1111-1111-111111111111'
SCENARIOS = {}


def command_class(words):
    """The class setup.cfg registers for ``words`` (e.g. 'server migrate')."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, 'setup.cfg'))
    for line in cfg['entry_points'][GROUP].strip().splitlines():
        name, _, target = (p.strip() for p in line.partition('='))
        if name == words.replace(' ', '_'):
            module, _, cls = target.partition(':')
            return getattr(importlib.import_module(module), cls)
    raise KeyError(words)


def scenario(func):
    SCENARIOS[func.__name__] = func
    return func


def run(words, argv, compute, tty=False, step=None):
    """Run one command line on ``compute``; return what the user would see.

    :param step: called after every sleep of the command (the fake cloud
        moves on); sleeps only move a fake clock.
    """
    app = fakes.FakeApp(compute, tty=tty)
    app.client_manager.sdk_connection = types.SimpleNamespace(
        placement=getattr(compute, 'placement', None)
    )
    cmd = command_class(words)(app, None)
    clock = fakes.FakeClock()

    def sleep(seconds):
        clock.sleep(seconds)
        if step is not None:
            step()

    cmd._clock, cmd._sleep = clock, sleep
    out = {'argv': [words] + list(argv), 'error': None}
    parse_err = io.StringIO()
    try:
        with contextlib.redirect_stderr(parse_err):
            args = cmd.get_parser('openstack ' + words).parse_args(argv)
        rc = cmd.run(args)
    except SystemExit as e:  # argparse: usage and message on stderr
        rc = e.code
    except exceptions.CommandError as e:  # cliff: one line, exit 1
        rc, out['error'] = 1, str(e)
    except Exception as e:  # noqa: BLE001 - recorded, a user saw a traceback
        rc, out['error'] = 'traceback', '%s: %s' % (type(e).__name__, e)
    out.update(
        rc=rc,
        stdout=app.stdout.getvalue().splitlines(),
        stderr=(parse_err.getvalue() + app.stderr.getvalue()).splitlines(),
        calls=json.loads(json.dumps(compute.calls, default=repr)),
        sleeps=clock.sleeps,
    )
    return out


# ------------------------------------------------------------ server migrate
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
    return run('server migrate', argv, _migrating_cloud(**cloud), tty=tty)


LIVE_WAIT = ['vm1', '--live-migration', '--wait']


@scenario
def migrate_no_wait():
    return _migrate(['vm1', '--live-migration'])


@scenario
def migrate_wait_completed_json():
    return _migrate(LIVE_WAIT)


@scenario
def migrate_wait_completed_tty():
    return _migrate(LIVE_WAIT, tty=True)


@scenario
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


@scenario
def migrate_wait_cancelled_tty():
    return _migrate(
        LIVE_WAIT, tty=True, final_status='cancelled', final_host='compute1'
    )


@scenario
def migrate_wait_timeout():
    return _migrate(LIVE_WAIT + ['--wait-timeout', '3'], steps=50)


@scenario
def migrate_wait_refused_policy():
    return _migrate(
        LIVE_WAIT + ['--policy', 'adaptive'],
        metadata={
            'livemigrate:migration': UUID,
            'livemigrate:action': 'policy-refused',
            'livemigrate:reason': 'adaptive is not allowed here',
        },
    )


@scenario
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
    compute = _migrating_cloud(steps=5)
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
    return run(
        'server migrate', LIVE_WAIT + ['--policy', 'turbo'], compute, tty=tty
    )


@scenario
def migrate_wait_refused_early_json():
    return _refused_early(tty=False)


@scenario
def migrate_wait_refused_early_tty():
    return _refused_early(tty=True)


@scenario
def migrate_wait_detach():
    return _migrate(
        LIVE_WAIT + ['--on-interrupt', 'detach'], interrupt_at=2, steps=5
    )


@scenario
def migrate_wait_abort():
    return _migrate(
        LIVE_WAIT + ['--on-interrupt', 'abort'],
        interrupt_at=2,
        final_status='cancelled',
        final_host='compute1',
    )


@scenario
def migrate_wait_unreachable_once():
    compute = _migrating_cloud()
    compute.errors['get_server'] = ksa_exc.ConnectFailure('reset by peer')
    return run('server migrate', LIVE_WAIT, compute)


@scenario
def migrate_cold_wait():
    compute = fakes.FakeCompute()
    srv = compute.add_server(fakes.server())

    def step():
        srv.status, srv.compute_host = 'VERIFY_RESIZE', 'compute3'

    return run('server migrate', ['vm1', '--wait'], compute, step=step)


@scenario
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

    return run('server migrate', ['vm1', '--wait'], compute, step=step)


@scenario
def migrate_unknown_server():
    return _migrate(['ghost', '--live-migration'])


@scenario
def migrate_host_is_current_host():
    return _migrate(['vm1', '--live-migration', '--host', 'compute1'])


@scenario
def migrate_bad_policy_name():
    return _migrate(['vm1', '--live-migration', '--policy', '../x y'])


@scenario
def migrate_policy_without_live():
    return _migrate(['vm1', '--policy', 'adaptive'])


@scenario
def migrate_wait_timeout_negative():
    return _migrate(LIVE_WAIT + ['--wait-timeout', '-5'])


@scenario
def migrate_wait_timeout_without_wait():
    return _migrate(['vm1', '--live-migration', '--wait-timeout', '30'])


@scenario
def migrate_on_interrupt_without_wait():
    return _migrate(['vm1', '--live-migration', '--on-interrupt', 'abort'])


@scenario
def migrate_poll_interval_without_wait():
    return _migrate(['vm1', '--live-migration', '--poll-interval', '1'])


@scenario
def migrate_format_json_without_wait():
    return _migrate(['vm1', '--live-migration', '-f', 'json'])


# ------------------------------------------------ watch, list, show, actions
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

    return run('server migration watch', argv, compute, tty=tty, step=step)


@scenario
def watch_server_json():
    return _watch(['--server', 'vm1'])


@scenario
def watch_host_tty():
    return _watch(['--host', 'compute1', '--interval', '1'], tty=True)


@scenario
def watch_all_count():
    return _watch(['--count', '2', '-f', 'json'], tty=True)


@scenario
def watch_bad_interval():
    return _watch(['--interval', '0'])


@scenario
def list_in_flight():
    return run('server migration list', [], _busy_cloud())


def _block_migrating_cloud():
    """_busy_cloud, with u1 also copying a 2 GiB disk (a block migration)."""
    compute = _busy_cloud()
    u1 = compute.records[0]
    u1.disk_total_bytes = 2 * 2**30
    u1.disk_processed_bytes = 2**29
    u1.disk_remaining_bytes = 3 * 2**29
    return compute


@scenario
def list_long_block_migration():
    return run('server migration list', ['--long'], _block_migrating_cloud())


@scenario
def list_long_sorted_by_an_added_column():
    return run(
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


@scenario
def show_block_migration():
    return run('server migration show', ['vm1', '1'], _block_migrating_cloud())


@scenario
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
    return run(
        'server migration watch',
        ['--host', 'compute1', '--count', '1', '-f', 'json'],
        compute,
    )


@scenario
def list_json_old_microversion():
    return run('server migration list', ['-f', 'json'], _busy_cloud('2.20'))


@scenario
def show_by_id():
    return run('server migration show', ['vm1', '1'], _busy_cloud())


@scenario
def show_finished():
    compute = _busy_cloud()
    compute.records[-1].server_id = 's-1'
    return run('server migration show', ['vm1', '9'], compute)


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


@scenario
def show_finished_with_final_figures():
    return run('server migration show', ['vm1', '9'], _ended_with_figures())


@scenario
def show_finished_with_shadow_decisions():
    return run(
        'server migration show',
        ['vm1', '9', '-f', 'json'],
        _ended_with_figures(shadows='kubevirt,schedule'),
    )


@scenario
def list_long_final_figures():
    return run(
        'server migration list',
        ['--long', '-f', 'json', '--server', 'vm1'],
        _ended_with_figures(),
    )


@scenario
def show_bad_ref():
    return run('server migration show', ['vm1', 'x1'], _busy_cloud())


@scenario
def abort_in_flight():
    return run('server migration abort', ['vm1', '1'], _busy_cloud())


@scenario
def abort_finished():
    compute = _busy_cloud()
    compute.records[-1].server_id = 's-1'
    compute.errors['abort_server_migration'] = fakes.http_error(409, 'bad')
    return run('server migration abort', ['vm1', '9'], compute)


@scenario
def abort_old_microversion():
    return run('server migration abort', ['vm1', '1'], _busy_cloud('2.23'))


@scenario
def force_complete_hidden_postcopy():
    compute = _busy_cloud()
    compute.records[0].status = 'running (post-copy)'
    del compute.live[('s-1', 1)]
    return run('server migration force complete', ['vm1', '1'], compute)


@scenario
def force_complete_bad_ref():
    return run(
        'server migration force complete', ['vm1', 'nope'], _busy_cloud()
    )


# --------------------------------------------------------------- host drain
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
    return run('compute host drain', argv, compute, step=step)


@scenario
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


@scenario
def drain_real():
    return _drain(
        ['compute1', '--disable', '--retries', '1', '--retry-delay', '3'],
        outcomes={'s-1': ['error', 'completed'], 's-2': ['failed']},
    )


@scenario
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


@scenario
def drain_json_timeout():
    return _drain(
        ['compute1', '--wait-timeout', '3', '-f', 'json'], duration=10
    )


@scenario
def drain_no_service():
    return _drain(['compute9'])


@scenario
def drain_bad_concurrency():
    return _drain(['compute1', '--concurrency', '0'])


@scenario
def drain_dry_run_bad_server_policy():
    return _drain(['compute1', '--dry-run', '--server-policy', 'vm1=../x y'])


@scenario
def drain_bad_policy():
    return _drain(['compute1', '--policy', 'a b'])


@scenario
def drain_negative_wait_timeout():
    return _drain(['compute1', '--wait-timeout', '-5'])


def golden_path(name):
    return os.path.join(GOLDEN, name + '.json')


def dump(record):
    return json.dumps(record, indent=1, sort_keys=True) + '\n'


def main(argv):
    """``--write``: record every scenario into golden/ (see module doc)."""
    if argv != ['--write']:
        raise SystemExit('usage: golden_scenarios --write')
    os.makedirs(GOLDEN, exist_ok=True)
    for name, func in sorted(SCENARIOS.items()):
        with open(golden_path(name), 'w') as f:
            f.write(dump(func()))
    print('wrote %d scenarios to %s' % (len(SCENARIOS), GOLDEN))


if __name__ == '__main__':
    main(sys.argv[1:])
