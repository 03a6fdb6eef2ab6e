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
local domain and decides (:func:`decide`; this module is pure, nova and
libvirt are :mod:`nova_ext.compute.settle`'s):

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
                              to the live monitor,
                              :mod:`nova_ext.core.recovery`)
============================  ==========================================

The same table settles a migration whose monitor died with its libvirt
connection (libvirtd restarted: it cancels an outgoing pre-copy when it
starts again): once libvirtd answers, the driver runs nova's
own callbacks of that migration instead of letting the manager set the
server to ERROR.

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

from nova_ext.core import contract

#: how long startup waits for a post-copy or an aborted pre-copy to end
WAIT_S = 120
POLL_S = 1.0


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


#: who was down while libvirt ran the job alone, for the reasons
COMPUTE = 'nova-compute on the source'
LIBVIRTD = 'libvirtd on the source'


def decide(seen, aborted=False, down=COMPUTE):
    """The step for ``seen``; ``aborted``: we aborted the pre-copy job;
    ``down``: who was down. ``seen`` None (libvirt not back yet) waits.

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
            '%s while %s was down; nova-compute completed the move '
            'afterwards' % (how, down),
        )
    if seen is None or seen is Seen.POSTCOPY:
        return Decision(Step.WAIT)
    if seen is Seen.PRECOPY:
        return Decision(Step.ABORT)
    if seen is Seen.IDLE:
        why = (
            '%s restarted during pre-copy: no monitor followed the job, '
            'so it was aborted' % down
            if aborted
            else 'the migration job ended without moving the guest while '
            '%s was down' % down
        )
        return Decision(
            Step.ROLLBACK,
            contract.ACTION_RESTART_ROLLED_BACK,
            'error',
            '%s; rolled back, the guest runs on the source' % why,
        )
    return Decision(Step.LEAVE)


def settle(observe, abort, clock, sleep, down=COMPUTE):
    """Observe, wait out a post-copy, abort a pre-copy; the final step.

    :param observe: returns the :class:`Seen` now (None: cannot tell yet)
    :param abort: aborts the libvirt job
    :param clock: seconds, monotonic (the shell passes ``time.monotonic``)
    :param sleep: waits that many seconds (the shell: ``time.sleep``)
    """
    aborted = False
    deadline = clock() + WAIT_S
    while True:
        decision = decide(observe(), aborted, down)
        if decision.step is Step.ABORT and not aborted:
            abort()
            aborted = True
        elif decision.step not in (Step.WAIT, Step.ABORT):
            return decision
        if clock() > deadline:
            return Decision(Step.LEAVE)
        sleep(POLL_S)
