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
"""What the CLI plugin costs: ``openstack --help`` time and API calls per
refresh.

1. ``openstack --help`` wall time with the plugin installed and uninstalled,
   measured side by side in one run: rounds alternate the two states (ABBA),
   each state gets one unmeasured warm-up run (it also refreshes stevedore's
   entry-point cache) and then ``--runs`` measured runs; medians are compared.
   "Uninstalled" hides the distribution's metadata directory (renamed, then
   restored in ``finally``), so OSC finds none of our entry points, exactly as
   after ``pip uninstall``. The claim: at most 3 % added.
2. API calls per refresh of every command that polls, counted on an
   in-memory SDK proxy that records one call per request the real proxy
   makes, with N in-flight migrations. With ``OS_AUTH_URL`` set (a real
   cloud), the watch scopes are also counted as real HTTP requests through a
   logging handler on keystoneauth's request log.

Run: ``python -m benchmarks.cli_import [--rounds 4] [--runs 5] [--out PATH]``.
Prints a table, writes benchmarks/results/cli.json, exits 1 if a claim fails.
"""

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'benchmarks', 'results', 'cli.json')
MAX_OVERHEAD_PCT = 3.0
IN_FLIGHT = 5


def _openstack_bin():
    beside = os.path.join(os.path.dirname(sys.executable), 'openstack')
    return beside if os.path.exists(beside) else 'openstack'


def _metadata_dir():
    """The metadata directory the ``openstack`` script sees (not one in our
    cwd).
    """
    code = (
        'import importlib.metadata as m\n'
        'print(m.distribution("osc-livemigrate")._path)\n'
    )
    path = subprocess.run(
        [sys.executable, '-c', code], cwd='/', capture_output=True, text=True
    ).stdout.strip()
    if not path or not os.path.isdir(path):
        raise SystemExit(
            'cannot find the installed metadata of osc-livemigrate'
        )
    return path


