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
"""Drive the driver's volume paths over the emulated host; report as JSON.

Run as ``unshare --mount --propagation private -- python -m
tests.functional.nova_ext.brickfake.child WORKDIR`` with
``BRICKFAKE_PARENT_MNT_NS`` set (see :mod:`.mounts`); writes
``WORKDIR/result.json``. Each scenario gets its own iSCSI session and
``sdX`` disk with a failing flush, runs one driver method and records
what reached ``connector.disconnect_volume``, what was raised and logged,
which commands ran and what is left of the disk in the tree.
"""

import json
import logging
import os
import sys
import traceback

from tests.functional.nova_ext.brickfake import host as fake_host
from tests.functional.nova_ext.brickfake import mounts

PORTAL = '192.0.2.10:3260'
MY_IP = '192.0.2.1'

# (scenario, driver, device, method); the rule name is nova_ext's
SCENARIOS = (
    ('post_live_migration', 'nova_ext', 'sdb', 'post_live_migration_source'),
    (
        'rollback_live_migration_at_destination',
        'nova_ext',
        'sdc',
        'rollback_at_destination',
    ),
    (
        'migrate_disk_and_power_off',
        'nova_ext',
        'sdd',
        'migrate_disk_and_power_off',
    ),
    ('detach_volume', 'nova_ext', 'sde', 'detach_volume'),
    ('destroy', 'nova_ext', 'sdf', 'destroy'),
    ('stock_detach_volume', 'nova', 'sdg', None),
)


class Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string is still evidence
            msg = str(record.msg)
        self.records.append(
            {
                'logger': record.name,
                'level': record.levelname,
                'message': msg[:4000],
            }
        )


def _name(exc):
    return '%s.%s' % (type(exc).__module__, type(exc).__qualname__)


