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
"""``compute host drain`` of many hosts on the fake-mode cloud (issue 23).

The module adds four computes, compute3..compute6, to the running cloud
(six nova-compute services in all; ``testbed.cloud.fleet``), each with
``FleetFakeDriver``: a migration lasts ``MIGRATION_S`` (one server
``SLOW_S``), and each host has ``HOST_MEMORY_MB`` of RAM, so that a host
can be full. They are removed when the module ends. What is judged:

- the limits, by an observer process polling nova's migrations once a
  second (``observer.py``), across a SIGKILL of the CLI and its
  ``--resume``, with an anti-affinity group kept and no server moved
  twice (30 servers on three hosts, two waves);
- the capacity stop: one line naming what is short, the host drained
  before it stays drained, the next one untouched;
- an old command line (``--concurrency``, ``--disable``) still drains,
  and a re-run changes nothing (this was the 22-server test of the
  single-host drain; its proof lives on here).

The file sorts after the other CLI modules on purpose: it disables and
enables hosts.
"""

import collections
import json
import signal
import uuid

import pytest

from testbed.cloud import CloudError
from testbed.cloud import fleet as fleet_mod
from tests.functional.osc_livemigrate import cli
from tests.functional.osc_livemigrate import fleet as fl
from tests.functional.osc_livemigrate import observer

MIGRATION_S = 2.0
SLOW_S = 12.0
HOST_MEMORY_MB = 2048
BIG_FLAVOR = ('fleet.1g', 1024)  # name, MiB: two fill a fleet host
#: two hosts of a wave could run 4 at 2 each: 3 makes --max-parallel bind
MAX_PARALLEL, MAX_PER_HOST = 3, 2
PER_HOST = 9  # plain servers per drained host, plus one group member


@pytest.fixture(scope='module')
def fleet(cloud):
    """compute3..compute6 with FleetFakeDriver, for this module only."""
    f = fleet_mod.Fleet(cloud)
    f.settings(
        migration_s={'default': MIGRATION_S},
        inventory={h: {'MEMORY_MB': HOST_MEMORY_MB} for h in f.hosts},
    )
    cloud.openstack(
        'quota',
        'set',
        '--instances',
        '100',
        '--cores',
        '200',
        '--ram',
        '204800',
        'admin',
    )
    name, mib = BIG_FLAVOR
    compute = cloud.connection().compute
    old = compute.find_flavor(name)
    if old is not None:
        compute.delete_flavor(old)
    flavor = compute.create_flavor(name=name, ram=mib, vcpus=1, disk=1)
    try:
        try:
            f.up()
        except CloudError as e:
            pytest.fail('the fleet computes: %s' % e, pytrace=False)
        yield f
    finally:
        compute.delete_flavor(flavor, ignore_missing=True)
        f.down()


def _json(text):
    return json.loads(text or '[]')


