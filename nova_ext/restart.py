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
"""Finish, at the source's restart, a live migration nova-compute lost.

libvirt drives a peer-to-peer migration by itself: when the source's
nova-compute dies, the job goes on, and a post-copy usually ends while the
service is down. nova's startup (``ComputeManager._init_instance`` ->
``_reset_live_migration``) then aborts a job that may be over, sets the
migration to ``error`` and leaves the source as the server's host, without
rolling the destination back or touching placement: in post-copy the only
guest then runs on the destination, unknown to nova.

The driver's ``process_instances_at_startup`` runs after the host checks
and before ``_init_instance``. For every server of this host that is
``migrating`` with a ``running`` migration from here, it looks at the
local domain and decides (:func:`decide`, pure):

============================  ==========================================
what libvirt shows here       what the driver does, and why
============================  ==========================================
no domain                     libvirt finished and undefined the source:
                              run nova's ``_post_live_migration`` (the
                              destination takes the server; source disks,
                              allocation and record are settled as on a
                              normal end) -> ``completed``
job in post-copy              cannot be aborted (only the destination has
                              the newest pages): wait for libvirt to end
                              it, then decide again
job in pre-copy               abort the job and roll back with nova's
                              ``_rollback_live_migration`` -> ``error``.
                              Re-attaching a monitor is not done: the
                              migration thread that owned the job (its
                              post/recover callbacks, the block devices
                              it saved) died with the process, and a copy
                              of it here would re-implement nova's.
                              The guest keeps running on the source.
domain, no job                the job failed while nobody watched (its
                              libvirtd restarted, say): roll back
post-copy failed              left to nova (the recovery window belongs
                              to the live monitor, :mod:`nova_ext.recovery`)
============================  ==========================================

The decision is taken during startup (an abort cannot wait); nova's steps
run in a thread once the manager's resource tracker exists, which nova
builds only after ``init_host``. The outcome and its reason become an
instance action event of the migration's own action
(``livemigrate_restart-completed`` or ``livemigrate_restart-rolled-back``);
the server is no longer handed to ``_init_instance``. A failure before the
decision leaves the server to nova's own startup handling, as before.
"""

import dataclasses
import enum
import threading
import time

from nova.compute import task_states
from nova import conf as nova_conf
from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_log import log as logging

from nova_ext import contract
from nova_ext import publisher
from nova_ext import store

LOG = logging.getLogger(__name__)
CONF = nova_conf.CONF

#: how long startup waits for a post-copy or an aborted pre-copy to end
WAIT_S = 120
POLL_S = 1.0
#: how long the settling thread waits for the manager's resource tracker
READY_S = 300


class Seen(enum.Enum):
    """What the source's libvirt shows for the migrating server."""

    GONE = 'no domain'
    POSTCOPY = 'post-copy'
    PRECOPY = 'pre-copy'
    POSTCOPY_FAILED = 'post-copy failed'
    IDLE = 'no job'


class Step(enum.Enum):
    COMPLETE = 'complete'
    WAIT = 'wait'
    ABORT = 'abort'
    ROLLBACK = 'rollback'
    LEAVE = 'leave'


@dataclasses.dataclass(frozen=True)
class Decision:
    step: Step
    #: the instance action event (without prefix) and the migration status
    action: str = None
    status: str = None
    reason: str = ''


def classify(present, job_active, postcopy, postcopy_failed):
    """:returns: the :class:`Seen` for what libvirt reports.

    >>> classify(False, False, False, False).name
    'GONE'
    >>> classify(True, True, True, False).name
    'POSTCOPY'
    """
    if not present:
        return Seen.GONE
    if postcopy_failed:
        return Seen.POSTCOPY_FAILED
    if job_active:
        return Seen.POSTCOPY if postcopy else Seen.PRECOPY
    return Seen.IDLE


def decide(seen, aborted=False):
    """The step for ``seen``; ``aborted``: we aborted the pre-copy job.

    >>> decide(Seen.GONE).status
    'completed'
    >>> decide(Seen.PRECOPY).step.name
    'ABORT'
    """
    if seen is Seen.GONE:
        how = (
            'pre-copy ended before the abort took hold'
            if aborted
            else 'libvirt finished the migration'
        )
        return Decision(
            Step.COMPLETE,
            contract.ACTION_RESTART_COMPLETED,
            'completed',
            '%s while nova-compute on the source was down; nova-compute '
            'completed the move at its restart' % how,
        )
    if seen is Seen.POSTCOPY:
        return Decision(Step.WAIT)
    if seen is Seen.PRECOPY:
        return Decision(Step.ABORT)
    if seen is Seen.IDLE:
        why = (
            'nova-compute on the source restarted during pre-copy: no '
            'monitor followed the job, so it was aborted'
            if aborted
            else 'the migration job ended without moving the guest while '
            'nova-compute on the source was down'
        )
        return Decision(
            Step.ROLLBACK,
            contract.ACTION_RESTART_ROLLED_BACK,
            'error',
            '%s; rolled back, the guest runs on the source' % why,
        )
    return Decision(Step.LEAVE)


def settle(observe, abort, clock=time.monotonic, sleep=time.sleep):
    """Observe, wait out a post-copy, abort a pre-copy; the final step.

    :param observe: returns the :class:`Seen` now
    :param abort: aborts the libvirt job
    """
    aborted = False
    deadline = clock() + WAIT_S
    while True:
        decision = decide(observe(), aborted)
        if decision.step is Step.ABORT and not aborted:
            abort()
            aborted = True
        elif decision.step not in (Step.WAIT, Step.ABORT):
            return decision
        if clock() > deadline:
            return Decision(Step.LEAVE)
        sleep(POLL_S)


