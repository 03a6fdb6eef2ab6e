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
"""The driver's volume paths, each disconnecting with ``force``.

Wherever this host gives a volume up (detach, swap, the source after a live
migration, a rollback, a cold migration, and nova's failure rollbacks of
attach and connect), the disconnect must not leave the host's multipath and
iSCSI state behind (:mod:`nova_ext.compute.brick` says why and how). Each
override
only marks the path and hands over to nova's method.
"""

from nova_ext.compute import brick


class ForcedDisconnects:
    """Mixed in before nova's LibvirtDriver: ``super()`` is nova's driver."""

    def _disconnect_volume(
        self,
        context,
        connection_info,
        instance,
        encryption=None,
        destroy_secrets=True,
        force=False,
    ):
        force = brick.should_force(force)
        return super()._disconnect_volume(
            context,
            connection_info,
            instance,
            encryption=encryption,
            destroy_secrets=destroy_secrets,
            force=force,
        )

    def _get_volume_driver(self, connection_info):
        return brick.with_rule(super()._get_volume_driver(connection_info))

    def swap_volume(
        self,
        context,
        old_connection_info,
        new_connection_info,
        instance,
        mountpoint,
        resize_to,
    ):
        with brick.giving_up('swap_volume'):
            return super().swap_volume(
                context,
                old_connection_info,
                new_connection_info,
                instance,
                mountpoint,
                resize_to,
            )

    def attach_volume(
        self,
        context,
        connection_info,
        instance,
        mountpoint,
        disk_bus=None,
        device_type=None,
        encryption=None,
    ):
        # NOTE: only nova's failure rollback disconnects in here
        with brick.giving_up('attach_rollback'):
            return super().attach_volume(
                context,
                connection_info,
                instance,
                mountpoint,
                disk_bus=disk_bus,
                device_type=device_type,
                encryption=encryption,
            )

    def _connect_volume(
        self, context, connection_info, instance, encryption=None
    ):
        # NOTE: only the encryptor-failure rollback disconnects in here
        with brick.giving_up('connect_rollback'):
            return super()._connect_volume(
                context, connection_info, instance, encryption=encryption
            )

    def detach_volume(
        self, context, connection_info, instance, mountpoint, encryption=None
    ):
        with brick.giving_up('detach_volume'):
            return super().detach_volume(
                context,
                connection_info,
                instance,
                mountpoint,
                encryption=encryption,
            )

    def post_live_migration(
        self, context, instance, block_device_info, migrate_data=None
    ):
        with brick.giving_up('post_live_migration_source'):
            return super().post_live_migration(
                context, instance, block_device_info, migrate_data
            )

    def rollback_live_migration_at_destination(
        self,
        context,
        instance,
        network_info,
        block_device_info,
        destroy_disks=True,
        migrate_data=None,
    ):
        with brick.giving_up('rollback_at_destination'):
            return super().rollback_live_migration_at_destination(
                context,
                instance,
                network_info,
                block_device_info,
                destroy_disks=destroy_disks,
                migrate_data=migrate_data,
            )

    def migrate_disk_and_power_off(
        self,
        context,
        instance,
        dest,
        flavor,
        network_info,
        block_device_info=None,
        timeout=0,
        retry_interval=0,
    ):
        with brick.giving_up('migrate_disk_and_power_off'):
            return super().migrate_disk_and_power_off(
                context,
                instance,
                dest,
                flavor,
                network_info,
                block_device_info=block_device_info,
                timeout=timeout,
                retry_interval=retry_interval,
            )
