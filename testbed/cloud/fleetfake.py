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
"""``FleetFakeDriver``: nova's fake live-migrate driver, made to test a
drain of many hosts.

nova 34's ``fake.FakeLiveMigrateDriver`` moves a guest in up to 5 s, keeps
one abort flag and one force-complete flag for the whole compute (an abort
of one migration cancels every migration the compute runs), and reports
800 GB of RAM, so that no capacity check can ever fail. This subclass:

- lasts ``migration_s`` per migration, per server (by name or UUID, else
  the ``default``), read from the settings file when the migration starts;
- aborts or force-completes only the migration of the server asked;
- reports, per host, the inventory totals the settings name (reserved 0,
  allocation ratio 1), so placement, the scheduler and a drain's capacity
  check see a host that can be full. The totals are read when nova-compute
  starts and at each ``update_available_resource``.

The settings are ``testbed.cloud.fleetconf``'s file.
Imported only inside nova-compute (see ``testbed.cloud.fleet_compute``)
and by its unit tests: it needs nova.
"""

import threading

from nova.virt import fake

from testbed.cloud import fleetconf

COMPLETE, ABORT = 'complete', 'abort'


class _Control:
    """How one migration ends: when its time is up, or earlier when an
    abort or a force-complete for its server arrives.
    """

    def __init__(self):
        self.event = threading.Event()
        self.outcome = COMPLETE

    def end(self, outcome):
        self.outcome = outcome
        self.event.set()


class FleetFakeDriver(fake.FakeLiveMigrateDriver):
    """See the module docstring."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._controls = {}  # instance UUID -> _Control
        self._lock = threading.Lock()

    def live_migration(
        self,
        context,
        instance,
        dest,
        post_method,
        recover_method,
        block_migration=False,
        migrate_data=None,
    ):
        lasts = fleetconf.migration_s(
            fleetconf.read(), instance.display_name, instance.uuid
        )
        control = _Control()
        with self._lock:
            self._controls[instance.uuid] = control
        try:
            control.event.wait(lasts)
        finally:
            with self._lock:
                self._controls.pop(instance.uuid, None)
        if control.outcome == ABORT:
            recover_method(
                context,
                instance,
                dest,
                migrate_data,
                migration_status='cancelled',
            )
        else:
            post_method(context, instance, dest, block_migration, migrate_data)

    def _end(self, instance, outcome):
        with self._lock:
            control = self._controls.get(instance.uuid)
        if control is not None:
            control.end(outcome)

    def live_migration_force_complete(self, instance):
        self._end(instance, COMPLETE)

    def live_migration_abort(self, instance):
        self._end(instance, ABORT)

    def get_available_resource(self, nodename):
        found = super().get_available_resource(nodename)
        mine = fleetconf.inventory(fleetconf.read(), nodename)
        for rc, key in (
            ('VCPU', 'vcpus'),
            ('MEMORY_MB', 'memory_mb'),
            ('DISK_GB', 'local_gb'),
        ):
            if found and rc in mine:
                found[key] = mine[rc]
        return found

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        super().update_provider_tree(provider_tree, nodename, allocations)
        mine = fleetconf.inventory(fleetconf.read(), nodename)
        if not mine:
            return
        inv = dict(provider_tree.data(nodename).inventory)
        for rc, total in mine.items():
            inv[rc] = dict(
                inv.get(rc, {'min_unit': 1, 'step_size': 1}),
                total=total,
                max_unit=total,
                reserved=0,
                allocation_ratio=1.0,
            )
        provider_tree.update_inventory(nodename, inv)