# -- the shell: libvirt and nova ---------------------------------------------


def _observe(driver, instance):
    lv = _libvirt()
    try:
        guest = driver._host.get_guest(instance)
    except exception.InstanceNotFound:
        return classify(False, False, False, False)
    state, reason = guest._domain.state()[:2]
    job = guest._domain.jobInfo()[0]
    paused = state == lv.VIR_DOMAIN_PAUSED
    return classify(
        True,
        job not in (lv.VIR_DOMAIN_JOB_NONE, lv.VIR_DOMAIN_JOB_COMPLETED),
        (paused and reason == lv.VIR_DOMAIN_PAUSED_POSTCOPY)
        or (
            state == lv.VIR_DOMAIN_RUNNING
            and reason == lv.VIR_DOMAIN_RUNNING_POSTCOPY
        ),
        paused and reason == lv.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
    )


def _libvirt():
    from nova.virt.libvirt import driver as libvirt_driver

    return libvirt_driver.libvirt


def _abort(driver, instance):
    try:
        driver._host.get_guest(instance).abort_job()
    except Exception as exc:  # noqa: B902 - the job may have just ended
        LOG.info('Abort at restart: %s', exc, instance=instance)


def _action_context(instance):
    """An admin context carrying the live-migration action's request id,
    so that events join that action.
    """
    ctx = nova_context.get_admin_context()
    actions = objects.InstanceActionList.get_by_instance_uuid(
        ctx, instance.uuid
    )
    mine = [a for a in actions if a.action == 'live-migration']
    if mine:
        ctx.request_id = max(mine, key=lambda a: a.start_time).request_id
    return ctx


def _migrate_data(manager, ctx, instance, migration):
    """What nova's migration thread had in memory, rebuilt from the
    records: the disks' sharing is asked of the destination, as nova's
    evacuation does.
    """
    shared = manager._is_instance_storage_shared(
        ctx, instance, host=migration.dest_compute
    )
    return objects.LibvirtLiveMigrateData(
        migration=migration,
        is_shared_instance_path=shared,
        is_shared_block_storage=shared,
        block_migration=not shared,
        instance_relative_path=instance.uuid,
    )


def resume(driver, context, instances):
    """Settle this host's lost migrations; the instances left to nova."""
    manager = getattr(driver.virtapi, '_compute', None)
    if manager is None:
        return instances
    left = []
    for instance in instances:
        if not _handled(driver, manager, instance):
            left.append(instance)
    if len(left) == len(instances):
        return instances
    return objects.InstanceList(context, objects=left)


def _running_migration(ctx, instance):
    if instance.task_state != task_states.MIGRATING:
        return None
    try:
        migration = objects.Migration.get_by_instance_and_status(
            ctx, instance.uuid, 'running'
        )
    except exception.MigrationNotFoundByStatus:
        return None
    return migration if migration.source_compute == CONF.host else None


def _handled(driver, manager, instance):
    try:
        ctx = _action_context(instance)
        migration = _running_migration(ctx, instance)
        if migration is None:
            return False
        decision = settle(
            lambda: _observe(driver, instance),
            lambda: _abort(driver, instance),
        )
        LOG.warning(
            'Live migration %(mig)s to %(dest)s was in progress when '
            'nova-compute stopped: %(step)s (%(reason)s)',
            {
                'mig': migration.uuid,
                'dest': migration.dest_compute,
                'step': decision.step.value,
                'reason': decision.reason or 'left to nova',
            },
            instance=instance,
        )
        if decision.step is Step.LEAVE:
            return False
        threading.Thread(
            target=_apply_when_ready,
            args=(manager, ctx, instance, migration, decision),
            daemon=True,
        ).start()
        return True
    except Exception:  # noqa: B902 - nova's startup must go on
        LOG.exception(
            'Could not settle the interrupted live migration; nova '
            'resets it as it always did',
            instance=instance,
        )
        return False


def _apply_when_ready(manager, ctx, instance, migration, decision):
    """nova's steps need the resource tracker, which the manager builds
    only after startup (its first ``update_available_resource``).
    """
    deadline = time.monotonic() + READY_S
    while getattr(manager.rt, 'pci_tracker', None) is None:
        if time.monotonic() > deadline:
            LOG.error(
                'The resource tracker was not ready after %d s: live '
                'migration %s is left as it is',
                READY_S,
                migration.uuid,
                instance=instance,
            )
            return
        time.sleep(POLL_S)
    try:
        _apply(manager, ctx, instance, migration, decision)
    except Exception:  # noqa: B902 - a thread of its own: log it
        LOG.exception(
            'Could not %s the interrupted live migration %s',
            decision.step.value,
            migration.uuid,
            instance=instance,
        )


def _apply(manager, ctx, instance, migration, decision):
    data = _migrate_data(manager, ctx, instance, migration)
    bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(
        ctx, instance.uuid
    )
    out = store.NovaStore(ctx, instance, migration)
    out.event(contract.EVENT_PREFIX + decision.action, decision.reason)
    out.metadata(
        publisher.metadata_keys(
            migration.uuid,
            instance.metadata.get(contract.POLICY_USED_KEY, ''),
            contract.PHASE_COMPLETED
            if decision.step is Step.COMPLETE
            else contract.PHASE_FAILED,
            decision.action,
            decision.reason,
        )
    )
    if decision.step is Step.COMPLETE:
        manager._post_live_migration(
            ctx,
            instance,
            migration.dest_compute,
            block_migration=data.block_migration,
            migrate_data=data,
            source_bdms=bdms,
        )
    else:
        manager._rollback_live_migration(
            ctx,
            instance,
            migration.dest_compute,
            migrate_data=data,
            migration_status=decision.status,
            source_bdms=bdms,
        )
