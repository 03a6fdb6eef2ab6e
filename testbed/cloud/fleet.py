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
"""More nova-compute services for a running fake-mode cloud, for a while.

A drain of many hosts needs more than the cloud's two computes, and hosts
that can be full. ``Fleet`` adds computes ``compute3`` ... to the running
fake-mode cloud, each running :class:`testbed.cloud.fleetfake.
FleetFakeDriver` (durations, aborts and inventory a test sets in one
settings file), and removes them again: process stopped, service deleted
(nova deletes its compute node, resource provider and host mapping with
it). The cloud's own services, and its two computes, are not touched, so
a test session pays for no second cloud.

    fleet = Fleet(cloud)
    fleet.settings(migration_s={'default': 2}, inventory={...})
    fleet.up()            # compute3..compute6 answer and are mapped
    ...
    fleet.down()

A session killed while its fleet ran leaves the processes in the cloud's
process table (``down`` of the cloud stops them) and their services in
nova: :meth:`up` first removes what an earlier fleet left.
"""

import os
import sys
import time

from testbed.cloud import bootstrap
from testbed.cloud import fleet_compute
from testbed.cloud import fleetconf
from testbed.cloud import procs
from testbed.cloud import render
from testbed.cloud import services as svc

HOSTS = ('compute3', 'compute4', 'compute5', 'compute6')
REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
#: seconds a fleet compute may take to be listed up and mapped
START_TIMEOUT_S = 180
#: nova's default update_resources_interval is 60 s; a test that changes
#: an inventory waits for the next one
RESOURCES_INTERVAL_S = 10


class Fleet:
    """Extra fake-mode computes of ``cloud`` (a ``testbed.cloud.Cloud``)."""

    def __init__(self, cloud, hosts=HOSTS):
        if cloud.mode != 'fake':
            raise ValueError('a fleet joins a fake-mode cloud only')
        self.cloud = cloud
        self.layout = cloud.layout
        self.hosts = tuple(hosts)
        self.settings_path = self.layout.path('state', 'fleet', 'fleet.json')

    # ---------------------------------------------------------- settings
    def settings(self, migration_s=None, inventory=None):
        """Write the driver's settings (see ``fleetfake``); a key given
        as None keeps its current value. Durations apply to migrations
        that start afterwards; inventories once nova-compute reads them
        (at its start, then every ``RESOURCES_INTERVAL_S``).
        """
        current = fleetconf.read(self.settings_path)
        if migration_s is not None:
            current['migration_s'] = dict(migration_s)
        if inventory is not None:
            current['inventory'] = dict(inventory)
        fleetconf.write(self.settings_path, current)
        return current

    # ---------------------------------------------------------- services
    def conf_path(self, host):
        return self.layout.path('etc', 'nova', 'compute-%s.conf' % host)

    def _conf(self, host):
        hstate = self.layout.path('state', host)
        return render.ini(
            {
                'DEFAULT': {
                    'host': host,
                    'compute_driver': fleet_compute.DRIVER,
                    'state_path': hstate,
                    'instances_path': hstate + '/instances',
                    'update_resources_interval': RESOURCES_INTERVAL_S,
                },
                'oslo_concurrency': {'lock_path': hstate + '/lock'},
            }
        )

    def _service(self, host):
        def launch(lo, pair):
            return svc.Launch(
                [
                    lo.venv_bin('main', 'python'),
                    '-m',
                    'testbed.cloud.fleet_compute',
                ]
                + svc.nova_conf_args(lo, db=False)
                + ['--config-file', self.conf_path(host)]
                + ['--log-file', lo.log(svc.compute_name(host))],
                env={
                    'PYTHONPATH': REPO,
                    fleetconf.SETTINGS_ENV: self.settings_path,
                },
            )

        return svc.Service(
            svc.compute_name(host),
            'computes',
            'nova',
            launch,
            lambda p: p.nova_service('nova-compute', host),
            timeout=START_TIMEOUT_S,
        )

    def up(self):
        """Start the fleet's computes (after removing any an earlier,
        killed session left) and wait until nova-api lists each one's
        hypervisor. :returns: seconds it took.
        """
        t0 = time.monotonic()
        self._remove()
        for host in self.hosts:
            bootstrap.write(self.conf_path(host), self._conf(host))
        self.cloud.supervisor.run([self._service(h) for h in self.hosts])
        self._map()
        return time.monotonic() - t0

    def _map(self):
        """``nova-manage cell_v2 discover_hosts`` until nova-api lists a
        hypervisor of every fleet host (a compute's node row appears a
        moment after its service record).
        """
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            missing = self._unlisted()
            if not missing:
                return
            if time.monotonic() > deadline:
                name = svc.compute_name(missing[0])
                raise procs.CloudError(
                    name,
                    'no hypervisor %s listed by nova-api %d s after its '
                    'start' % (missing[0], START_TIMEOUT_S),
                    self.layout.log(name),
                )
            self.cloud.bootstrap.run(
                'nova',
                self.cloud.bootstrap.nova_manage()
                + ['cell_v2', 'discover_hosts'],
                step='nova-manage cell_v2 discover_hosts',
            )
            listed = self._unlisted()
            if listed:
                time.sleep(1)

    def _unlisted(self):
        conn = self.cloud.connection()
        names = {h.name for h in conn.compute.hypervisors()}
        return [h for h in self.hosts if h not in names]

    def down(self):
        """Stop the fleet's computes and delete their services (nova then
        deletes their nodes, resource providers and host mappings), their
        config files and the driver's settings.

        :raises CloudError: when a service cannot be deleted (e.g. a
            server still on it): the fleet's test left it behind.
        """
        self._remove()
        for path in [self.conf_path(h) for h in self.hosts] + [
            self.settings_path
        ]:
            if os.path.exists(path):
                os.remove(path)

    def _remove(self):
        from openstack import exceptions as sdk_exc

        self.cloud.table.stop_many(
            [svc.compute_name(h) for h in self.hosts], timeout=10
        )
        conn = self.cloud.connection()
        for s in list(conn.compute.services(binary='nova-compute')):
            if s.host not in self.hosts:
                continue
            try:
                conn.compute.delete_service(s)
            except sdk_exc.SDKException as e:
                raise procs.CloudError(
                    svc.compute_name(s.host),
                    'cannot delete the service of %s: %s' % (s.host, e),
                ) from None


def main(argv=None):
    """``python -m testbed.cloud.fleet up|down``: by hand, for a demo."""
    from testbed.cloud import Cloud

    argv = sys.argv[1:] if argv is None else argv
    fleet = Fleet(Cloud(mode='fake'))
    if argv[:1] == ['up']:
        print('fleet up in %.0f s: %s' % (fleet.up(), ', '.join(fleet.hosts)))
    elif argv[:1] == ['down']:
        fleet.down()
        print('fleet down: %s' % ', '.join(fleet.hosts))
    else:
        print('usage: python -m testbed.cloud.fleet up|down', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
