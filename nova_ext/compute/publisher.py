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
:mod:`nova_ext.core.contract`): server metadata keys ``livemigrate:*`` for the
live status, one instance action event per
policy action for the audit trail, and the migration record's byte counters
and ``instance.progress`` (never going backwards) for progress.

:class:`Publisher` is the only writer of these channels: the monitor's
listener, the outcome of a job (:mod:`nova_ext.compute.outcome`), the shadow
policies, the destination's measured downtime and a migration settled after
a restart (:mod:`nova_ext.compute.settle`) all write through it. What to
write and when is decided here, without nova; the ``store`` the
driver passes (:class:`nova_ext.compute.store.NovaStore`) is what touches
nova's objects, and nothing but a publisher calls it.
"""

import json

from oslo_log import log as logging

from nova_ext.compute import monitor
from nova_ext.core import contract
from nova_ext.core.observation import Action
from nova_ext.core.observation import Phase
from nova_ext.core import phases

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


#: nova keeps metadata values of at most this many characters
MAX_VALUE = 255


def refusal_value(asked, used, refusals):
    """The value of ``livemigrate:policy_refused``: JSON that fits nova.

    The reasons are cut (never the JSON) so the value stays parseable.
    Example: ``refusal_value('turbo', 'nova', ["server metadata asks for
    policy 'turbo', which is not installed (installed: nova)"])`` gives
    ``{"asked": "turbo", "used": "nova", "reason": "server metadata asks
    ..."}``; no refusal gives ``''``, which clears an earlier migration's.
    """
    if not refusals:
        return ''
    reason = '; '.join(refusals)
    fields = {'asked': (asked or '?')[:64], 'used': used, 'reason': reason}
    value = json.dumps(fields, ensure_ascii=False)
    keep = min(len(reason), MAX_VALUE)
    while len(value) > MAX_VALUE:  # at most MAX_VALUE short dumps
        keep -= 1
        fields['reason'] = reason[:keep] + '...'
        value = json.dumps(fields, ensure_ascii=False)
    return value


def progress_percent(total, remaining, previous):
    """Progress that never goes backwards through the saw-tooth.

    The publisher passes memory and disk bytes together, so a block
    migration's percentage counts its disks as nova's ``data_gb`` does.

    :returns: int 0-100, at least ``previous``
    """
    if not total:
        return previous or 0
    now = 100 - round(remaining * 100 / total)
    return max(previous or 0, min(100, max(0, now)))


class Publisher:
    """The one writer of one migration's status, through a ``store``.

    ``store`` has three write methods: ``metadata(keys)`` (``keys`` a dict,
    or ``f(current metadata)`` giving one), ``event(name, failure_reason)``
    and ``stats(obs, progress)``. The driver passes a
    :class:`nova_ext.compute.store.NovaStore`, tests pass a recorder.

    What a publisher guarantees:

    - every store write goes through :meth:`_guarded`, the one place where
      a failed write is caught and logged as a warning: no method here
      raises what the store raises, so a status write never breaks a
      migration; ``last_error`` keeps what the last write raised (None: it
      was written), for the caller that must tell a bus outage
      (:meth:`nova_ext.compute.bus.PostSteps.complete`); computing the
      final figures is not a write, and a failure there only warns too
      (:meth:`finished`);
    - with ``enabled`` false (``[livemigrate] publish_status``) no
      metadata key and no event is written; the migration record's bytes
      and ``instance.progress`` are nova's own fields, written as nova's
      monitor does, always.

    The writes a migration makes, one method each: :meth:`started`,
    :meth:`decision`, :meth:`shadow`, :meth:`stats`, :meth:`postcopy_link`,
    :meth:`finished` and :meth:`post_steps_waited` on the source while the
    job runs and ends; :meth:`settled` for a migration a restart
    interrupted; :meth:`measured_downtime` on the destination.
    """

    def __init__(self, store, migration_uuid, policy_name, enabled=True):
        self.store = store
        self.migration_uuid = migration_uuid
        self.policy_name = policy_name
        self.enabled = enabled
        self.phase = Phase.PRECOPY.value
        self.progress = 0
        self.last = (None, None)
        #: what the last store write raised (None: it was written)
        self.last_error = None

    def _guarded(self, what, write, *args):
        """Call ``write(*args)``, a store method; a failure only warns.

        :param what: what was not done, for the warning
        """
        try:
            write(*args)
        except Exception as exc:  # status must never break a migration
            self.last_error = exc
            LOG.warning('Could not %s: %s', what, exc)
        else:
            self.last_error = None

    def _write(self, extra=None, **kw):
        if not self.enabled:
            return
        keys = metadata_keys(
            self.migration_uuid, self.policy_name, self.phase, **kw
        )
        keys.update(extra or {})
        self._guarded('publish migration status', self.store.metadata, keys)

    def started(self, refusals=(), asked=None, shadows=()):
        """Announce the policy in charge, and any refused request.

        The refusal also goes under its own key, written with the first
        status of the migration and never again, so it stays while later
        actions overwrite ``livemigrate:reason``; an empty value clears
        the refusal of an earlier migration. ``shadows`` names the shadow
        policies running beside the active one.
        """
        for refusal in refusals:
            LOG.warning('Live migration policy request refused: %s', refusal)
            self._event(contract.ACTION_POLICY_REFUSED, refusal)
            self.last = (contract.ACTION_POLICY_REFUSED, refusal)
        self._write(
            extra={
                contract.REFUSAL_KEY: refusal_value(
                    asked, self.policy_name, refusals
                ),
                contract.SHADOWS_KEY: ','.join(shadows)[:MAX_VALUE],
            },
            action=self.last[0],
            reason=self.last[1],
        )

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

    def shadow(self, name, decision):
        """A shadow policy would have acted: its event, nothing else."""
        self._record(
            '%s%s:%s'
            % (contract.SHADOW_EVENT_PREFIX, name, decision.action.value),
            None,
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

    def post_steps_waited(self, steps):
        """The final status and nova's steps waited for the message bus
        (a :class:`nova_ext.compute.bus.PostSteps` that saw an outage).
        """
        self._event(
            contract.ACTION_POST_STEPS_WAITED,
            'the message bus was unreachable when the job completed '
            "(%s: %s); the final status and nova's post-migration steps "
            'ran once nova-conductor answered (%.0f s of waiting)'
            % (type(steps.outage).__name__, steps.outage, steps.waited_s()),
        )

    def stats(self, obs):
        """Every monitor interval: bytes, progress, phase."""
        self.progress = progress_percent(
            obs.memory_total_bytes + obs.disk_total_bytes,
            obs.memory_remaining_bytes + obs.disk_remaining_bytes,
            self.progress,
        )
        self._guarded(
            'save migration stats', self.store.stats, obs, self.progress
        )
        self._write(
            action=self.last[0],
            reason=self.last[1],
            downtime_ms=obs.downtime_ms,
        )

    def finished(self, phase, reason=None, figures=None):
        """The job ended: completed, aborted or failed.

        :param figures: ``f(last)`` giving more keys to write with the end
            phase (the final figures), from the last ``(action, reason)``
        """
        self.phase = phase
        if reason:
            self.last = (self.last[0] or phase, reason)
        extra = None
        if figures and self.enabled:
            try:
                extra = figures(self.last)
            except Exception as exc:  # figures must never break a migration
                LOG.warning('Could not compute the final figures: %s', exc)
        self._write(extra=extra, action=self.last[0], reason=self.last[1])

    def settled(self, phase, action, reason):
        """A migration a restart interrupted was settled: the end phase,
        with the action taken and why (:mod:`nova_ext.compute.settle`).
        """
        self.phase = phase
        self.last = (action, reason)
        self._event(action, reason)
        self._write(action=action, reason=reason)

    def measured_downtime(self, keys):
        """On the destination, once the job completed: merge ``keys``, a
        function of the server's metadata now giving the keys to write
        (:func:`nova_ext.compute.outcome.measured_keys`).
        """
        if self.enabled:
            self._guarded(
                'publish the measured downtime', self.store.metadata, keys
            )

    def _event(self, action, failure_reason):
        self._record(contract.EVENT_PREFIX + action, failure_reason)

    def _record(self, name, failure_reason):
        if self.enabled:
            self._guarded(
                'record instance action event',
                self.store.event,
                name,
                failure_reason,
            )


class Listener(monitor.Listener):
    """Publishes what the monitor reports, feeds the metrics, and moves
    the ports at the switch to post-copy.
    """

    def __init__(self, publisher, at_postcopy, metrics=None):
        self.publisher = publisher
        self.at_postcopy = at_postcopy
        self.metrics = metrics or monitor.Listener()

    def decision(self, decision, obs):
        self.metrics.decision(decision, obs)
        self.publisher.decision(decision, obs)
        if decision.action is Action.POSTCOPY:
            self.at_postcopy()

    def stats(self, obs):
        self.metrics.stats(obs)
        self.publisher.stats(obs)

    def postcopy_link(self, broken, obs):
        self.metrics.postcopy_link(broken, obs)
        self.publisher.postcopy_link(broken, obs)

    def shadow(self, name, decision):
        """A shadow policy's decision: counted and published, not acted."""
        if hasattr(self.metrics, 'shadow'):
            self.metrics.shadow(name, decision)
        self.publisher.shadow(name, decision)
