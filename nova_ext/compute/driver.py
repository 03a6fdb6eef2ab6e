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
"""nova's LibvirtDriver with policy-driven live migration.

Loaded with ``[DEFAULT] compute_driver = livemigrate.LibvirtDriver``. It
changes only what it must and delegates the rest to nova:

- nova's migration monitor is one
  :class:`nova_ext.compute.outgoing.OutgoingMigration` per migration: a
  :class:`nova_ext.compute.monitor.Monitor` driving the policy chosen for
  the instance (:mod:`nova_ext.core.selection`), then nova's own steps;
- API force-complete and abort go to that monitor's queue; abort during
  post-copy is refused, because only the destination has the whole guest;
- a migration stays ``running`` in the API during post-copy and pause;
- after an abort (API, policy or timeout) the server stays ACTIVE on the
  source: the monitor recovers it, and the "operation aborted" error that
  nova's migration thread re-raises is not turned into ERROR;
- auto-converge is kept alongside post-copy when both are permitted;
- volumes are disconnected with ``force`` on every path where this host
  gives them up (:mod:`nova_ext.compute.volumes`);
- a post-copy broken past ``postcopy_recovery_window_s`` ends in ERROR,
  both hosts keeping their half (:mod:`nova_ext.core.recovery`);
- nova's post-migration steps wait for the message bus
  (:mod:`nova_ext.compute.bus`); a move nova fails to finish, or a server
  deleted after a post-copy given up on, releases the source's
  allocation (:mod:`nova_ext.compute.allocations`);
- a migration nova-compute or libvirtd lost to a restart is settled
  once both are back (:mod:`nova_ext.core.restart`).
"""

import time

from nova.compute import power_state
from nova import conf as nova_conf
from nova.virt.libvirt import driver as libvirt_driver
from oslo_log import log as logging

from nova_ext.compute import allocations
from nova_ext.compute import choice
from nova_ext.compute import metrics as lm_metrics
from nova_ext.compute import monitor
from nova_ext.compute import outcome as lm_outcome
from nova_ext.compute import outgoing
from nova_ext.compute import publisher as lm_publisher
from nova_ext.compute import settle
from nova_ext.compute import store
from nova_ext.compute import volumes
from nova_ext import conf as lm_conf
from nova_ext.core import observation
from nova_ext.core.policies import base

LOG = logging.getLogger(__name__)
CONF = nova_conf.CONF
lm_conf.register_opts(CONF)

MIB = 1024 * 1024