def _help_seconds(binary, env):
    t0 = time.perf_counter()
    r = subprocess.run(
        [binary, '--help'],
        env=env,
        cwd='/',
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit('openstack --help failed')
    return took, '(osc-livemigrate)' in r.stdout


def measure_help(rounds, runs):
    """Medians of ``openstack --help`` with and without the plugin."""
    binary = _openstack_bin()
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['PYTHONWARNINGS'] = 'ignore'
    meta = _metadata_dir()
    hidden = meta + '.lm-bench-off'
    times = {'with': [], 'without': []}
    try:
        for i in range(rounds):
            order = ('with', 'without') if i % 2 == 0 else ('without', 'with')
            for state in order:
                if state == 'without':
                    os.rename(meta, hidden)
                try:
                    _, loaded = _help_seconds(binary, env)  # warm-up
                    if loaded != (state == 'with'):
                        raise SystemExit(
                            'plugin %s when it should not be'
                            % ('loaded' if loaded else 'missing')
                        )
                    times[state] += [
                        _help_seconds(binary, env)[0] for _ in range(runs)
                    ]
                finally:
                    if state == 'without':
                        os.rename(hidden, meta)
    finally:
        if os.path.isdir(hidden) and not os.path.exists(meta):
            os.rename(hidden, meta)
    with_s, without_s = (
        statistics.median(times['with']),
        statistics.median(times['without']),
    )
    return {
        'runs_per_state': len(times['with']),
        'median_with_s': round(with_s, 4),
        'median_without_s': round(without_s, 4),
        'overhead_pct': round(100.0 * (with_s - without_s) / without_s, 2),
        'samples': {k: [round(x, 4) for x in v] for k, v in times.items()},
    }


def measure_import():
    """Seconds to import every plugin module after OSC's own imports."""
    code = (
        'import time, osc_lib.command.command, osc_lib.cli.parseractions, '
        'cliff.columns\n'
        't = time.perf_counter()\n'
        'import osc_livemigrate.plugin\n'
        'from osc_livemigrate.v1 import server_migrate, server_migration, '
        'watch, drain\n'
        'print(time.perf_counter() - t)\n'
    )
    samples = [
        float(
            subprocess.run(
                [sys.executable, '-c', code],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(7)
    ]
    return round(statistics.median(samples) * 1000, 2)


# ---------------------------------------------------------------- API calls
class CountingCompute:
    """An in-memory compute proxy: N live migrations in flight, one finished.

    It offers the calls the commands make (openstacksdk's names) and records
    one entry per request the real proxy would send.
    """

    default_microversion = '2.95'

    def __init__(self, in_flight):
        self.calls = []
        self.servers_by_id = {}
        self.records = []
        for i in range(1, in_flight + 1):
            sid = 's-%d' % i
            self.servers_by_id[sid] = _Obj(
                id=sid,
                name='vm%d' % i,
                compute_host='compute1',
                status='MIGRATING',
                task_state='migrating',
                metadata={},
            )
            self.records.append(_migration(i, sid, 'running'))
        self.records.append(_migration(99, 's-9', 'completed'))

    def get_endpoint_data(self):
        return _Obj(min_microversion=(2, 1), max_microversion=(2, 95))

    def get_server(self, server_id):
        self.calls.append('get_server')
        return self.servers_by_id[server_id]

    def migrations(self, **query):
        self.calls.append('migrations')
        return iter(
            m
            for m in self.records
            if query.get('instance_uuid') in (None, m.server_id)
            and query.get('host') in (None, m.source_compute, m.dest_compute)
        )

    def server_migrations(self, server_id):
        self.calls.append('server_migrations')
        return iter(
            m
            for m in self.records
            if m.server_id == server_id and m.status == 'running'
        )

    def get_server_migration(self, mid, server_id, ignore_missing=True):
        self.calls.append('get_server_migration')
        for m in self.records:
            if m.id == int(mid) and m.server_id == server_id:
                return m
        return None


class _Obj:
    def __init__(self, **fields):
        self.__dict__.update(fields)


def _migration(mid, server_id, status):
    return _Obj(
        id=mid,
        uuid='u%d' % mid,
        server_id=server_id,
        status=status,
        migration_type='live-migration',
        source_compute='compute1',
        dest_compute='compute2',
        memory_total_bytes=10,
        memory_processed_bytes=1,
        memory_remaining_bytes=9,
        disk_total_bytes=None,
        disk_processed_bytes=None,
        disk_remaining_bytes=None,
    )


class _Stop(Exception):
    pass


def _fake_calls():
    """Calls per refresh of each polling command on the in-memory proxy,
    through the commands and the public waiting module only.
    """
    from osc_livemigrate.follow import waiting
    from osc_livemigrate.plan import drain as drain_plan
    from osc_livemigrate.plan import fleet
    from osc_livemigrate.plan import hosts
    from osc_livemigrate.plan import limits
    from osc_livemigrate.plan import run
    from osc_livemigrate.v1 import server_migration

    def count(fn):
        compute = CountingCompute(IN_FLIGHT)
        fn(compute)
        return len(compute.calls)

    def wait_refresh(compute):
        follower = waiting.Follower(
            compute, compute.servers_by_id['s-1'], 0, True, lambda: 0.0
        )
        follower.refresh()  # the first refresh also finds the record
        del compute.calls[:]
        follower.refresh()

    def list_migrations(compute):
        app = _Obj(
            client_manager=_Obj(compute=compute),
            stdout=sys.stdout,
            stderr=sys.stderr,
        )
        cmd = server_migration.ListMigration(app, None)
        cmd.take_action(cmd.get_parser('list').parse_args([]))

    def drain_poll(compute):
        """Drain servers whose migrations already run: one poll of all."""
        plan = drain_plan.build_plan(list(compute.servers_by_id.values()))

        def stop(seconds):
            raise _Stop

        runner = run.Runner(
            compute,
            limits.Limits(inbound=False),
            {},
            hosts.Hooks(disable=lambda host: None),
            interval_s=1,
            sleep=stop,
        )
        try:
            runner.run([fleet.HostPlan(1, 'compute1', tuple(plan))])
        except _Stop:
            pass

    scope = '%d in flight' % IN_FLIGHT
    return [
        (
            'server migrate --wait (steady refresh)',
            'one server',
            count(wait_refresh),
        ),
        (
            'server migration watch --server',
            'one server',
            count(lambda c: waiting.Poller(c, server_id='s-1').poll(0)),
        ),
        (
            'server migration watch --host',
            scope,
            count(lambda c: waiting.Poller(c, host='compute1').poll(0)),
        ),
        (
            'server migration watch (all)',
            scope,
            count(lambda c: waiting.Poller(c).poll(0)),
        ),
        ('server migration list', scope, count(list_migrations)),
        ('compute host drain (one poll)', scope, count(drain_poll)),
    ]


class _CountRequests(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.n = 0

    def emit(self, record):
        if record.getMessage().startswith('REQ:'):
            self.n += 1


def _real_calls():
    """Real HTTP requests per watch refresh on the cloud named by OS_*
    variables.
    """
    if not os.environ.get('OS_AUTH_URL'):
        return []
    import openstack

    from osc_livemigrate.follow import waiting

    conn = openstack.connect(
        compute_api_version=os.environ.get('OS_COMPUTE_API_VERSION', '2.95')
    )
    compute = conn.compute
    list(
        compute.migrations(limit=1)
    )  # authenticate and discover versions first
    handler = _CountRequests()
    log = logging.getLogger('keystoneauth.session')
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    rows = []
    try:
        for label, poller in (
            (
                'server migration watch --host',
                waiting.Poller(compute, host='compute1'),
            ),
            ('server migration watch (all)', waiting.Poller(compute)),
        ):
            handler.n = 0
            updates = poller.poll(0)
            rows.append(
                (
                    label + ' [real cloud]',
                    '%d in flight' % len(updates),
                    handler.n,
                )
            )
    finally:
        log.removeHandler(handler)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--out', default=OUT)
    args = parser.parse_args(argv)
    help_result = measure_help(args.rounds, args.runs)
    import_ms = measure_import()
    calls = _fake_calls() + _real_calls()
    print(
        'openstack --help, median of %d runs per state (ABBA rounds):'
        % help_result['runs_per_state']
    )
    print(
        '  %-22s %8.3f s'
        % ('plugin uninstalled', help_result['median_without_s'])
    )
    print(
        '  %-22s %8.3f s' % ('plugin installed', help_result['median_with_s'])
    )
    print(
        '  %-22s %+7.2f %%  (limit %.0f %%)'
        % ('added', help_result['overhead_pct'], MAX_OVERHEAD_PCT)
    )
    print('  plugin modules import in %.2f ms after osc_lib' % import_ms)
    print('\n%-45s %-14s %s' % ('command', 'scope', 'API calls per refresh'))
    for name, scope, n in calls:
        print('%-45s %-14s %d' % (name, scope, n))
    ok = help_result['overhead_pct'] <= MAX_OVERHEAD_PCT
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(
            {
                'help': help_result,
                'import_ms': import_ms,
                'max_overhead_pct': MAX_OVERHEAD_PCT,
                'claim_ok': ok,
                'api_calls_per_refresh': [
                    {'command': c, 'scope': s, 'calls': n} for c, s, n in calls
                ],
            },
            f,
            indent=1,
        )
        f.write('\n')
    print(
        '\nwrote %s; claim (<= %.0f %% added): %s'
        % (args.out, MAX_OVERHEAD_PCT, 'PASS' if ok else 'FAIL')
    )
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
