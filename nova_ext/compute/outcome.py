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
"""What is left of a live migration job once it ended: nova's log line,
kept, and the final figures published for the CLI.

nova's own monitor (``LibvirtDriver._live_migration_monitor``) logs one
line per libvirt job outcome, and operators alert on those lines; ours
replaces that monitor, so it logs the same words at the same level and
through the same logger, then what ours adds. Example, for a job libvirt
reports as cancelled::

    WARNING nova.virt.libvirt.driver [instance: ...] Migration operation
    was cancelled: policy nova, last action abort (abort requested through
    the API), 734003200 bytes moved, measured downtime none

The final figures go under ``livemigrate:last_migration`` (see
``doc/source/admin/contract.rst``), because nova's per-server migration API
stops answering once the job ended and ``/os-migrations`` has no bytes.
"""

import json
import logging as std_logging

from nova.compute import utils as compute_utils
from nova import exception
from oslo_log import log as logging

from nova_ext.compute import monitor
from nova_ext.core import contract
from nova_ext.core import recovery

LOG = logging.getLogger(__name__)
#: nova's logger, so filters on the logger name keep matching too
NOVA_LOG = logging.getLogger('nova.virt.libvirt.driver')

#: libvirt's job outcome -> nova's level and words (nova 34)
NOVA_LINES = {
    monitor.JOB_COMPLETED: (
        std_logging.INFO,
        'Migration operation has completed',
    ),
    monitor.JOB_CANCELLED: (
        std_logging.WARNING,
        'Migration operation was cancelled',
    ),
    monitor.JOB_FAILED: (std_logging.ERROR, 'Migration operation has aborted'),
}

#: libvirt's VIR_DOMAIN_JOB_STATS_COMPLETED: the stats of the ended job
JOB_STATS_COMPLETED = 1


def completed_stats(guest):
    """libvirt's stats of the ended job on this host, or ``{}``.

    The source often no longer has the domain once the job completed (nova
    undefines it); then there are none.
    """
    try:
        return guest._domain.jobStats(JOB_STATS_COMPLETED) or {}
    except Exception:
        return {}


def measured_downtime_ms(guest, stats=None):
    """The downtime libvirt measured for the ended job, or None.

    A post-copy or an aborted job measures none.

    :param stats: the ended job's stats, if already read
    """
    stats = completed_stats(guest) if stats is None else stats
    downtime = stats.get('downtime')
    return None if downtime is None else int(downtime)


#: the outcome published for each end of the monitor's job; anything
#: else (a policy or timeout abort, a failed job) is 'error'
STATUS = {'completed': 'completed', 'cancelled': 'cancelled'}
#: longest policy name kept in the figures, so the value always fits
MAX_POLICY = 40


def last_action(outcome, last):
    """``(action, reason)`` that ended the job as operators know it: an API
    abort is nova's own call, never published as an action.
    """
    if outcome.aborted_by == 'api':
        return ('abort', outcome.reason)
    return last


def final_value(migration_uuid, outcome, policy, action, downtime_ms):
    """The value of ``livemigrate:last_migration``: compact JSON <= 255.

    Example: ``{"migration":"c0ffee...","outcome":"completed",
    "policy":"adaptive","action":"set-downtime","memory_bytes":1103101952,
    "disk_bytes":2147483648,"duration_s":41.5,"downtime_ms":284}``.

    :param outcome: the monitor's :class:`nova_ext.compute.monitor.Outcome`
    :param action: the last action's name, or None
    :param downtime_ms: the measured downtime, or None
    """
    fields = {
        'migration': str(migration_uuid or ''),
        'outcome': STATUS.get(outcome.job, 'error'),
        'policy': (policy or '')[:MAX_POLICY],
        'action': action,
        'memory_bytes': int(outcome.memory_bytes),
        'disk_bytes': int(outcome.disk_bytes),
        'duration_s': round(float(outcome.elapsed_s), 1),
        'downtime_ms': downtime_ms,
    }
    return json.dumps(
        {f: fields[f] for f in contract.LAST_FIELDS}, separators=(',', ':')
    )


def with_measured_downtime(metadata, downtime_ms):
    """The destination measured the downtime the source could not.

    :param metadata: the server's metadata now
    :returns: ``{LAST_KEY: value}`` with the downtime filled in when the
        figures are those of the migration the status keys describe and
        they have none yet; else ``{}``
    """
    try:
        fields = json.loads(metadata.get(contract.LAST_KEY) or 'null')
    except ValueError:
        return {}
    if (
        not isinstance(fields, dict)
        or fields.get('migration') != metadata.get(contract.MIGRATION_KEY)
        or fields.get('downtime_ms') is not None
    ):
        return {}
    fields['downtime_ms'] = int(downtime_ms)
    return {contract.LAST_KEY: json.dumps(fields, separators=(',', ':'))}


def log_outcome(
    job_type, policy, last, bytes_moved, downtime_ms, instance=None
):
    """Log nova's line for ``job_type``, then policy, action and figures.

    :param job_type: libvirt's VIR_DOMAIN_JOB_* of the ended job; anything
        but completed or cancelled reads as failed, as in nova
    :param last: ``(action, reason)`` last published, or ``(None, None)``
    :param bytes_moved: bytes libvirt had sent when the job ended
    :param downtime_ms: the measured downtime, or None
    """
    level, words = NOVA_LINES.get(job_type, NOVA_LINES[monitor.JOB_FAILED])
    action, reason = last
    if action and reason:
        action = '%s (%s)' % (action, reason)
    NOVA_LOG.log(
        level,
        words + ': policy %(policy)s, last action %(action)s, '
        '%(bytes)d bytes moved, measured downtime %(downtime)s',
        {
            'policy': policy,
            'action': action or 'none',
            'bytes': bytes_moved or 0,
            'downtime': (
                'none' if downtime_ms is None else '%d ms' % downtime_ms
            ),
        },
        instance=instance,
    )