class LibvirtDriver(
    volumes.ForcedDisconnects,
    allocations.ReleasedOnDelete,
    libvirt_driver.LibvirtDriver,
):
    """LibvirtDriver whose live migrations are steered by a policy."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self._lm_monitors = {}
        self._lm_deliberate_abort = set()
        self._lm_moved = set()
        self._lm_params = self._validated_params()
        self._lm_monitor_config = monitor.MonitorConfig(
            stats_interval_s=CONF.libvirt.live_migration_monitor_interval,
            # NOTE: wall clock and time.sleep, as nova's monitor uses
            clock=time.time,
            sleep=time.sleep,
            postcopy_window_s=CONF.livemigrate.postcopy_recovery_window_s,
        )
        # NOTE: one registry and listener per process, however many
        # drivers nova builds
        self._lm_metrics = lm_metrics.for_process(CONF.livemigrate)

    @staticmethod
    def _validated_params():
        """Check ``[livemigrate]`` once; a bad value stops the service.

        nova's driver loader logs a traceback for anything but a clean
        exit, so a configuration error is one log line and exit status 1.
        """
        try:
            return lm_conf.validate(
                CONF, lambda: observation.MigrationContext(2 * 1024 * MIB)
            )
        except base.PolicyError as exc:
            LOG.error('Invalid configuration, stopping: %s', exc)
            raise SystemExit(
                'nova-compute: invalid configuration: %s' % exc
            ) from None

    def _params_for(self, name):
        params = choice.configured_params(name, CONF)
        params.update(self._lm_params.get(name, {}))
        return params

    # NOTE: nova drops auto-converge when post-copy is permitted; both
    # together let QEMU throttle first and the policy switch later.
    def _handle_live_migration_auto_converge(self, migration_flags):
        if CONF.libvirt.live_migration_permit_auto_converge:
            migration_flags |= libvirt_driver.libvirt.VIR_MIGRATE_AUTO_CONVERGE
        return migration_flags

    def _permits(self, instance, flags):
        postcopy = (
            self._is_post_copy_enabled(flags)
            and not self._get_vpmems(instance)
            and choice.loaded(instance, 'power_state') != power_state.PAUSED
        )
        auto = bool(flags & libvirt_driver.libvirt.VIR_MIGRATE_AUTO_CONVERGE)
        return observation.Permits(
            postcopy=postcopy,
            pause=CONF.livemigrate.permit_pause,
            abort=CONF.livemigrate.permit_abort,
            auto_converge=auto,
            max_downtime_ms=(
                CONF.livemigrate.max_downtime_ms
                or CONF.libvirt.live_migration_downtime
            ),
        )

    def _choose_policy(self, instance, context_):
        return choice.choose_policy(instance, context_, self._params_for)

    def _live_migration_monitor(
        self,
        context,
        instance,
        guest,
        dest,
        post_method,
        recover_method,
        block_migration,
        migrate_data,
        finish_event,
        disk_paths,
    ):
        # NOTE: one object per migration leaving this host
        outgoing.OutgoingMigration(
            self,
            outgoing.Handover(
                context,
                instance,
                guest,
                dest,
                post_method,
                recover_method,
                block_migration,
                migrate_data,
                finish_event,
                disk_paths,
            ),
        ).run()

    def process_instances_at_startup(self, context, instances):
        instances = super().process_instances_at_startup(context, instances)
        return settle.resume(self, context, instances)

    def post_live_migration_at_destination(
        self,
        context,
        instance,
        network_info,
        block_migration=False,
        block_device_info=None,
    ):
        super().post_live_migration_at_destination(
            context,
            instance,
            network_info,
            block_migration=block_migration,
            block_device_info=block_device_info,
        )
        self._publish_measured_downtime(context, instance)

    def _publish_measured_downtime(self, context, instance):
        """The destination keeps the finished job's stats: publish downtime
        (:func:`nova_ext.compute.outcome.publish_measured_downtime`).
        """
        if CONF.livemigrate.publish_status:
            lm_outcome.publish_measured_downtime(
                lambda: self._host.get_guest(instance),
                lm_publisher.Publisher(
                    store.NovaStore(context, instance, None), None, None
                ),
                instance,
                measured=self._lm_metrics.measured_downtime,
            )

    def _activate_destination_ports(self, context, instance, migration):
        """What nova's lifecycle handler does for 'running (post-copy)'.

        We keep the migration 'running' so that it stays listed and
        controllable, so nova's handler finds no 'running (post-copy)'
        record; activating the destination port bindings here keeps the
        network cut-over at the switch instead of at the very end.
        """
        try:
            from nova.network import neutron

            neutron.API().migrate_instance_start(context, instance, migration)
        except Exception as exc:
            LOG.warning(
                'Could not activate destination port bindings at '
                'the post-copy switch (nova will at the end): %s',
                exc,
                instance=instance,
            )

    def _live_migration(
        self,
        context,
        instance,
        dest,
        post_method,
        recover_method,
        block_migration,
        migrate_data,
    ):
        try:
            super()._live_migration(
                context,
                instance,
                dest,
                post_method,
                recover_method,
                block_migration,
                migrate_data,
            )
        except Exception as exc:
            if outgoing.instance_uuid(instance) in self._lm_deliberate_abort:
                # NOTE: nova re-raises the migration thread's "operation
                # aborted" after a deliberate abort; the compute manager
                # would then set the server to ERROR although it runs
                # fine on the source and has been recovered.
                LOG.info(
                    'Live migration aborted as requested; the guest '
                    'runs on this host (%s)',
                    exc,
                    instance=instance,
                )
                return
            if outgoing.instance_uuid(instance) in self._lm_moved:
                # NOTE: a post-copy whose connection broke makes libvirt's
                # migrate call fail even when the stream then resumes and
                # completes; the guest runs on the destination and nova's
                # post-migration steps are done, so the manager must not
                # set ERROR now.
                LOG.warning(
                    'Live migration completed and the server moved '
                    'to %(dest)s, although libvirt reported an error '
                    'on the way: %(exc)s',
                    {'dest': dest, 'exc': exc},
                    instance=instance,
                )
                return
            calls = (context, instance, dest, post_method, recover_method)
            if settle.after_libvirtd(self, exc, *calls, migrate_data):
                return  # NOTE: libvirtd restarted under the monitor
            raise
        finally:
            self._lm_deliberate_abort.discard(outgoing.instance_uuid(instance))
            self._lm_moved.discard(outgoing.instance_uuid(instance))

    def live_migration_abort(self, instance):
        mon = self._lm_monitors.get(outgoing.instance_uuid(instance))
        if mon is not None:
            if mon.outcome.phase is observation.Phase.POSTCOPY:
                LOG.warning(
                    'Refusing to abort a live migration in '
                    'post-copy: the destination already runs the '
                    'guest and holds pages the source lacks',
                    instance=instance,
                )
                return
            mon.note_api_abort()
        return super().live_migration_abort(instance)
