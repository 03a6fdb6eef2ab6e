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
"""reconfigure: override files reach keystone and the computes, and only
the services whose override changed restart. The restarts themselves run
for real in tests/functional/libvirt_cloud/test_libvirt_tokens.py.
"""

from testbed.cloud import bootstrap
from testbed.cloud import Cloud
from testbed.cloud import computes
from testbed.cloud import render


class _Recorder(Cloud):
    """A fake-mode Cloud that records restarts instead of running them."""

    def __init__(self, base):
        super().__init__(base=base, say=lambda m: None)
        self.stopped, self.started = [], []
        self.table.stop_many = lambda names, timeout=0: (
            self.stopped.extend(names) or names
        )
        self.supervisor.run = lambda services: self.started.extend(
            (s.name, s.launch(self.layout, self.pair)) for s in services
        )

    def launch(self, name):
        """How the service table would start ``name`` now."""
        (row,) = [s for s in self.services if s.name == name]
        return row.launch(self.layout, self.pair)


def test_overrides_reach_argv_and_env_and_only_changed_services_restart(
    tmp_path,
):
    c = _Recorder(str(tmp_path))
    assert c.launch('keystone').env is None
    restarted = c.reconfigure(keystone={'token': {'expiration': 130}})
    assert restarted == ['keystone']
    assert c.stopped == ['keystone']
    assert [name for name, _ in c.started] == ['keystone']
    env = c.started[0][1].env['OS_KEYSTONE_CONFIG_FILES'].split(';')
    assert env[-1].endswith('etc/keystone/override.conf')
    assert c.overrides() == {
        'keystone': render.ini({'token': {'expiration': 130}})
    }

    # same keystone text, new compute text: only the computes restart
    c.started.clear()
    compute = {'service_user': {'send_service_user_token': False}}
    restarted = c.reconfigure(
        keystone={'token': {'expiration': 130}}, compute=compute
    )
    assert restarted == ['nova-compute-%s' % h for h in c.hosts]
    assert [name for name, _ in c.started] == restarted
    for _, launch in c.started:
        i = launch.argv.index('--log-file')
        assert launch.argv[i - 2 : i] == [
            '--config-file',
            str(tmp_path / 'etc/nova/compute-override.conf'),
        ]
    assert 'send_service_user_token = false' in c.overrides()['compute']

    assert (
        c.reconfigure(keystone={'token': {'expiration': 130}}, compute=compute)
        == []
    )
    assert c.reconfigure() == ['keystone'] + [
        'nova-compute-%s' % h for h in c.hosts
    ]
    assert c.overrides() == {}
    assert c.launch('keystone').env is None
    assert '--log-file' == c.launch('nova-compute-compute1').argv[-2]
    assert 'compute-override.conf' not in ' '.join(
        c.launch('nova-compute-compute1').argv
    )


def test_a_compute_restart_rewrites_the_libvirt_computes_base_config(
    tmp_path,
):
    """A kept cloud's computes restart on today's compute-HOST.conf, so a
    new option (each compute's metrics port) reaches them without a new
    cloud; the scrape test failed on a kept cloud without this.
    """
    c = Cloud(mode='libvirt', base=str(tmp_path), say=lambda m: None)
    c.table.stop_many = lambda names, timeout=0: names
    c.supervisor.run = lambda services: None
    paths = [computes.conf_path(c.layout, h) for h in c.hosts]
    for path in paths:
        bootstrap.write(path, '[DEFAULT]\n')
    c.reconfigure(keystone={'token': {'expiration': 130}})
    assert [open(p).read() for p in paths] == ['[DEFAULT]\n'] * 2
    c.reconfigure(compute={'livemigrate': {'shadow_policies': 'nova'}})
    for host, path in zip(c.hosts, paths):
        with open(path) as f:
            assert (
                'metrics_listen_port = %d\n'
                % computes.metrics_port(c.layout, host)
                in f.read()
            )
