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
"""plan.run: a whole drain on a fake clock; the limits held at every instant.

The observer counts from nova's records at every start and every end, so a
limit broken for one instant between two polls would show.
"""

import unittest

from osc_livemigrate.plan import capacity as cap
from osc_livemigrate.plan import drain as dp
from osc_livemigrate.plan import fleet
from osc_livemigrate.plan import hosts as hs
from osc_livemigrate.plan import limits as lim
from osc_livemigrate.plan import report as rp
from osc_livemigrate.plan import run
from tests.unit.osc_livemigrate.plan import sim

HOSTS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']


def ledger(nova, vcpu=16, per_server=1, groups=()):
    hosts = [
        cap.Host(
            h,
            {'VCPU': {'total': vcpu}},
            {'VCPU': per_server * len(nova.on(h))},
        )
        for h in HOSTS
    ]
    apart = cap.anti_affinity(groups)
    needs = {
        s: cap.Need(
            s, 'vm-' + s, {'VCPU': per_server}, apart.get(s, frozenset())
        )
        for s in nova.compute.servers_by_id
    }
    where = {s.id: s.compute_host for s in nova.compute.servers_by_id.values()}
    return cap.Ledger(hosts, needs, where)


class _Drain(unittest.TestCase):
    def setUp(self):
        self.nova = sim.SimNova(HOSTS, {h: 5 for h in HOSTS})
        self.events = []
        self.say = []

    def hooks(self, enable=True, wait_ok=True):
        def disable(host):
            self.events.append(('disable', host, self.nova.clock.now))
            for s in self.nova.compute.services_list:
                if s.host == host:
                    s.status = 'disabled'

        def enable_(host):
            self.events.append(('enable', host, self.nova.clock.now))

        def wait_for(host):
            self.events.append(('wait-for', host, self.nova.clock.now))
            return wait_ok, 'exited 3' if not wait_ok else ''

        def plan(host):
            servers = [
                self.nova.compute.servers_by_id[s] for s in self.nova.on(host)
            ]
            return dp.build_plan(servers)

        return hs.Hooks(
            disable=disable,
            enable=enable_ if enable else None,
            wait_for=wait_for,
            plan=plan,
        )

    def drain(
        self,
        hosts,
        limits,
        at_once=1,
        led=None,
        hooks=None,
        record=None,
        plans=None,
        **kw,
    ):
        if plans is None:
            plans = []
            for wave, group in enumerate(fleet.waves(hosts, at_once), 1):
                for h in group:
                    servers = [
                        self.nova.compute.servers_by_id[s]
                        for s in self.nova.on(h)
                    ]
                    plans.append(
                        fleet.HostPlan(wave, h, tuple(dp.build_plan(servers)))
                    )
        runner = run.Runner(
            self.nova.compute,
            limits,
            {'block_migration': 'auto', 'host': None},
            hooks or self.hooks(),
            ledger=led,
            record=record,
            interval_s=1.0,
            clock=self.nova.clock,
            sleep=self.nova.sleep,
            say=lambda text, kind='notice', **f: self.say.append(text),
            **kw,
        )
        return runner.run(plans)


class TestLimitsHeld(_Drain):
    def test_global_and_per_host_limits_with_foreign_migrations(self):
        # nova already runs two migrations the drain did not start
        self.nova.foreign('c5', 'c6', until=1030)
        self.nova.foreign('c6', 'c4', until=1012)
        for i, sid in enumerate(sorted(self.nova.compute.servers_by_id)):
            self.nova.durations[sid] = 3 + (i * 7) % 11
        limits = lim.Limits(max_parallel=4, max_per_host=2)
        result = self.drain(
            ['c1', 'c2', 'c3'],
            limits,
            at_once=2,
            led=ledger(self.nova),
            hooks=self.hooks(enable=False),
        )
        for h in ('c1', 'c2', 'c3'):
            self.assertEqual([], self.nova.on(h))
        self.assertEqual(
            {dp.MIGRATED},
            {r.result for hr in result for r in hr.results.values()},
        )
        obs = self.nova.observer
        self.assertLessEqual(obs.max_total, 4)
        self.assertLessEqual(obs.max_per_host, 2)
        # the limits were reached, so the test could have failed
        self.assertEqual(4, obs.max_total)
        self.assertEqual(2, obs.max_per_host)
        self.assertEqual(1, max(self.nova.starts.values()))

    def test_limit_broken_without_inbound_counting(self):
        """The same drain counting only outbound overloads a destination:
        the observer can see a broken limit.
        """
        limits = lim.Limits(max_parallel=None, max_per_host=3, inbound=False)
        self.nova._schedule = lambda source: 'c6'
        self.drain(['c1', 'c2'], limits, at_once=2)
        self.assertGreater(self.nova.observer.max_per_host, 3)

    def test_legacy_concurrency_outbound_only(self):
        limits = lim.Limits(max_per_host=2, inbound=False)
        self.drain(['c1'], limits)
        self.assertEqual(2, self.nova.observer.max_total)
        starts = [
            c for c in self.nova.compute.calls if c[0] == 'live_migrate_server'
        ]
        self.assertEqual({None}, {c[2]['host'] for c in starts})