def test_three_hosts_in_two_waves_hold_the_limits_and_resume_after_sigkill(
    cloud, fleet, tmp_path
):
    prefix = 'fl-%s' % uuid.uuid4().hex[:6]
    c3, c4, c5, c6 = fleet.hosts
    drained = (c3, c4, c5)
    # the 4th server of compute3 in the plan's order is moving when the
    # CLI is killed, long enough for --resume to find it in flight
    slow = '%s-%s-3' % (prefix, c3)
    fleet.settings(migration_s={'default': MIGRATION_S, slow: SLOW_S})
    compute = cloud.connection().compute
    group = compute.create_server_group(name=prefix, policy='anti-affinity').id
    try:
        for host in drained:
            fl.boot(cloud, '%s-%s' % (prefix, host), host, PER_HOST)
            fl.boot(cloud, '%s-aa-%s' % (prefix, host), host, 1, group=group)
        before = fl.wait_active(cloud, prefix, 3 * (PER_HOST + 1))
        origin = {s.id: s.compute_host for s in before.values()}
        limits = (
            '--hosts-at-once',
            '2',
            '--max-parallel',
            str(MAX_PARALLEL),
            '--max-per-host',
            str(MAX_PER_HOST),
            '--enable-after',
            '--poll-interval',
            '1',
        )

        # the plan: every server, two waves, nothing done
        plan = cloud.openstack(
            *(('compute', 'host', 'drain') + drained + limits)
            + ('--dry-run', '-f', 'json')
        )
        rows = _json(plan.stdout)
        print(plan.stderr + '\n'.join(map(str, rows)))
        assert len(rows) == 30
        assert {r['Action'] for r in rows} == {'migrate'}
        assert {(r['Wave'], r['Host']) for r in rows} == {
            (1, c3),
            (1, c4),
            (2, c5),
        }
        assert not any(fl.live_migrations(cloud, origin).values())

        # the run, SIGKILLed while the slow server moves, then resumed
        watcher, samples = fl.observer(cloud, str(tmp_path))
        report = str(tmp_path / 'drain.json')
        first = fl.drain(
            cloud,
            str(tmp_path),
            'first',
            *(drained + limits + ('--report', report, '-f', 'json')),
        )
        fl.wait_for(
            '%s started in %s (%s)' % (slow, report, first.err_path),
            lambda: (
                fl.report_states(report).get(slow) == 'started'
                or first.proc.poll() is not None
            ),
            300,
        )
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        at_kill = collections.Counter(fl.report_states(report).values())
        resumed = cloud.openstack(
            'compute',
            'host',
            'drain',
            '--resume',
            report,
            '-f',
            'json',
            check=False,
            timeout=900,
        )
        watcher.stop(signal.SIGTERM)
        seen = observer.peaks(observer.read(samples))
        print(
            'SIGKILL with %s; --resume exit %s; its events:\n%s'
            % (dict(at_kill), resumed.returncode, resumed.stderr)
        )
        print(
            'observer: %s; limits: %d in the cloud, %d per host'
            % (seen, MAX_PARALLEL, MAX_PER_HOST)
        )
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert (
            '%s: following the live migration already running' % slow
            in resumed.stderr
        )

        # the limits held at every look, and the per-host one was reached
        assert seen['samples'] >= 10
        assert seen['max_total'] <= MAX_PARALLEL, seen
        assert seen['max_per_host'][0] == MAX_PER_HOST, seen
        assert seen['max_total'] >= 2, seen

        # every server moved once, off the drained hosts, the group apart
        after = fl.servers(cloud, prefix)
        moves = fl.live_migrations(cloud, origin)
        assert {sid: m for sid, m in moves.items() if m != ['completed']} == {}
        assert [
            s.name
            for s in after.values()
            if s.compute_host == origin[s.id] or s.compute_host == c5
        ] == []
        members = [after['%s-aa-%s' % (prefix, h)] for h in drained]
        assert len({s.compute_host for s in members}) == 3, [
            (s.name, s.compute_host) for s in members
        ]
        with open(report) as f:
            record = json.load(f)
        assert {h['host']: h['state'] for h in record['hosts']} == {
            c3: 'enabled',
            c4: 'enabled',
            c5: 'enabled',
        }
        assert {
            s['state'] for h in record['hosts'] for s in h['servers'].values()
        } == {'migrated'}
        assert {fl.service(cloud, h).status for h in drained} == {'enabled'}
    finally:
        fleet.settings(migration_s={'default': MIGRATION_S})
        fl.delete(cloud, prefix)
        compute.delete_server_group(group, ignore_missing=True)


