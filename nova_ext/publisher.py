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
"""Publish what the monitor decides where the CLI can see it.

The channels are those of ``doc/source/admin/contract.rst`` (the names in
:mod:`nova_ext.contract`): server metadata keys ``livemigrate:*`` for the
live status, one instance action event per
policy action for the audit trail, and the migration record's byte counters
and ``instance.progress`` (never going backwards) for progress.

What to write and when is decided here, without nova; the ``store`` the
driver passes (:class:`nova_ext.store.NovaStore`) is what touches nova's
objects.
"""

from oslo_log import log as logging

from nova_ext import contract
from nova_ext.observation import Phase
from nova_ext import phases

LOG = logging.getLogger(__name__)


def metadata_keys(
    migration_uuid, policy, phase, action=None, reason=None, downtime_ms=None
):
    """:returns: the metadata keys to write, all strings (nova's rule)."""
    keys = {
        contract.MIGRATION_KEY: migration_uuid or '',
        contract.POLICY_USED_KEY: policy,
        contract.PHASE_KEY: phase,
    }
    if action is not None:
        keys[contract.ACTION_KEY] = action
        keys[contract.REASON_KEY] = (reason or '')[:255]
    if downtime_ms is not None:
        keys[contract.DOWNTIME_KEY] = str(int(downtime_ms))
    return keys


def progress_percent(memory_total, memory_remaining, previous):
    """Progress that never goes backwards through the saw-tooth.

    :returns: int 0-100, at least ``previous``
    """
    if not memory_total:
        return previous or 0
    now = 100 - round(memory_remaining * 100 / memory_total)
    return max(previous or 0, min(100, max(0, now)))


class Publisher:
    """Writes one migration's status through a ``store``.

    ``store`` has ``metadata(keys)``, ``event(name, failure_reason)`` and
    ``stats(obs, progress)``; the driver passes one backed by nova objects,
    tests pass a recorder.
    """

    def __init__(self, store, migration_uuid, policy_name, enabled=True):
        self.store = store
        self.migration_uuid = migration_uuid
        self.policy_name = policy_name
        self.enabled = enabled
        self.phase = Phase.PRECOPY.value
        self.progress = 0
        self.last = (None, None)

    def _write(self, **kw):
        if not self.enabled:
            return
        try:
            self.store.metadata(
                metadata_keys(
                    self.migration_uuid, self.policy_name, self.phase, **kw
                )
            )
        except Exception as exc:  # status must never break a migration
            LOG.warning('Could not publish migration status: %s', exc)

    def started(self, refusals=()):
        """Announce the policy in charge, and any refused request."""
        for refusal in refusals:
            LOG.warning('Live migration policy request refused: %s', refusal)
            self._event(contract.ACTION_POLICY_REFUSED, refusal)
            self.last = (contract.ACTION_POLICY_REFUSED, refusal)
        self._write(action=self.last[0], reason=self.last[1])

    def decision(self, decision, obs):
        """One action was taken: audit it and publish it."""
        # NOTE: published as asked, even when libvirt refused the call
        after = phases.PHASE_AFTER_ACTION.get(decision.action)
        if after is not None:
            self.phase = after.value
        self.last = (decision.action.value, decision.reason)
        self._event(decision.action.value, None)
        self._write(
            action=self.last[0],
            reason=self.last[1],
            downtime_ms=decision.downtime_ms or obs.downtime_ms,
        )

    def postcopy_link(self, broken, obs):
        """The connection broke during post-copy, or the stream resumed."""
        if broken:
            self.phase = contract.PHASE_POSTCOPY_FAILED
            action, reason = (
                contract.ACTION_POSTCOPY_FAILED,
                (
                    'the connection to the destination broke during '
                    'post-copy; '
                    'the guest is paused until it returns'
                ),
            )
        else:
            self.phase = Phase.POSTCOPY.value
            action, reason = (
                contract.ACTION_POSTCOPY_RESUMED,
                ('post-copy resumed after the connection returned'),
            )
        self.last = (action, reason)
        self._event(action, reason if broken else None)
        self._write(action=action, reason=reason, downtime_ms=obs.downtime_ms)

    def stats(self, obs):
        """Every monitor interval: bytes, progress, phase."""
        self.progress = progress_percent(
            obs.memory_total_bytes, obs.memory_remaining_bytes, self.progress
        )
        try:
            self.store.stats(obs, self.progress)
        except Exception as exc:
            LOG.warning('Could not save migration stats: %s', exc)
        self._write(
            action=self.last[0],
            reason=self.last[1],
            downtime_ms=obs.downtime_ms,
        )

    def finished(self, phase, reason=None):
        """The job ended: completed, aborted or failed."""
        self.phase = phase
        if reason:
            self.last = (self.last[0] or phase, reason)
        self._write(action=self.last[0], reason=self.last[1])

    def _event(self, action, failure_reason):
        if not self.enabled:
            return
        try:
            self.store.event(contract.EVENT_PREFIX + action, failure_reason)
        except Exception as exc:
            LOG.warning('Could not record instance action event: %s', exc)
