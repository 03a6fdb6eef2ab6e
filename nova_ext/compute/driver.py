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

- the migration monitor is :class:`nova_ext.compute.monitor.Monitor` driving
  the
  policy chosen for the instance (:mod:`nova_ext.core.selection`);
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

import collections
import os
import time

from nova.compute import power_state
from nova import conf as nova_conf
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import migration as libvirt_migrate
from oslo_log import log as logging

from nova_ext.compute import allocations
from nova_ext.compute import bus
from nova_ext.compute import choice
from nova_ext.compute import metrics as lm_metrics
from nova_ext.compute import monitor
from nova_ext.compute import outcome as lm_outcome
from nova_ext.compute import publisher as lm_publisher
from nova_ext.compute import settle
from nova_ext.compute import shadows as lm_shadows
from nova_ext.compute import store
from nova_ext.compute import volumes
from nova_ext import conf as lm_conf
from nova_ext.core import contract
from nova_ext.core import loader
from nova_ext.core import observation
from nova_ext.core.policies import base

LOG = logging.getLogger(__name__)
CONF = nova_conf.CONF
lm_conf.register_opts(CONF)

MIB = 1024 * 1024


def _uuid(instance):
    """nova passes Instance objects, some of nova's tests pass dicts."""
    return instance['uuid'] if isinstance(instance, dict) else instance.uuid


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
        migration = choice.loaded(migrate_data, 'migration')
        flags = self._get_migration_flags(migrate_data.block_migration)
        permits = self._permits(instance, flags)
        sizes = [os.stat(p).st_size for p in disk_paths if os.path.exists(p)]
        context_ = observation.MigrationContext(
            ram_bytes=instance.flavor.memory_mb * MIB,
            permits=permits,
            disk_bytes=sum(sizes),
            disk_count=len(sizes),
        )
        chosen, policy = self._choose_policy(instance, context_)
        LOG.info(
            'Live migration policy %(name)s (from %(source)s), '
            'permits %(permits)s',
            {'name': chosen.name, 'source': chosen.source, 'permits': permits},
            instance=instance,
        )
        publisher = lm_publisher.Publisher(
            store.NovaStore(context, instance, migration),
            choice.loaded(migration, 'uuid'),
            chosen.name,
            CONF.livemigrate.publish_status,
        )
        shadow_policies = lm_shadows.build(
            CONF.livemigrate.shadow_policies,
            context_,
            self._params_for,
            loader.build_policy,
            instance,
        )
        publisher.started(chosen.refusals, chosen.asked, shadow_policies)
        start_phase = (
            observation.Phase.POSTCOPY
            if choice.loaded(migration, 'status') == 'running (post-copy)'
            else observation.Phase.PRECOPY
        )
        metrics = lm_metrics.MigrationMetrics(
            self._lm_metrics, instance.uuid, chosen.name, start_phase
        )

        # NOTE: nova's own per-instance task deque is the control channel,
        # so force-complete requests keep arriving exactly as nova queues them
        controls = self.active_migrations.setdefault(
            instance.uuid, collections.deque()
        )

        listener = lm_publisher.Listener(
            publisher,
            lambda: self._activate_destination_ports(
                context, instance, migration
            ),
            metrics,
        )

        def job_end():
            if not finish_event.done():
                return None
            return libvirt_migrate.find_job_type(guest, instance)

        mon = monitor.Monitor(
            guest,
            policy,
            self._lm_monitor_config,
            listener,
            instance=instance,
            controls=controls,
            phase=start_phase,
            postcopy_enabled=permits.postcopy,
            job_end=job_end,
            shadows=lm_shadows.Shadows(
                shadow_policies,
                self._lm_monitor_config.stats_interval_s,
                listener.shadow,
                instance,
            ),
        )
        self._lm_monitors[instance.uuid] = mon
        try:
            outcome = mon.run()
        finally:
            self._lm_monitors.pop(instance.uuid, None)
            self._clear_empty_migration(instance)
            metrics.ended(
                lm_outcome.STATUS.get(mon.outcome.job, 'error'),
                mon.outcome.elapsed_s,
            )
        if outcome.job == 'completed':
            steps = bus.PostSteps(
                bus.services_ping(context, dest),
                CONF.livemigrate.post_migration_bus_window_s,
            )
            try:
                steps.complete(
                    lambda: lm_outcome.report(
                        outcome,
                        publisher,
                        contract.PHASE_COMPLETED,
                        guest,
                        instance,
                    ),
                    lambda: post_method(
                        context, instance, dest, block_migration, migrate_data
                    ),
                    publisher,
                )
            except Exception:
                allocations.release_after_failed_post(
                    context, instance, migration
                )
                raise
            self._lm_moved.add(_uuid(instance))
            return
        if outcome.job == monitor.POSTCOPY_LOST:
            raise lm_outcome.postcopy_lost(
                context, instance, CONF.host, dest, publisher, outcome
            )
        if outcome.aborted_by:
            self._lm_deliberate_abort.add(instance.uuid)
        lm_outcome.report(
            outcome,
            publisher,
            contract.PHASE_ABORTED
            if outcome.aborted_by
            else contract.PHASE_FAILED,
            instance=instance,
        )
        libvirt_migrate.run_recover_tasks(
            self._host,
            guest,
            instance,
            collections.deque(outcome.recover_tasks),
        )
        if outcome.job == 'cancelled':
            recover_method(
                context,
                instance,
                dest,
                migrate_data,
                migration_status='cancelled',
            )
        else:  # the manager's default status is 'error'
            recover_method(context, instance, dest, migrate_data)

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
                store.NovaStore(context, instance, None),
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
            if _uuid(instance) in self._lm_deliberate_abort:
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
            if _uuid(instance) in self._lm_moved:
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
            self._lm_deliberate_abort.discard(_uuid(instance))
            self._lm_moved.discard(_uuid(instance))

    def live_migration_abort(self, instance):
        mon = self._lm_monitors.get(_uuid(instance))
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