class Ending:
    """A job's end, read once: its final status may be published again,
    nova's line is logged once.

    The final status of a completed job is written again when the message
    bus lost the first write (:meth:`nova_ext.compute.bus.PostSteps.run`);
    nova's line and the ended job's stats belong to the job, not to the
    write, so they are neither logged nor read a second time. Example: the
    first write times out, the second is written; nova-compute logs
    "Migration operation has completed" once.

    :param outcome: the monitor's :class:`nova_ext.compute.monitor.Outcome`
    :param publisher: the migration's
        :class:`nova_ext.compute.publisher.Publisher`
    :param phase: the end phase to publish (completed, aborted, failed)
    :param guest: nova's Guest, for a completed job only (its stats hold
        the measured downtime)
    """

    def __init__(self, outcome, publisher, phase, guest=None, instance=None):
        self.outcome, self.publisher, self.phase = outcome, publisher, phase
        self.instance = instance
        stats = completed_stats(guest) if guest is not None else {}
        self.downtime = measured_downtime_ms(guest, stats)
        # NOTE: the ended job's own totals, when libvirt kept them, count
        # the bytes sent after the monitor's last poll too
        outcome.memory_bytes = max(
            outcome.memory_bytes, int(stats.get('memory_processed') or 0)
        )
        outcome.disk_bytes = max(
            outcome.disk_bytes, int(stats.get('disk_processed') or 0)
        )
        self.logged = False

    def _figures(self, last):
        return {
            contract.LAST_KEY: final_value(
                self.publisher.migration_uuid,
                self.outcome,
                self.publisher.policy_name,
                last_action(self.outcome, last)[0],
                self.downtime,
            )
        }

    def publish(self):
        """Publish the end phase and the final figures (again, if asked),
        then log nova's line the first time only.
        """
        outcome, publisher = self.outcome, self.publisher
        reason = None if outcome.job == 'completed' else outcome.reason
        publisher.finished(self.phase, reason or None, self._figures)
        if self.logged:
            return
        self.logged = True
        log_outcome(
            outcome.job_type,
            publisher.policy_name,
            last_action(outcome, publisher.last),
            outcome.bytes_moved,
            self.downtime,
            instance=self.instance,
        )


def report(outcome, publisher, phase, guest=None, instance=None):
    """The job ended: publish its end phase and final figures, then log
    nova's line (an :class:`Ending` published once). Only a completed job
    (``guest`` given) can have a measured downtime.
    """
    Ending(outcome, publisher, phase, guest, instance).publish()


def measured_keys(metadata, downtime_ms):
    """The keys the destination writes once the job completed.

    :param metadata: the server's metadata now
    :param downtime_ms: what libvirt measured, or None (after post-copy)
    """
    keys = {contract.PHASE_KEY: contract.PHASE_COMPLETED}
    if downtime_ms is not None:
        keys[contract.DOWNTIME_KEY] = str(int(downtime_ms))
        keys[contract.DOWNTIME_MEASURED_KEY] = 'true'
        keys.update(with_measured_downtime(metadata, downtime_ms))
    return keys


def publish_measured_downtime(
    get_guest, publisher, instance=None, measured=None
):
    """On the destination: publish the downtime libvirt measured there.

    libvirt reports the measured downtime of a pre-copy switch-over in the
    completed job's stats; after post-copy it reports none, and the
    expected value stays published. It also completes the final figures,
    which the source wrote without it.

    :param get_guest: returns nova's Guest of the instance on this host
    :param publisher: the destination's
        :class:`nova_ext.compute.publisher.Publisher`, which writes the keys
    :param measured: ``f(policy, downtime_ms)`` told of a measured
        downtime, with the policy the status keys name (the metrics)
    """
    try:
        stats = get_guest()._domain.jobStats(JOB_STATS_COMPLETED)
    except Exception as exc:
        LOG.debug('No completed job stats: %s', exc, instance=instance)
        return
    downtime = (stats or {}).get('downtime')

    def keys(current):
        if measured is not None and downtime is not None:
            measured(current.get(contract.POLICY_USED_KEY), int(downtime))
        return measured_keys(current, downtime)

    publisher.measured_downtime(keys)


def postcopy_lost(context, instance, source, dest, publisher, outcome):
    """Publish and record the fault of a post-copy given up on.

    :returns: the exception to raise, so that nova's manager sets the
        migration to error and the server to ERROR; neither
        ``recover_method`` (it would destroy the destination's half) nor
        ``post_method`` (the source's) is called
    """
    message = recovery.lost_message(source, dest, outcome.broken_s)
    publisher.finished(contract.PHASE_POSTCOPY_FAILED, message)
    LOG.error(message, instance=instance)
    exc = exception.MigrationError(reason=message)
    try:
        compute_utils.add_instance_fault_from_exc(
            context, instance, exc, fault_message=message
        )
    except Exception as fault_exc:
        LOG.warning(
            'Could not record the instance fault: %s',
            fault_exc,
            instance=instance,
        )
    return exc
