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
"""One live migration leaving this host, from its policy to nova's steps.

nova's migration thread hands its monitor the guest, the destination and
two callbacks (:class:`Handover`); the driver builds one
:class:`OutgoingMigration` with them and runs it, which:

1. chooses the policy (:mod:`nova_ext.compute.choice`) and builds the
   migration's publisher, shadows, metrics and listener;
2. runs the :class:`nova_ext.compute.monitor.Monitor`, findable by nova's
   abort call meanwhile;
3. ends the migration as its job ended: a completed job publishes its
   figures and runs nova's post-migration steps once the message bus
   answers (:mod:`nova_ext.compute.bus`); a post-copy given up on raises
   with a fault and rolls nothing back (:mod:`nova_ext.core.recovery`);
   any other end publishes it, recovers the guest on the source and
   calls nova's rollback.
"""

import collections
import dataclasses
import os
import typing

from nova import conf as nova_conf
from nova.virt.libvirt import migration as libvirt_migrate
from oslo_log import log as logging

from nova_ext.compute import allocations
from nova_ext.compute import bus
from nova_ext.compute import choice
from nova_ext.compute import metrics as lm_metrics
from nova_ext.compute import monitor
from nova_ext.compute import outcome as lm_outcome
from nova_ext.compute import publisher as lm_publisher
from nova_ext.compute import shadows as lm_shadows
from nova_ext.compute import store
from nova_ext.core import contract
from nova_ext.core import loader
from nova_ext.core import observation

LOG = logging.getLogger(__name__)
CONF = nova_conf.CONF


def instance_uuid(instance):
    """nova passes Instance objects, some of nova's tests pass dicts."""
    return instance['uuid'] if isinstance(instance, dict) else instance.uuid


@dataclasses.dataclass(frozen=True)
class Handover:
    """What nova's migration thread hands its monitor: the arguments of
    ``LibvirtDriver._live_migration_monitor``, in nova's order.
    """

    context: typing.Any
    instance: typing.Any
    guest: typing.Any
    dest: str
    post_method: typing.Callable
    recover_method: typing.Callable
    block_migration: bool
    migrate_data: typing.Any
    finish_event: typing.Any
    disk_paths: typing.Sequence[str]