class Rig:
    """nova's LibvirtDriver(s) on fakelibvirt, os-brick on the fake host."""

    def __init__(self, scratch):
        import nova.conf
        from nova import context as nova_context
        from nova import objects
        from nova.tests import fixtures as nova_fixtures
        import os_brick
        from os_brick.privileged import rootwrap as priv_rootwrap
        from oslo_concurrency import processutils

        self.conf = nova.conf.CONF
        objects.register_all()
        self.fixtures = []
        self._use(nova_fixtures.ConfFixture(self.conf))
        self.libvirt = self._use(nova_fixtures.LibvirtFixture())
        for name in ('instances', 'locks'):
            os.makedirs(os.path.join(scratch, name))
        self.conf.set_override(
            'instances_path', os.path.join(scratch, 'instances')
        )
        self.conf.set_override(
            'lock_path', os.path.join(scratch, 'locks'), 'oslo_concurrency'
        )
        self.conf.set_override('my_ip', MY_IP)
        self.conf.set_override('host', 'compute1')
        os_brick.setup(self.conf)  # as nova-compute does at start

        self.host = fake_host.Host()
        # os-brick's default command runner, read when a connector is built
        # and by LinuxSCSI.is_multipath_running on every disconnect
        priv_rootwrap.execute = self.host.execute
        # nothing may reach a real command
        self.real_commands = []

        def forbidden(*cmd, **kwargs):
            self.real_commands.append([str(c) for c in cmd])
            raise AssertionError('real command attempted: %s' % (cmd,))

        processutils.execute = forbidden
        objects.Instance.save = lambda inst, *a, **k: None  # no database

        self.ctx = nova_context.RequestContext(
            'user', 'project', is_admin=True
        )
        self.spied = []
        self.disconnects = []
        self.capture = Capture()
        root = logging.getLogger()
        root.addHandler(self.capture)
        root.setLevel(logging.INFO)

    def _use(self, fixture):
        fixture.setUp()
        self.fixtures.append(fixture)
        return fixture

    def close(self):
        for fixture in reversed(self.fixtures):
            fixture.cleanUp()

    def driver(self, which):
        from nova.virt import fake as virt_fake
        from nova.virt.libvirt import driver as libvirt_driver
        from nova_ext.compute import driver as ext_driver

        cls = (
            ext_driver.LibvirtDriver
            if which == 'nova_ext'
            else libvirt_driver.LibvirtDriver
        )
        return cls(virt_fake.FakeVirtAPI(), False)

    def spy(self, drv, connection_info):
        """Record every call to the real connector's disconnect_volume."""
        vol_driver = drv._get_volume_driver(connection_info)
        conn = vol_driver.connector
        if conn in self.spied:
            return vol_driver
        self.spied.append(conn)
        real = conn.disconnect_volume
        calls = self.disconnects

        def disconnect_volume(*args, **kwargs):
            call = {
                'args': len(args),
                'kwargs': sorted(kwargs),
                'force': kwargs.get('force', False),
                'ignore_errors': kwargs.get('ignore_errors', False),
                'raised': None,
            }
            calls.append(call)
            try:
                return real(*args, **kwargs)
            except Exception as exc:
                call['raised'] = _name(exc)
                raise

        conn.disconnect_volume = disconnect_volume
        return vol_driver

    def volume(self, index, name):
        """Log in to a target with one LUN; return (connection_info, bdi)."""
        vol_id = '00000000-0000-4000-8000-%012d' % index
        iqn = 'iqn.2010-10.org.openstack:volume-%s' % vol_id
        session = self.host.login(
            sid=index, host=index + 1, portal=PORTAL, iqn=iqn
        )
        path = self.host.add_lun(
            session,
            lun=1,
            name=name,
            wwn='36001405%024x' % index,
            minor=16 * index,
        )
        self.host.flush_fails.add('/dev/' + name)
        connection_info = {
            'driver_volume_type': 'iscsi',
            'serial': vol_id,
            'data': {
                'target_discovered': False,
                'target_portal': PORTAL,
                'target_iqn': iqn,
                'target_lun': 1,
                'volume_id': vol_id,
                'encrypted': False,
                'auth_method': 'CHAP',
                'auth_username': 'u',
                'auth_password': 'p',
                'device_path': path,
            },
        }
        bdi = {
            'root_device_name': '/dev/vda',
            'ephemerals': [],
            'swap': None,
            'block_device_mapping': [
                {
                    'connection_info': connection_info,
                    'mount_device': '/dev/vdb',
                    'boot_index': None,
                    'volume_id': vol_id,
                    'delete_on_termination': False,
                    'disk_bus': 'virtio',
                    'device_type': 'disk',
                    'attachment_id': None,
                }
            ],
        }
        return connection_info, bdi, session

    def instance(self, index):
        from nova import objects
        from nova.tests.unit import fake_instance

        instance = fake_instance.fake_instance_obj(
            self.ctx,
            uuid='11111111-0000-4000-8000-%012d' % index,
            host='compute1',
            node='compute1',
            vm_state='active',
            task_state=None,
            system_metadata={},
            root_device_name='/dev/vda',
        )
        # what the compute manager has loaded before calling the driver
        instance.system_metadata = {}
        instance.numa_topology = None
        instance.resources = None
        instance.pci_devices = objects.PciDeviceList(objects=[])
        return instance

    def define_guest(self, drv, instance, connection_info):
        """A shut-off guest in fakelibvirt with the volume as vdb."""
        vol_id = connection_info['serial']
        xml = """<domain type='kvm'>
  <name>%(name)s</name><uuid>%(uuid)s</uuid>
  <memory>262144</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='%(path)s'/>
      <target dev='vdb' bus='virtio'/>
      <serial>%(vol)s</serial>
    </disk>
  </devices>
</domain>""" % {
            'name': instance.name,
            'uuid': instance.uuid,
            'path': connection_info['data']['device_path'],
            'vol': vol_id,
        }
        drv._host.get_connection().defineXML(xml)

    def run(self, index, scenario, which, name, rule):
        from nova import objects
        from nova_ext.compute import brick

        drv = self.driver(which)
        connection_info, bdi, session = self.volume(index, name)
        instance = self.instance(index)
        self.spy(drv, connection_info)
        first_call = len(self.host.calls)
        first_log = len(self.capture.records)
        first_disconnect = len(self.disconnects)
        raised = None
        try:
            if scenario == 'post_live_migration':
                migrate_data = objects.LibvirtLiveMigrateData(
                    is_shared_block_storage=True, is_shared_instance_path=True
                )
                drv.post_live_migration(self.ctx, instance, bdi, migrate_data)
            elif scenario == 'rollback_live_migration_at_destination':
                # a volume-backed guest: destroy_disks is False, as the
                # compute manager passes for shared block storage
                migrate_data = objects.LibvirtLiveMigrateData(
                    is_shared_block_storage=True, is_shared_instance_path=True
                )
                drv.rollback_live_migration_at_destination(
                    self.ctx,
                    instance,
                    [],
                    bdi,
                    destroy_disks=False,
                    migrate_data=migrate_data,
                )
            elif scenario == 'migrate_disk_and_power_off':
                drv.migrate_disk_and_power_off(
                    self.ctx,
                    instance,
                    MY_IP,
                    instance.flavor,
                    [],
                    block_device_info=bdi,
                )
            elif scenario in ('detach_volume', 'stock_detach_volume'):
                self.define_guest(drv, instance, connection_info)
                drv.detach_volume(
                    self.ctx, connection_info, instance, '/dev/vdb'
                )
            elif scenario == 'destroy':
                drv.destroy(self.ctx, instance, [], bdi, destroy_disks=True)
            else:
                raise AssertionError(scenario)
        except Exception as exc:
            raised = {
                'type': _name(exc),
                'message': str(exc)[:4000],
                'frames': [
                    '%s:%d %s' % (f.filename, f.lineno, f.name)
                    for f in traceback.extract_tb(exc.__traceback__)
                ],
            }
        guest_disks = None
        if scenario in ('detach_volume', 'stock_detach_volume'):
            guest = drv._host.get_guest(instance)
            guest_disks = [d.target_dev for d in guest.get_all_disks()]
        return {
            'scenario': scenario,
            'driver': type(drv).__module__,
            'device': name,
            'rule': rule,
            'rule_force': brick.PATHS[rule].force if rule else None,
            'rule_ignore_errors': brick.PATHS[rule].ignore_errors
            if rule
            else None,
            'disconnects': self.disconnects[first_disconnect:],
            'raised': raised,
            'leftovers': self.host.leftovers(name),
            'session_left': session.sid in self.host.sessions,
            'node_left': (session.portal, session.iqn) in self.host.nodes,
            'guest_disks': guest_disks,
            'commands': self.host.calls[first_call:],
            'logs': self.capture.records[first_log:],
        }


