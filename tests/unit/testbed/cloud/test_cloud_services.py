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
"""The service table, and how up, status and down read it.

The supervisor runs here against a recording process table and scripted
probes; the real services start in tests/functional/cloud/test_cloud.py.
"""

import socket

import pytest

from testbed.cloud import layout as lay
from testbed.cloud.procs import CloudError
from testbed.cloud import services as svc
from testbed.cloud import supervise

FAKE_NAMES = [
    'epmd',
    'mariadb',
    'rabbitmq',
    'keystone',
    'placement',
    'glance',
    'neutron',
    'nova-api',
    'nova-conductor',
    'nova-scheduler',
    'nova-compute-compute1',
    'nova-compute-compute2',
]


def _layout(tmp_path, mode='fake', **ports):
    return lay.Layout.from_env(
        mode=mode,
        base=str(tmp_path),
        environ={
            lay.PORTS_ENV: ','.join('%s=%d' % kv for kv in ports.items())
        },
    )


class _Probes:
    """Answers what the table asks, by probe kind and argument."""

    def __init__(self, down=()):
        self.asked = []
        self.down = set(down)

    def _answer(self, kind, arg, host=None):
        self.asked.append((kind, arg) + ((host,) if host else ()))
        return 'no %s' % (host or arg) if (host or arg) in self.down else None

    def tcp(self, port):
        return self._answer('tcp', port)

    def mysql(self, port):
        return self._answer('mysql', port)

    def amqp(self, port):
        return self._answer('amqp', port)

    def http(self, service):
        return self._answer('http', service)

    def nova_service(self, binary, host=None):
        return self._answer('nova', binary, host)

    def hypervisor(self, host):
        return self._answer('hypervisor', host)


class _Table:
    """A process table that records stops; ``running`` names have pids."""

    def __init__(self, running=(), leftovers=()):
        self.running = {n: 100 + i for i, n in enumerate(running)}
        self.leftovers = list(leftovers)
        self.stops = []

    def pid(self, name):
        return self.running.get(name)

    def stop_many(self, names, timeout):
        self.stops.append((list(names), timeout))
        return [n for n in names if n in self.running]

    def load(self):
        return {n: {} for n in self.leftovers}

    def kill_marked(self):
        return [4242]


def test_table_lists_every_service_once_in_status_order(tmp_path):
    lo = _layout(tmp_path)
    rows = svc.table(lo)
    assert [s.name for s in rows] == FAKE_NAMES == svc.names(lo)
    for s in rows:
        assert s.starts in svc.START_STEPS, s
        assert s.stops in dict(svc.STOP_STAGES), s
        assert s.port is None or s.port in lo.ports, s
    # start steps come in table order: the table is the start order
    steps = [svc.START_STEPS.index(s.starts) for s in rows]
    assert steps == sorted(steps)


def test_libvirt_mode_names_its_computes_after_the_pair(tmp_path):
    lo = _layout(tmp_path, mode='libvirt')
    computes = [s for s in svc.table(lo) if s.starts == 'computes']
    assert [s.name for s in computes] == [
        'nova-compute-lmcA',
        'nova-compute-lmcB',
    ]
    assert {s.timeout for s in computes} == {240}


def test_up_waits_for_the_service_record_status_also_for_the_hypervisor(
    tmp_path,
):
    (compute,) = [
        s
        for s in svc.table(_layout(tmp_path))
        if s.name == 'nova-compute-compute1'
    ]
    p = _Probes()
    compute.probe(p)
    compute.status_probe(p)
    assert p.asked == [
        ('nova', 'nova-compute', 'compute1'),
        ('hypervisor', 'compute1'),
    ]


def test_launches_use_the_layout(tmp_path):
    lo = _layout(tmp_path)
    by_name = {s.name: s for s in svc.table(lo)}
    rabbit = by_name['rabbitmq'].launch(lo, None)
    assert rabbit.cwd == lo.path('state', 'rabbitmq')
    assert rabbit.env['RABBITMQ_NODE_PORT'] == str(lo.ports['rabbitmq'])
    conductor = by_name['nova-conductor'].launch(lo, None)
    assert conductor.argv == [
        lo.venv_bin('main', 'nova-conductor'),
        '--config-file',
        lo.path('etc', 'nova', 'nova.conf'),
        '--config-file',
        lo.path('etc', 'nova', 'nova-db.conf'),
        '--log-file',
        lo.log('nova-conductor'),
    ]
    # computes never see the database options
    compute = by_name['nova-compute-compute2'].launch(lo, None).argv
    assert lo.path('etc', 'nova', 'nova-db.conf') not in compute
    assert lo.path('etc', 'nova', 'compute-compute2.conf') in compute


def test_down_stops_stage_by_stage_then_leftovers_then_strays(tmp_path):
    lo = _layout(tmp_path)
    table = _Table(running=FAKE_NAMES, leftovers=['old-thing'])
    sup = supervise.Supervisor(lo, table, None, _Probes(), None)
    stopped, strays = sup.stop(svc.table(lo))
    assert table.stops == [
        (
            [
                'nova-api',
                'nova-conductor',
                'nova-scheduler',
                'nova-compute-compute1',
                'nova-compute-compute2',
            ],
            10,
        ),
        (['keystone', 'placement', 'glance', 'neutron'], 20),
        (['epmd', 'rabbitmq'], 30),
        (['mariadb'], 60),
        (['old-thing'], svc.LEFTOVER_TIMEOUT),
    ]
    assert sorted(stopped) == sorted(FAKE_NAMES)
    assert strays == [4242]


def test_status_reports_each_service_by_pid_and_probe(tmp_path):
    lo = _layout(tmp_path)
    running = [n for n in FAKE_NAMES if n != 'glance']
    probes = _Probes(down={'neutron', 'glance', 'compute2'})
    sup = supervise.Supervisor(lo, _Table(running=running), None, probes, None)
    rows = {r[0]: r[1:] for r in sup.status(svc.table(lo))}
    assert list(rows) == FAKE_NAMES
    assert rows['keystone'] == (103, True, 'answers')
    assert rows['glance'] == (
        None,
        False,
        'not running (log: %s)' % lo.log('glance'),
    )
    assert rows['neutron'] == (
        105,  # pids count the running services in table order
        False,
        'no neutron (log: %s)' % lo.log('neutron'),
    )
    assert rows['nova-compute-compute2'][1:] == (
        False,
        'no compute2 (log: %s)' % lo.log('nova-compute-compute2'),
    )
    stranger = supervise.Supervisor(lo, _Table(), None, _Probes(), None)
    assert stranger.status(svc.table(lo))[0] == (
        'epmd',
        None,
        False,
        'answers, but not started by this cloud',
    )


def test_a_port_taken_by_a_stranger_stops_the_start(tmp_path):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen(1)
        port = s.getsockname()[1]
        lo = _layout(tmp_path, epmd=port)
        sup = supervise.Supervisor(lo, _Table(), None, _Probes(), None)
        with pytest.raises(CloudError) as err:
            sup.start(svc.table(lo)[:1])
    assert str(err.value) == (
        'epmd: port 127.0.0.1:%d is already in use by a process this cloud '
        'did not start; see %s' % (port, lo.log('epmd'))
    )