class TestWavesAndHosts(_Drain):
    def test_disabled_before_first_migration_enabled_after_wait_for(self):
        self.drain(
            ['c1', 'c2'], lim.Limits(max_per_host=2), led=ledger(self.nova)
        )
        names = [e[:2] for e in self.events]
        self.assertEqual(
            [
                ('disable', 'c1'),
                ('wait-for', 'c1'),
                ('enable', 'c1'),
                ('disable', 'c2'),
                ('wait-for', 'c2'),
                ('enable', 'c2'),
            ],
            names,
        )
        first = min(
            i
            for i, c in enumerate(self.nova.compute.calls)
            if c[0] == 'live_migrate_server'
        )
        self.assertTrue(first > 0)
        # nothing went to a drained host before it was enabled again
        enabled = {e[1]: e[2] for e in self.events if e[0] == 'enable'}
        for m in self.nova.compute.records:
            if m.dest_compute in enabled:
                self.assertGreaterEqual(m.started_at, enabled[m.dest_compute])
        self.assertIn(
            'c1', {m.dest_compute for m in self.nova.compute.records}
        )

    def test_rolling_patch_of_every_host_in_a_zone(self):
        # all six hosts drained, one at a time, each enabled again: every
        # server finds room on a host patched before it or not yet drained
        result = self.drain(
            HOSTS, lim.Limits(max_per_host=2), led=ledger(self.nova, vcpu=8)
        )
        self.assertEqual([rp.ENABLED] * 6, [hr.state for hr in result])
        self.assertEqual([], self.nova.on('c6'))

    def test_wait_for_failing_keeps_host_disabled(self):
        result = self.drain(
            ['c1'],
            lim.Limits(max_per_host=2),
            led=ledger(self.nova),
            hooks=self.hooks(wait_ok=False),
        )
        self.assertNotIn('enable', [e[0] for e in self.events])
        self.assertEqual(rp.DRAINED, result[0].state)
        self.assertIn('--wait-for exited 3', result[0].stop)

    def test_failed_server_keeps_host_disabled(self):
        self.nova.outcomes = {'c1-s00': ['cancelled']}
        result = self.drain(
            ['c1'], lim.Limits(max_per_host=2), led=ledger(self.nova)
        )
        self.assertEqual(rp.DISABLED, result[0].state)
        self.assertEqual(1, result[0].count(dp.FAILED))
        self.assertNotIn('enable', [e[0] for e in self.events])


class TestCapacityStop(_Drain):
    def test_stops_before_the_host_that_does_not_fit(self):
        # 6 hosts x 7 VCPU, 5 used each: c4..c6 stay, 6 VCPU free; c1's
        # 5 servers fit there, c2's 5 find 1 there and 2 on c3 (drained
        # later, a last resort)
        led = ledger(self.nova, vcpu=7)
        result = self.drain(
            ['c1', 'c2', 'c3'],
            lim.Limits(max_per_host=2),
            led=led,
            hooks=self.hooks(enable=False),
        )
        self.assertEqual(rp.DRAINED, result[0].state)
        self.assertEqual(rp.STOPPED, result[1].state)
        self.assertEqual(rp.STOPPED, result[2].state)
        self.assertRegex(
            result[1].stop,
            r'^capacity short for host c2: its 5 servers need 5 VCPU, the 4 '
            r'hosts left have 3 VCPU free; server vm-c2-s0\d needs 1 VCPU',
        )
        self.assertEqual(5, len(self.nova.on('c2')))
        self.assertNotIn(('disable', 'c2'), [e[:2] for e in self.events])
        self.assertTrue(any('Stopping before host c2' in s for s in self.say))

    def test_anti_affinity_group_kept(self):
        # members on c1..c5: the one leaving c1 has only c6 to go to
        group = ['c%d-s00' % i for i in range(1, 6)]
        led = ledger(self.nova, groups=[('anti-affinity', group)])
        self.drain(['c1'], lim.Limits(max_per_host=2), led=led)
        homes = [
            self.nova.compute.servers_by_id[s].compute_host for s in group
        ]
        self.assertEqual(len(homes), len(set(homes)))
        self.assertEqual('c6', homes[0])


