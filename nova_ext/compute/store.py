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
"""Where the published status goes on a compute host: nova's objects.

The publisher (:class:`nova_ext.compute.publisher.Publisher`) decides what
to write and when, and is the only caller of this store's three write
methods; the store is the only code that touches nova's objects for it:
the server's metadata, its instance action events, and the migration
record with ``instance.progress``. A store raises what nova raises; the
publisher catches and logs it. Tests of the publisher pass a recorder
instead.
"""

from nova import conf as nova_conf
from nova import objects

CONF = nova_conf.CONF


class NovaStore:
    """The publisher's store, backed by nova objects.

    See :class:`nova_ext.compute.publisher.Publisher` for the three methods
    and who calls them (only a publisher).
    """

    def __init__(self, context, instance, migration):
        self.context = context
        self.instance = instance
        self.migration = migration

    def metadata(self, keys):
        """Merge ``keys`` into the server's metadata; ``keys`` may be a
        function of the metadata now, giving the keys to merge.
        """
        # NOTE: a fresh object, so that keys users set meanwhile survive
        fresh = objects.Instance.get_by_uuid(
            self.context, self.instance.uuid, expected_attrs=['metadata']
        )
        merged = dict(fresh.metadata)
        merged.update(keys(dict(fresh.metadata)) if callable(keys) else keys)
        if merged != fresh.metadata:
            fresh.metadata = merged
            fresh.save()

    def event(self, name, failure_reason):
        objects.InstanceActionEvent.event_start(
            self.context,
            self.instance.uuid,
            name,
            want_result=False,
            host=CONF.host,
        )
        # NOTE: nova marks an event 'Error' (and keeps its details) only
        # when a traceback is given; a refusal has none, so its reason is
        # passed as one.
        objects.InstanceActionEvent.event_finish_with_failure(
            self.context,
            self.instance.uuid,
            name,
            exc_val=failure_reason,
            exc_tb=failure_reason or None,
            want_result=False,
        )

    def stats(self, obs, progress):
        mig = self.migration
        if mig is None:
            return
        mig.memory_total = obs.memory_total_bytes
        mig.memory_processed = obs.memory_processed_bytes
        mig.memory_remaining = obs.memory_remaining_bytes
        # NOTE: as nova's save_stats: a block migration's disk copy
        mig.disk_total = obs.disk_total_bytes
        mig.disk_processed = obs.disk_processed_bytes
        mig.disk_remaining = obs.disk_remaining_bytes
        mig.save()
        self.instance.progress = progress
        self.instance.save()
