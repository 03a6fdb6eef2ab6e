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
"""The shell of :mod:`nova_ext.core.restart`: libvirt's view and nova's steps.

:func:`resume` runs at the source's startup, :func:`after_libvirtd` when a
monitor lost libvirtd; both observe the domain, let
:func:`nova_ext.core.restart.settle` decide, then run nova's own
post-migration steps or rollback and record why (through a
:class:`nova_ext.compute.publisher.Publisher`, the only writer of the
published status).
"""

import threading
import time

from nova.compute import task_states
from nova import conf as nova_conf
from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_log import log as logging

from nova_ext.compute import publisher
from nova_ext.compute import store
from nova_ext.core import contract
from nova_ext.core import restart

LOG = logging.getLogger(__name__)
CONF = nova_conf.CONF

#: how long the settling thread waits for the manager's resource tracker
READY_S = 300


def _observe(driver, instance):
    lv = _libvirt()
    try:
        guest = driver._host.get_guest(instance)
    except exception.InstanceNotFound:
        return restart.classify(False, False, False, False)
    state, reason = guest._domain.state()[:2]
    job = guest._domain.jobInfo()[0]
    paused = state == lv.VIR_DOMAIN_PAUSED
    return restart.classify(
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
        if not _handled(driver, manager, context, instance):
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


def _handled(driver, manager, context, instance):
    try:
        migration = _running_migration(context, instance)
        if migration is None:
            return False
        ctx = _action_context(instance)
        decision = restart.settle(
            lambda: _observe(driver, instance),
            lambda: _abort(driver, instance),
            time.monotonic,
            time.sleep,
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
        if decision.step is restart.Step.LEAVE:
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
        time.sleep(restart.POLL_S)
    try:
        _apply(manager, ctx, instance, migration, decision)
    except Exception:  # noqa: B902 - a thread of its own: log it
        LOG.exception(
            'Could not %s the interrupted live migration %s',
            decision.step.value,
            migration.uuid,
            instance=instance,
        )


def _record(ctx, instance, migration, decision):
    """The event and the published phase saying what was done and why,
    through the migration's publisher: a failed write only warns, and
    nova's steps run all the same.
    """
    publisher.Publisher(
        store.NovaStore(ctx, instance, migration),
        migration.uuid,
        (instance.metadata or {}).get(contract.POLICY_USED_KEY, ''),
    ).settled(
        contract.PHASE_COMPLETED
        if decision.step is restart.Step.COMPLETE
        else contract.PHASE_FAILED,
        decision.action,
        decision.reason,
    )


def _apply(manager, ctx, instance, migration, decision):
    data = _migrate_data(manager, ctx, instance, migration)
    bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(
        ctx, instance.uuid
    )
    _record(ctx, instance, migration, decision)
    if decision.step is restart.Step.COMPLETE:
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


# -- libvirtd lost under a running monitor ------------------------------------


def _observe_when_back(driver, instance):
    """:func:`_observe`, or None while libvirtd does not answer."""
    try:
        return _observe(driver, instance)
    except (_libvirt().libvirtError, exception.HypervisorUnavailable):
        return None


def after_libvirtd(driver, exc, context, instance, dest, post, recover, data):
    """:func:`settle_after_libvirtd` if ``exc`` is libvirt's; never raises.

    Other failures (neutron refusing a token in nova's post-migration
    steps, say) are nova's to report: retrying them here would run those
    steps twice.
    """
    if not isinstance(
        exc, (_libvirt().libvirtError, exception.HypervisorUnavailable)
    ):
        return False
    try:
        return settle_after_libvirtd(
            driver, context, instance, dest, post, recover, data
        )
    except Exception:  # noqa: B902 - nova raises the monitor's error
        LOG.exception('Could not settle the migration', instance=instance)
        return False


def settle_after_libvirtd(
    driver, context, instance, dest, post, recover, data
):
    """The monitor died with its libvirt connection (libvirtd restarted).

    libvirtd recovers an outgoing migration when it starts again: it
    cancels a pre-copy and the guest runs on. Once it answers, settle the
    migration as at a restart, with nova's own callbacks of this
    migration (``post``: the post-migration steps, ``recover``: the
    rollback), instead of letting the manager set the server to ERROR.

    :returns: True if the migration was settled here
    """
    migration = getattr(data, 'migration', None)
    if migration is None:
        return False
    status = objects.Migration.get_by_id(context, migration.id).status
    instance.refresh()
    if status != 'running' or instance.task_state != task_states.MIGRATING:
        return False  # nova's callbacks already ran
    decision = restart.settle(
        lambda: _observe_when_back(driver, instance),
        lambda: _abort(driver, instance),
        time.monotonic,
        time.sleep,
        down=restart.LIBVIRTD,
    )
    LOG.warning(
        'Lost libvirtd during live migration %(mig)s: %(step)s (%(why)s)',
        {
            'mig': migration.uuid,
            'step': decision.step.value,
            'why': decision.reason or 'left to nova',
        },
        instance=instance,
    )
    if decision.step is restart.Step.LEAVE:
        return False
    _record(context, instance, migration, decision)
    if decision.step is restart.Step.COMPLETE:
        post(context, instance, dest, data.block_migration, data)
    else:
        recover(
            context, instance, dest, data, migration_status=decision.status
        )
    return True
