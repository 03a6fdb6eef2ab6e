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
"""The line nova-compute logs when a live migration job ends, kept.

nova's own monitor (``LibvirtDriver._live_migration_monitor``) logs one
line per libvirt job outcome, and operators alert on those lines; ours
replaces that monitor, so it logs the same words at the same level and
through the same logger, then what ours adds. Example, for a job libvirt
reports as cancelled::

    WARNING nova.virt.libvirt.driver [instance: ...] Migration operation
    was cancelled: policy nova, last action abort (abort requested through
    the API), 734003200 bytes moved, measured downtime none
"""

import logging as std_logging

from oslo_log import log as logging

from nova_ext import monitor

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


def measured_downtime_ms(guest):
    """The downtime libvirt measured for the ended job, or None.

    The source often no longer has the domain once the job completed (nova
    undefines it), and a post-copy or an aborted job measures none.
    """
    try:
        stats = guest._domain.jobStats(JOB_STATS_COMPLETED)
    except Exception:
        return None
    downtime = (stats or {}).get('downtime')
    return None if downtime is None else int(downtime)


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
