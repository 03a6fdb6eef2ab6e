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
"""A fake cloud in which live migrations take given times on a fake clock.

:class:`SimNova` sits behind ``fakes.FakeCompute``: a live-migrate request
creates a migration record (to the host asked for, or the scheduler's
choice: the enabled host with the fewest migrations touching it), which
ends ``duration`` seconds later. Its :class:`Observer` counts, at every
instant something changes, every migration in flight (from the records,
as an observer polling nova would), and keeps the peaks.
"""

import collections

from osc_livemigrate.follow import progress
from tests.unit.osc_livemigrate import fakes


class Observer:
    """Peaks of in-flight migrations: in the cloud, per host (out + in)."""

    def __init__(self, records):
        self.records = records
        self.max_total = 0
        self.max_per_host = 0
        self.samples = 0

    def look(self):
        flying = [m for m in self.records if m.status in progress.IN_FLIGHT]
        per_host = collections.Counter()
        for m in flying:
            per_host[m.source_compute] += 1
            if m.dest_compute:
                per_host[m.dest_compute] += 1
        self.samples += 1
        self.max_total = max(self.max_total, len(flying))
        self.max_per_host = max([self.max_per_host] + list(per_host.values()))


class SimCompute(fakes.FakeCompute):
    """FakeCompute plus what a drain reads: hypervisors, server groups,
    aggregates, enabling a service.
    """

    def __init__(self):
        super().__init__()
        self.groups = []
        self.aggregates = {}

    def hypervisors(self, details=False):
        self._call('hypervisors')
        return iter(
            [
                fakes.Obj(name=s.host, service_details={'host': s.host})
                for s in self.services_list
            ]
        )

    def server_groups(self, all_projects=False, **query):
        self._call('server_groups')
        return iter(self.groups)

    def find_aggregate(self, name, ignore_missing=True):
        self._call('find_aggregate', name)
        if name in self.aggregates:
            return fakes.Obj(name=name, hosts=self.aggregates[name])
        from openstack import exceptions as sdk_exc

        raise sdk_exc.ResourceNotFound('aggregate %s' % name)

    def enable_service(self, service, host=None, binary=None):
        self._call('enable_service', host, binary)
        service.status, service.disabled_reason = 'enabled', None
        return service


class FakePlacement:
    """Providers named after the hosts; every server takes ``per_server``
    VCPU of a host with ``vcpu`` VCPU.
    """

    def __init__(self, compute, vcpu=64, per_server=1):
        self.compute, self.vcpu, self.per_server = compute, vcpu, per_server
        self.calls = []

    def _on(self, host):
        return [
            s.id
            for s in self.compute.servers_by_id.values()
            if s.compute_host == host
        ]

    def resource_providers(self, name=None):
        self.calls.append(('resource_providers', name))
        return iter([fakes.Obj(id='rp-' + name, name=name)])

    def resource_provider_inventories(self, rp):
        self.calls.append(('resource_provider_inventories', rp.name))
        return iter(
            [
                fakes.Obj(
                    resource_class='VCPU',
                    total=self.vcpu,
                    reserved=0,
                    allocation_ratio=1.0,
                )
            ]
        )

    def fetch_resource_provider_usages(self, rp):
        self.calls.append(('fetch_resource_provider_usages', rp.name))
        return fakes.Obj(
            usages={'VCPU': self.per_server * len(self._on(rp.name))}
        )

    def resource_provider_allocations(self, rp):
        self.calls.append(('resource_provider_allocations', rp.name))
        return iter(
            [
                fakes.Obj(consumer_id=s, resources={'VCPU': self.per_server})
                for s in self._on(rp.name)
            ]
        )


class SimNova:
    """Servers on hosts; migrations lasting ``durations[server]`` seconds.

    :param hosts: host names with a nova-compute service each.
    :param servers: ``{host: n}`` servers to create on each host.
    :param outcomes: ``{server ID: [status per attempt]}``, default
        completed.
    """

    def __init__(self, hosts, servers, duration=5.0, outcomes=None):
        self.compute = SimCompute()
        self.placement = FakePlacement(self.compute)
        self.clock = fakes.FakeClock()
        self.duration = duration
        self.durations = {}
        self.outcomes = dict(outcomes or {})
        self.ends = {}  # server ID -> (end time, record)
        self.next_id = 100
        self.compute.services_list = [
            fakes.Obj(
                id='svc-' + h,
                host=h,
                binary='nova-compute',
                status='enabled',
                disabled_reason=None,
                availability_zone='nova',
            )
            for h in hosts
        ]
        for host, n in servers.items():
            for i in range(n):
                sid = '%s-s%02d' % (host, i)
                self.compute.add_server(fakes.server(sid, 'vm-' + sid, host))
        self.compute.on_live_migrate = self.start
        self.observer = Observer(self.compute.records)
        self.starts = collections.Counter()

    def enabled(self):
        return [
            s.host for s in self.compute.services_list if s.status == 'enabled'
        ]

    def foreign(self, source, dest, until):
        """A migration nova runs that the drain did not start."""
        self.next_id += 1
        rec = fakes.migration(
            mid=self.next_id,
            uuid='f%d' % self.next_id,
            server_id='foreign-%d' % self.next_id,
            source=source,
            dest=dest,
        )
        self.compute.records.append(rec)
        self.ends[rec.server_id] = (until, rec)

    def start(self, sid):
        kwargs = self.compute.calls[-1][2]
        srv = self.compute.servers_by_id[sid]
        dest = kwargs.get('host') or self._schedule(srv.compute_host)
        self.next_id += 1
        rec = fakes.migration(
            mid=self.next_id,
            uuid='m%d' % self.next_id,
            server_id=sid,
            source=srv.compute_host,
            dest=dest,
            started_at=self.clock.now,
        )
        srv.status, srv.task_state = 'MIGRATING', 'migrating'
        self.compute.records.append(rec)
        # the per-server view nova gives of a migration in flight (bytes)
        self.compute.live[(sid, rec.id)] = fakes.migration(
            mid=rec.id, server_id=sid, memory_remaining_bytes=1 << 30
        )
        self.ends[sid] = (
            self.clock.now + self.durations.get(sid, self.duration),
            rec,
        )
        self.starts[sid] += 1
        self.observer.look()

    def _schedule(self, source):
        busy = collections.Counter()
        for m in self.compute.records:
            if m.status in progress.IN_FLIGHT:
                busy[m.source_compute] += 1
                busy[m.dest_compute] += 1
        choices = [h for h in self.enabled() if h != source]
        return min(choices, key=lambda h: (busy[h], h))

    def sleep(self, seconds):
        self.clock.sleep(seconds)
        for sid, (end, rec) in sorted(self.ends.items()):
            if end > self.clock.now:
                continue
            del self.ends[sid]
            self.compute.live.pop((sid, rec.id), None)
            statuses = self.outcomes.get(sid) or ['completed']
            rec.status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            srv = self.compute.servers_by_id.get(sid)
            if srv is not None:
                srv.status, srv.task_state = 'ACTIVE', None
                if rec.status == 'completed':
                    srv.compute_host = rec.dest_compute
            self.observer.look()

    def on(self, host):
        return sorted(
            s.id
            for s in self.compute.servers_by_id.values()
            if s.compute_host == host
        )
