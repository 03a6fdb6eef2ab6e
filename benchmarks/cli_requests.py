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
"""Requests and rows per refresh do not grow with the migration history.

The claim (issue 12): each refresh of ``server migration watch --host`` (and
of the whole-cloud scope) and each check of ``compute host drain`` costs
requests and rows in proportion to the migrations in flight, not to the
cloud's migration history. Measured on an in-memory compute proxy that
answers as nova 2.95 does (one ``status`` per /os-migrations request, newest
first and ``limit`` honoured) and counts one request per call and one row per
migration record it sends back, through the plugin's public classes only:
:class:`osc_livemigrate.follow.waiting.Poller` and
:class:`osc_livemigrate.plan.run.Runner`. Each scope is measured with no
finished migration and with 1,000 (on the drained host, of the drained
servers); the figures must be equal.

Run: ``python -m benchmarks.cli_requests [--history 1000] [--in-flight 5]
[--out PATH]``. Prints a table, writes benchmarks/results/cli_requests.json,
exits 1 if a figure differs.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'benchmarks', 'results', 'cli_requests.json')
HOST = 'compute1'


class _Obj:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class InMemoryCompute:
    """A compute proxy with nova's filters; counts requests and rows.

    :param in_flight: servers on HOST, each with one live migration running.
    :param history: finished live migrations, spread over those servers.
    :param finished: whether the in-flight ones have just completed (the
        check a drain makes once a server looks idle).
    """

    default_microversion = '2.95'

    def __init__(self, in_flight, history, finished=False):
        self.requests = 0
        self.rows = 0
        self.servers_by_id = {}
        self.records = []
        for i in range(history):
            self.records.append(
                _migration(i + 1, 's-%d' % (i % in_flight + 1), 'completed')
            )
        for i in range(1, in_flight + 1):
            sid = 's-%d' % i
            self.servers_by_id[sid] = _Obj(
                id=sid,
                name='vm%d' % i,
                compute_host='compute2' if finished else HOST,
                status='ACTIVE' if finished else 'MIGRATING',
                task_state=None if finished else 'migrating',
                metadata={},
            )
            self.records.append(
                _migration(
                    history + i, sid, 'completed' if finished else 'running'
                )
            )

    def get_endpoint_data(self):
        return _Obj(min_microversion=(2, 1), max_microversion=(2, 95))

    def get_server(self, server_id):
        self.requests += 1
        return self.servers_by_id[server_id]

    def migrations(self, **query):
        self.requests += 1
        out = [
            m
            for m in self.records
            if query.get('instance_uuid') in (None, m.server_id)
            and query.get('host') in (None, m.source_compute, m.dest_compute)
            and query.get('status') in (None, m.status)
            and query.get('migration_type') in (None, m.migration_type)
        ]
        out.sort(key=lambda m: m.id, reverse=True)  # nova: newest first
        if query.get('limit'):
            out = out[: query['limit']]
        self.rows += len(out)
        return iter(out)

    def server_migrations(self, server_id):
        self.requests += 1
        out = [
            m
            for m in self.records
            if m.server_id == server_id and m.status == 'running'
        ]
        self.rows += len(out)
        return iter(out)

    def get_server_migration(self, mid, server_id, ignore_missing=True):
        self.requests += 1
        for m in self.records:
            if m.id == int(mid) and m.server_id == server_id:
                self.rows += 1
                return m
        return None


def _migration(mid, server_id, status):
    return _Obj(
        id=mid,
        uuid='u%d' % mid,
        server_id=server_id,
        status=status,
        migration_type='live-migration',
        source_compute=HOST,
        dest_compute='compute2',
        memory_total_bytes=10,
        memory_processed_bytes=1,
        memory_remaining_bytes=9,
        disk_total_bytes=None,
        disk_processed_bytes=None,
        disk_remaining_bytes=None,
    )


def _watch(compute, host):
    from osc_livemigrate.follow import waiting

    waiting.Poller(compute, host=host).poll(0.0)


def _drain_check(compute):
    """One check of every server a drain follows, once they look idle."""
    from osc_livemigrate.plan import drain as drain_plan
    from osc_livemigrate.plan import fleet
    from osc_livemigrate.plan import hosts
    from osc_livemigrate.plan import limits
    from osc_livemigrate.plan import run

    items = tuple(
        drain_plan.Item(s.id, s.name, drain_plan.FOLLOW)
        for s in compute.servers_by_id.values()
    )
    runner = run.Runner(
        compute,
        limits.Limits(inbound=False),
        {},
        hosts.Hooks(disable=lambda host: None),
        interval_s=1,
        sleep=lambda s: None,
    )
    [done] = runner.run([fleet.HostPlan(1, HOST, items)])
    if any(r.result != drain_plan.MIGRATED for r in done.results.values()):
        raise SystemExit('the drain did not see its servers migrated')


def measure(in_flight, history):
    """``[(scope, {history: (requests, rows)})]`` for 0 and ``history``."""
    scopes = (
        ('server migration watch --host (one refresh)', False, _watch, HOST),
        ('server migration watch (all, one refresh)', False, _watch, None),
        ('compute host drain (one check of each)', True, _drain_check, None),
    )
    out = []
    for label, finished, fn, host in scopes:
        figures = {}
        for n in (0, history):
            compute = InMemoryCompute(in_flight, n, finished)
            if fn is _watch:
                fn(compute, host)
            else:
                fn(compute)
            figures[n] = (compute.requests, compute.rows)
        out.append((label, figures))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--history', type=int, default=1000)
    parser.add_argument('--in-flight', type=int, default=5)
    parser.add_argument('--out', default=OUT)
    args = parser.parse_args(argv)
    results = measure(args.in_flight, args.history)
    print(
        '%-46s %22s %22s'
        % (
            '%d in flight' % args.in_flight,
            'no history',
            '%d finished' % args.history,
        )
    )
    ok = True
    for label, figures in results:
        none, many = figures[0], figures[args.history]
        ok = ok and none == many
        print(
            '%-46s %10d req %5d rows %10d req %5d rows'
            % ((label,) + none + many)
        )
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(
            {
                'in_flight': args.in_flight,
                'history': args.history,
                'claim_ok': ok,
                'per_refresh': [
                    {
                        'scope': label,
                        'no_history': dict(zip(('requests', 'rows'), f[0])),
                        'with_history': dict(
                            zip(('requests', 'rows'), f[args.history])
                        ),
                    }
                    for label, f in results
                ],
            },
            f,
            indent=1,
        )
        f.write('\n')
    print(
        '\nwrote %s; claim (equal with and without history): %s'
        % (args.out, 'PASS' if ok else 'FAIL')
    )
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