def main(workdir):
    result = {'scenarios': {}, 'error': None}
    try:
        scratch = os.path.join(workdir, 'scratch')
        mounts.isolate(scratch)
        result['mounts'] = mounts.our_mounts()
        os.environ['OS_NOVA_DISABLE_EVENTLET_PATCHING'] = 'True'
        from nova import monkey_patch

        monkey_patch.patch()
        rig = Rig(scratch)
        try:
            for index, (scenario, which, name, rule) in enumerate(
                SCENARIOS, start=1
            ):
                result['scenarios'][scenario] = rig.run(
                    index, scenario, which, name, rule
                )
            conn = rig.spied[0]
            result['runner_is_fake'] = all(
                c._Executor__execute == rig.host.execute
                and c._linuxscsi._Executor__execute == rig.host.execute
                for c in rig.spied
            )
            result['connector_classes'] = sorted(
                {
                    '%s.%s' % (type(c).__module__, type(c).__qualname__)
                    for c in rig.spied
                }
            )
            result['linuxscsi_class'] = '%s.%s' % (
                type(conn._linuxscsi).__module__,
                type(conn._linuxscsi).__qualname__,
            )
            result['real_commands'] = rig.real_commands
            result['unexpected_commands'] = rig.host.unexpected
        finally:
            rig.close()
    except BaseException:
        result['error'] = traceback.format_exc()
    with open(os.path.join(workdir, 'result.json'), 'w') as f:
        json.dump(result, f, indent=1, default=str)
    return 1 if result['error'] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