class TestProgress(_Drain):
    def test_bytes_left_of_our_moves_read_per_poll(self):
        seen = []
        hooks = self.hooks()
        hooks = hs.Hooks(
            hooks.disable,
            progress=lambda r: seen.append(sum(r.nova_bytes.values())),
        )
        self.drain(
            ['c1'],
            lim.Limits(max_per_host=2),
            led=ledger(self.nova),
            hooks=hooks,
            bytes_ok=True,
        )
        self.assertEqual(2 << 30, max(seen))
        self.assertEqual(0, seen[-1])


class TestNoRoom(_Drain):
    def test_server_without_room_fails_instead_of_waiting_for_ever(self):
        led = ledger(self.nova)
        hooks = self.hooks()

        def disable(host):
            # the room the check saw is gone once the host is disabled
            # (other boots took it): two of c1's five servers fit
            hooks.disable(host)
            for h in ('c3', 'c4', 'c5', 'c6'):
                led.free[h]['VCPU'] = 0
            led.free['c2']['VCPU'] = 2
            led.paper.clear()

        result = self.drain(
            ['c1'],
            lim.Limits(max_per_host=1),
            led=led,
            hooks=hs.Hooks(disable=disable),
        )
        self.assertEqual(2, result[0].count(dp.MIGRATED))
        self.assertEqual(3, result[0].count(dp.FAILED))
        reasons = {r.reason for r in result[0].results.values()}
        self.assertIn('no enabled host has room for it (placement)', reasons)

    def test_inbound_limit_needs_a_ledger(self):
        with self.assertRaises(ValueError):
            run.Runner(self.nova.compute, lim.Limits(max_per_host=1), {}, None)


class TestReportAndResume(_Drain):
    def test_record_follows_the_run(self):
        plans_hosts = [('c1', [(s, 'vm-' + s) for s in self.nova.on('c1')])]
        record = rp.new(plans_hosts, 't0')
        saves = []
        hooks = self.hooks()
        hooks = hs.Hooks(
            hooks.disable,
            hooks.enable,
            hooks.wait_for,
            save=lambda: saves.append(rp.hosts_left(record)),
        )
        self.drain(
            ['c1'],
            lim.Limits(max_per_host=2),
            led=ledger(self.nova),
            hooks=hooks,
            record=record,
        )
        entry = rp.host_entry(record, 'c1')
        self.assertEqual(rp.ENABLED, entry['state'])
        self.assertEqual(
            {'migrated'}, {s['state'] for s in entry['servers'].values()}
        )
        self.assertTrue(saves)

    def test_in_flight_followed_not_started_again(self):
        # an earlier run started c1-s00 and died; nova still moves it
        srv = self.nova.compute.servers_by_id['c1-s00']
        self.nova.compute.calls.append(
            ('live_migrate_server', 'c1-s00', {'host': 'c4'})
        )
        self.nova.start('c1-s00')
        servers = [
            self.nova.compute.servers_by_id[s] for s in self.nova.on('c1')
        ]
        plan = dp.build_plan(servers)
        self.assertEqual(dp.FOLLOW, plan[0].action)
        self.drain(
            ['c1'],
            lim.Limits(max_per_host=2),
            led=ledger(self.nova),
            plans=[fleet.HostPlan(1, 'c1', tuple(plan))],
        )
        self.assertEqual(1, self.nova.starts['c1-s00'])
        self.assertEqual('c4', srv.compute_host)
        self.assertEqual([], self.nova.on('c1'))

    def test_resumed_report_says_migrated_for_moves_done_before_it(self):
        # the killed run recorded 'started'; the move ended before the
        # resume, so its plan holds the server as done
        record = rp.new([('c1', [('gone', 'vm-gone')])], 't0')
        rp.set_server(record, 'c1', 'gone', rp.STARTED, name='vm-gone')
        done = dp.Item('gone', 'vm-gone', dp.DONE, None, 'moved before')
        hooks = self.hooks()
        hosts = self.drain(
            ['c1'],
            lim.Limits(max_per_host=2),
            led=ledger(self.nova),
            hooks=hs.Hooks(
                hooks.disable, hooks.enable, plan=lambda host: [done]
            ),
            record=record,
            plans=[fleet.HostPlan(1, 'c1', (done,))],
        )
        self.assertEqual(dp.MIGRATED, hosts[0].results['gone'].result)
        self.assertEqual(
            'migrated', rp.host_entry(record, 'c1')['servers']['gone']['state']
        )