def test_capacity_stop_names_what_is_short_and_leaves_hosts_whole(
    cloud, fleet
):
    prefix = 'fl-%s' % uuid.uuid4().hex[:6]
    c3, c4, c5, c6 = fleet.hosts
    fl.wait_for(
        'no allocation left on %s' % ', '.join(fleet.hosts),
        lambda: not any(fl.memory_used(cloud, h) for h in fleet.hosts),
        120,
    )
    # the cloud's own two computes have 800 GB each: only the fleet's
    # hosts may take servers here
    closed = [
        h for h in cloud.hosts if fl.service(cloud, h).status == 'enabled'
    ]
    fl.set_enabled(cloud, closed, False, 'osc-livemigrate capacity test')
    try:
        # each fleet host holds two: compute3 and compute4 full, one free
        # place on compute5 and on compute6
        for host, count in ((c3, 2), (c4, 2), (c5, 1), (c6, 1)):
            fl.boot(
                cloud, '%s-%s' % (prefix, host), host, count, BIG_FLAVOR[0]
            )
        before = fl.wait_active(cloud, prefix, 6)
        on_c4 = sorted(s.id for s in before.values() if s.compute_host == c4)
        r = cloud.openstack(
            'compute',
            'host',
            'drain',
            c3,
            c4,
            '--max-per-host',
            '2',
            '--poll-interval',
            '1',
            '-f',
            'json',
            check=False,
        )
        stops = [
            e for e in cli.json_lines(r.stderr) if e.get('type') == 'stop'
        ]
        print('exit %s; stop: %s' % (r.returncode, stops))
        assert r.returncode == 1, r.stderr
        assert len(stops) == 1, r.stderr
        line = stops[0]['message']
        assert line.startswith(
            'Stopping before host %s: capacity short for host %s: its 2 '
            'servers need 2 DISK_GB, 2048 MEMORY_MB, 2 VCPU' % (c4, c4)
        ), line
        assert 'the most any host has free is 0 MEMORY_MB' in line, line
        rows = _json(r.stdout)
        assert sorted((row['Host'], row['Result']) for row in rows) == [
            (c3, 'migrated'),
            (c3, 'migrated'),
        ]
        after = fl.servers(cloud, prefix)
        assert sorted(
            s.compute_host for s in after.values() if s.id not in on_c4
        ) == sorted([c5, c5, c6, c6])
        # compute3 drained and disabled; compute4 untouched and enabled
        assert fl.service(cloud, c3).status == 'disabled'
        assert fl.service(cloud, c4).status == 'enabled'
        assert (
            sorted(s.id for s in after.values() if s.compute_host == c4)
            == on_c4
        )
        assert {after[n].status for n in after} == {'ACTIVE'}
        assert fl.live_migrations(cloud, on_c4) == {s: [] for s in on_c4}
    finally:
        fl.delete(cloud, prefix)
        fl.set_enabled(cloud, closed + [c3], True)


def test_old_command_line_still_drains_and_a_rerun_changes_nothing(
    cloud, fleet
):
    """The proof of the former 22-server drain test of one host, kept:
    ``--concurrency`` and ``--disable`` still work (with a warning), the
    scheduler chooses destinations, the host is left disabled with the
    reason given, and a re-run finds nothing to do and changes nothing.
    """
    prefix = 'fl-%s' % uuid.uuid4().hex[:6]
    src = fleet.hosts[-1]
    reason = 'osc-livemigrate drain test'
    args = (
        'compute',
        'host',
        'drain',
        src,
        '--concurrency',
        '4',
        '--disable',
        '--disable-reason',
        reason,
        '--poll-interval',
        '1',
        '-f',
        'json',
    )
    try:
        fl.boot(cloud, prefix, src, 8)
        ids = sorted(s.id for s in fl.wait_active(cloud, prefix, 8).values())
        r = cloud.openstack(*args, check=False, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        assert 'WARNING: --concurrency is deprecated' in r.stderr
        assert 'WARNING: --disable is deprecated' in r.stderr
        rows = _json(r.stdout)
        after = fl.servers(cloud, prefix)
        assert len(rows) == 8
        assert {row['Result'] for row in rows} == {'migrated'}
        assert {row['Destination'] for row in rows} == {
            s.compute_host for s in after.values()
        }
        assert src not in {s.compute_host for s in after.values()}
        assert all(row['Duration'] > 0 for row in rows)
        svc = fl.service(cloud, src)
        assert (svc.status, svc.disabled_reason) == ('disabled', reason)
        moves = fl.live_migrations(cloud, ids)
        assert moves == {s: ['completed'] for s in ids}

        again = cloud.openstack(*args)
        assert _json(again.stdout) == []
        assert 'already disabled' in again.stderr
        assert fl.live_migrations(cloud, ids) == moves
    finally:
        fl.set_enabled(cloud, [src], True)
        fl.delete(cloud, prefix)
