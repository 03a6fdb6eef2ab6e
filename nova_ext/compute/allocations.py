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
"""The source's placement allocation after a move nova did not finish.

A live migration's source allocation belongs to the migration (consumer
type ``migration``); nova's ``_post_live_migration`` deletes it at its
very end (``_delete_allocation_after_move``). When a step before that
raises after the guest has moved (neutron refusing an expired user
token in ``migrate_instance_start``, a message bus that is down), the
allocation stays on the source's resource provider with no server and
no migration in progress to own it: the host loses a guest's room for
good. The guest's resources are used on the destination, where the
instance's own allocation already is, so the driver deletes the
migration's, as nova would have, with placement's service credentials
(the user's token may be what failed).

A post-copy given up on (:mod:`nova_ext.core.recovery`) keeps both halves of
the guest, so both allocations rightly stay while the server exists.
When it is deleted, nova deletes the server's allocation only; the
migration's, on the source, would stay for good. The source is the host
nova deletes through, so its ``destroy`` releases it
(:class:`ReleasedOnDelete`).
"""

from nova.compute import task_states
from nova import conf as nova_conf
from nova import objects
from nova.scheduler.client import report
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
CONF = nova_conf.CONF


def release_after_failed_post(context, instance, migration, client=None):
    """Delete the migration's allocation on the source; never raises.

    :returns: True if placement held one and it is gone
    """
    uuid = getattr(migration, 'uuid', None)
    if not uuid:
        LOG.error(
            'Live migration moved the guest but nova did not finish it, '
            'and no migration record names its source allocation: it '
            'stays in placement until "nova-manage placement audit '
            '--delete"',
            instance=instance,
        )
        return False
    deleted = _delete(context, instance, uuid, client)
    if deleted:
        LOG.warning(
            'Released the source allocation of migration %(mig)s: the '
            'guest runs on the destination, but nova did not finish '
            'the move',
            {'mig': uuid},
            instance=instance,
        )
    return deleted


class ReleasedOnDelete:
    """``destroy`` of a server being deleted also releases the source
    allocations of its live migrations that ended in ``error`` from this
    host: no guest is left for them once the server is gone.
    """

    def destroy(self, context, instance, *args, **kwargs):
        super().destroy(context, instance, *args, **kwargs)
        if getattr(instance, 'task_state', None) == task_states.DELETING:
            release_ended_in_error(context, instance, CONF.host)


def release_ended_in_error(context, instance, host, client=None):
    """Release the source allocations of ``instance``'s live migrations
    that ended in ``error`` from ``host``; never raises.

    :returns: the uuids of the migrations whose allocation was deleted
    """
    try:
        migrations = objects.MigrationList.get_by_filters(
            context,
            {
                'instance_uuid': instance.uuid,
                'migration_type': 'live-migration',
                'status': 'error',
                'source_compute': host,
            },
        )
    except Exception as exc:  # noqa: B902 - the delete must go on
        LOG.warning(
            'Could not list the migrations of a deleted server: %s',
            exc,
            instance=instance,
        )
        return []
    released = [
        m.uuid
        for m in migrations
        if _delete(context, instance, m.uuid, client)
    ]
    if released:
        LOG.warning(
            'Released the source allocation of migration(s) %s, which '
            'ended in error (a post-copy given up on keeps it), as the '
            'server is deleted',
            ', '.join(released),
            instance=instance,
        )
    return released


def _delete(context, instance, uuid, client):
    """Delete migration ``uuid``'s allocation; never raises.

    :returns: True if placement held one and it is gone
    """
    try:
        client = client or report.report_client_singleton()
        return bool(
            client.delete_allocation_for_instance(
                context, uuid, consumer_type='migration', force=False
            )
        )
    except Exception as exc:  # noqa: B902 - nova's error is the one to raise
        LOG.error(
            'Could not release the source allocation of migration '
            '%(mig)s: %(exc)s',
            {'mig': uuid, 'exc': exc},
            instance=instance,
        )
        return False