class OutgoingMigration:
    """One live migration leaving this host; run it once.

    :param driver: the :class:`nova_ext.compute.driver.LibvirtDriver`,
        for what every migration of this host shares: the policy choice
        (``_choose_policy``, ``_params_for``), the permits (``_permits``,
        ``_get_migration_flags``), the monitor config and the process's
        metrics, nova's control queues (``active_migrations``), the
        running monitors (``_lm_monitors``, for abort), the ended
        migrations nova's manager must not fail (``_lm_moved``,
        ``_lm_deliberate_abort``), the port activation at the post-copy
        switch and nova's own helpers (``_clear_empty_migration``,
        ``_host``)
    :param nova: the :class:`Handover`
    """

    def __init__(self, driver, nova):
        self.driver = driver
        self.nova = nova
        self.migration = choice.loaded(nova.migrate_data, 'migration')
        self.publisher = None
        self.metrics = None
        self.monitor = None

    def run(self):
        """Watch the job to its end, then end the migration as nova would.

        :raises: what nova's post-migration steps raise, or the fault of a
            post-copy given up on
        """
        self._start()
        ended = self._watch()
        if ended.job == 'completed':
            self._completed(ended)
        elif ended.job == monitor.POSTCOPY_LOST:
            raise lm_outcome.postcopy_lost(
                self.nova.context,
                self.nova.instance,
                CONF.host,
                self.nova.dest,
                self.publisher,
                ended,
            )
        else:
            self._stopped(ended)

    def _migration_context(self, permits):
        sizes = [
            os.stat(p).st_size
            for p in self.nova.disk_paths
            if os.path.exists(p)
        ]
        return observation.MigrationContext(
            ram_bytes=self.nova.instance.flavor.memory_mb * observation.MIB,
            permits=permits,
            disk_bytes=sum(sizes),
            disk_count=len(sizes),
        )

    def _start(self):
        """Choose the policy; build the publisher, shadows, metrics and
        the monitor that reports to them.
        """
        drv, nova, instance = self.driver, self.nova, self.nova.instance
        flags = drv._get_migration_flags(nova.migrate_data.block_migration)
        permits = drv._permits(instance, flags)
        context_ = self._migration_context(permits)
        chosen, policy = drv._choose_policy(instance, context_)
        LOG.info(
            'Live migration policy %(name)s (from %(source)s), '
            'permits %(permits)s',
            {'name': chosen.name, 'source': chosen.source, 'permits': permits},
            instance=instance,
        )
        self.publisher = lm_publisher.Publisher(
            store.NovaStore(nova.context, instance, self.migration),
            choice.loaded(self.migration, 'uuid'),
            chosen.name,
            CONF.livemigrate.publish_status,
        )
        shadow_policies = lm_shadows.build(
            CONF.livemigrate.shadow_policies,
            context_,
            drv._params_for,
            loader.build_policy,
            instance,
        )
        self.publisher.started(chosen.refusals, chosen.asked, shadow_policies)
        start_phase = (
            observation.Phase.POSTCOPY
            if choice.loaded(self.migration, 'status') == 'running (post-copy)'
            else observation.Phase.PRECOPY
        )
        self.metrics = lm_metrics.MigrationMetrics(
            drv._lm_metrics, instance.uuid, chosen.name, start_phase
        )
        # NOTE: nova's own per-instance task deque is the control channel,
        # so force-complete requests keep arriving exactly as nova queues them
        controls = drv.active_migrations.setdefault(
            instance.uuid, collections.deque()
        )
        listener = lm_publisher.Listener(
            self.publisher,
            lambda: drv._activate_destination_ports(
                nova.context, instance, self.migration
            ),
            self.metrics,
        )
        self.monitor = monitor.Monitor(
            nova.guest,
            policy,
            drv._lm_monitor_config,
            listener,
            instance=instance,
            controls=controls,
            phase=start_phase,
            postcopy_enabled=permits.postcopy,
            job_end=self._job_end,
            shadows=lm_shadows.Shadows(
                shadow_policies,
                drv._lm_monitor_config.stats_interval_s,
                listener.shadow,
                instance,
            ),
        )

    def _job_end(self):
        """libvirt's job type once nova's migrate call returned, else
        None (the monitor's ``job_end``).
        """
        if not self.nova.finish_event.done():
            return None
        return libvirt_migrate.find_job_type(
            self.nova.guest, self.nova.instance
        )

    def _watch(self):
        """Run the monitor, findable by nova's abort call meanwhile."""
        drv, instance = self.driver, self.nova.instance
        drv._lm_monitors[instance.uuid] = self.monitor
        try:
            return self.monitor.run()
        finally:
            drv._lm_monitors.pop(instance.uuid, None)
            drv._clear_empty_migration(instance)
            self.metrics.ended(
                lm_outcome.STATUS.get(self.monitor.outcome.job, 'error'),
                self.monitor.outcome.elapsed_s,
            )

    def _completed(self, ended):
        """The final status, then nova's post-migration steps, once the
        message bus answers; a move nova failed to finish releases the
        source's allocation.
        """
        nova = self.nova
        steps = bus.PostSteps(
            bus.services_ping(nova.context, nova.dest),
            CONF.livemigrate.post_migration_bus_window_s,
        )
        # NOTE: one Ending: a final status lost to the bus is written
        # again, nova's line is logged once
        ending = lm_outcome.Ending(
            ended,
            self.publisher,
            contract.PHASE_COMPLETED,
            nova.guest,
            nova.instance,
        )
        try:
            steps.complete(
                ending.publish,
                lambda: nova.post_method(
                    nova.context,
                    nova.instance,
                    nova.dest,
                    nova.block_migration,
                    nova.migrate_data,
                ),
                self.publisher,
            )
        except Exception:
            allocations.release_after_failed_post(
                nova.context, nova.instance, self.migration
            )
            raise
        self.driver._lm_moved.add(instance_uuid(nova.instance))

    def _stopped(self, ended):
        """Aborted or failed: publish it, recover the guest on the source,
        then nova's rollback with the status nova would set.
        """
        nova = self.nova
        if ended.aborted_by:
            self.driver._lm_deliberate_abort.add(nova.instance.uuid)
        lm_outcome.report(
            ended,
            self.publisher,
            contract.PHASE_ABORTED
            if ended.aborted_by
            else contract.PHASE_FAILED,
            instance=nova.instance,
        )
        libvirt_migrate.run_recover_tasks(
            self.driver._host,
            nova.guest,
            nova.instance,
            collections.deque(ended.recover_tasks),
        )
        if ended.job == 'cancelled':
            nova.recover_method(
                nova.context,
                nova.instance,
                nova.dest,
                nova.migrate_data,
                migration_status='cancelled',
            )
        else:  # the manager's default status is 'error'
            nova.recover_method(
                nova.context, nova.instance, nova.dest, nova.migrate_data
            )
