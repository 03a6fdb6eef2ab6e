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
"""

from nova.scheduler.client import report
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


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
    try:
        client = client or report.report_client_singleton()
        deleted = client.delete_allocation_for_instance(
            context, uuid, consumer_type='migration', force=False
        )
    except Exception as exc:  # noqa: B902 - nova's error is the one to raise
        LOG.error(
            'Could not release the source allocation of migration '
            '%(mig)s after nova failed to finish the move: %(exc)s',
            {'mig': uuid, 'exc': exc},
            instance=instance,
        )
        return False
    if deleted:
        LOG.warning(
            'Released the source allocation of migration %(mig)s: the '
            'guest runs on the destination, but nova did not finish '
            'the move',
            {'mig': uuid},
            instance=instance,
        )
    return bool(deleted)
