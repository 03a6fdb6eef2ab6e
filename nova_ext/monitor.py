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
"""The one loop that watches a running migration and steers it.

Every ``poll_s`` it reads libvirt's job stats, drains operator requests
(API force-complete and abort), asks the policy, applies the answer through
:mod:`nova_ext.actions`, and reports to its caller through callbacks. It
knows nothing of nova's objects: the driver glue passes callables, and the
tests pass a fake guest, a fake clock and a list.
"""

import collections
import dataclasses
import time

from oslo_log import log as logging

from nova_ext import actions
from nova_ext import observation
from nova_ext.observation import Action
from nova_ext.observation import Decision
from nova_ext.observation import Phase

LOG = logging.getLogger(__name__)

#: libvirt's VIR_DOMAIN_JOB_* values, so this module needs no libvirt import
(
    JOB_NONE,
    JOB_BOUNDED,
    JOB_UNBOUNDED,
    JOB_COMPLETED,
    JOB_FAILED,
    JOB_CANCELLED,
) = range(6)
#: libvirt's (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY_FAILED): the
#: source's state once the connection broke during post-copy. The job still
#: reads as running then, so only the domain's state tells.
POSTCOPY_FAILED_STATE = (3, 13)

FORCE_COMPLETE = 'force-complete'
API_ABORT = 'abort'


@dataclasses.dataclass
class _Info:
    type: int


@dataclasses.dataclass
class Outcome:
    """How the job ended and who ended it."""

    job: str = 'running'
    aborted_by: str | None = None
    reason: str = ''
    recover_tasks: list = dataclasses.field(default_factory=list)
    phase: Phase = Phase.PRECOPY


class Monitor:
    """Drive one migration with one policy object until the job ends.

    :param guest: nova's Guest (``get_job_info``, ``_domain.jobStats``,
        tuning calls), or a fake with the same methods
    :param controls: nova's per-instance task deque
        (``driver.active_migrations[uuid]``): API requests land there
    :param policy: a fresh ConvergencePolicy object
    :param on_decision: ``f(decision, obs)`` after every action taken
    :param on_stats: ``f(obs)`` every ``stats_interval_s``
    :param on_postcopy_link: ``f(broken, obs)`` when the connection to the
        destination breaks during post-copy (``True``) and when the
        migration runs again (``False``)
    :param clock: monotonic seconds; ``sleep``: waits ``poll_s``
    """

    def __init__(
        self,
        guest,
        policy,
        instance=None,
        controls=None,
        on_decision=None,
        on_stats=None,
        poll_s=0.5,
        stats_interval_s=5.0,
        clock=time.monotonic,
        sleep=time.sleep,
        postcopy_enabled=False,
        is_done=lambda: False,
        settle=None,
        phase=Phase.PRECOPY,
        on_postcopy_link=None,
    ):
        self.guest = guest
        self.policy = policy
        self.instance = instance
        self.controls = collections.deque() if controls is None else controls
        self.on_decision = on_decision or (lambda d, o: None)
        self.on_stats = on_stats or (lambda o: None)
        self.on_postcopy_link = on_postcopy_link or (lambda b, o: None)
        self.postcopy_broken_since = None
        self.poll_s = poll_s
        # NOTE: nova divides by monitor_interval / 0.5 and crashes on 0;
        # any interval below one poll simply means "every poll".
        self.stats_interval_s = max(stats_interval_s, 0.0)
        self.clock = clock
        self.sleep = sleep
        self.postcopy_enabled = postcopy_enabled
        self.is_done = is_done
        self.settle = settle
        self.outcome = Outcome(phase=phase)
        self.downtime_ms = None
        self._last_stats_s = None

    def run(self):
        """Poll until the job completes, fails or is cancelled.

        :returns: the :class:`Outcome`
        """
        start = self.clock()
        while True:
            info = self.guest.get_job_info()
            if info.type == JOB_NONE and self.is_done():
                info = self._settled_job()
            if info.type == JOB_UNBOUNDED:
                self._step(self.clock() - start)
            elif info.type == JOB_COMPLETED:
                self.outcome.job = 'completed'
                return self.outcome
            elif info.type in (JOB_FAILED, JOB_CANCELLED):
                # NOTE: like nova, a cancelled job is 'cancelled' unless our
                # policy aborted it: then the migration is an 'error'.
                by = self.outcome.aborted_by
                cancelled = by == 'api' or (
                    info.type == JOB_CANCELLED and by != 'policy'
                )
                self.outcome.job = 'cancelled' if cancelled else 'failed'
                return self.outcome
            self.sleep(self.poll_s)

    def _settled_job(self):
        """The job vanished and the migration thread ended: ask why.

        nova's ``find_job_type`` (passed as ``settle``) looks at whether the
        domain still runs here; without it, our own abort means failure.
        """
        job = (
            self.settle()
            if self.settle
            else JOB_FAILED
            if self.outcome.aborted_by
            else JOB_COMPLETED
        )
        return _Info(job)

    def _step(self, elapsed_s):
        stats = self._job_stats()
        obs = observation.from_job_info(
            stats, elapsed_s, self.outcome.phase, self.downtime_ms
        )
        while self.controls:
            self._operator(self.controls.popleft(), obs)
        if self.outcome.aborted_by:
            return
        # NOTE: nothing a policy may ask for helps a broken post-copy
        if not self._postcopy_broken(obs):
            decision = self.policy.decide(obs)
            if decision.action is not Action.NOTHING:
                self._apply(decision, obs, by='policy')
        if (
            self._last_stats_s is None
            or elapsed_s - self._last_stats_s >= self.stats_interval_s
        ):
            self._last_stats_s = elapsed_s
            self.on_stats(obs)

    def _postcopy_broken(self, obs):
        """In post-copy, whether the source says the stream broke; report
        each change.

        QEMU keeps both halves paused and waits: libvirt resumes the stream
        if the connection returns in time, else the guest is lost unless
        someone resumes with ``VIR_MIGRATE_POSTCOPY_RESUME``. An operator
        must be told either way.
        """
        if self.outcome.phase is not Phase.POSTCOPY:
            return False
        broken = self._domain_state() == POSTCOPY_FAILED_STATE
        if broken and self.postcopy_broken_since is None:
            self.postcopy_broken_since = obs.elapsed_s
            LOG.warning(
                'Live migration post-copy failed after %(t).0f s: the '
                'connection to the destination broke; the guest is '
                'paused until the stream resumes',
                {'t': obs.elapsed_s},
                instance=self.instance,
            )
            self.on_postcopy_link(True, obs)
        elif not broken and self.postcopy_broken_since is not None:
            LOG.info(
                'Live migration post-copy resumed after %(t).0f s '
                'without the destination',
                {'t': obs.elapsed_s - self.postcopy_broken_since},
                instance=self.instance,
            )
            self.postcopy_broken_since = None
            self.on_postcopy_link(False, obs)
        return broken

    def _domain_state(self):
        try:
            return tuple(self.guest._domain.state()[:2])
        except Exception as exc:  # the domain left this host meanwhile
            LOG.debug('No domain state: %s', exc, instance=self.instance)
            return None

    def _job_stats(self):
        try:
            return self.guest._domain.jobStats()
        except Exception as exc:  # job ended between two calls
            LOG.debug('No job stats: %s', exc, instance=self.instance)
            return {}

    def note_api_abort(self, reason='abort requested through the API'):
        """The driver is about to abort the job for the API: say so."""
        self.outcome.aborted_by = 'api'
        self.outcome.reason = reason

    def _operator(self, request, obs):
        if request == API_ABORT:
            self._apply(
                Decision(Action.ABORT, 'abort requested through the API'),
                obs,
                by='api',
            )
        elif request == FORCE_COMPLETE:
            self._apply(self._force_complete(), obs, by='api')
        else:
            raise ValueError('unknown migration request %r' % (request,))

    def _force_complete(self):
        phase = self.outcome.phase
        if phase is Phase.POSTCOPY:
            return Decision(
                Action.NOTHING, 'force-complete: already in post-copy'
            )
        if self.postcopy_enabled and phase is not Phase.PAUSED:
            return Decision(
                Action.POSTCOPY,
                'force-complete requested '
                'through the API; switching to post-copy',
            )
        if phase is Phase.PAUSED:
            return Decision(
                Action.NOTHING, 'force-complete: the guest is already paused'
            )
        return Decision(
            Action.PAUSE,
            'force-complete requested through the '
            'API; pausing the guest so pre-copy can finish',
        )

    def _apply(self, decision, obs, by):
        if decision.action is Action.NOTHING:
            LOG.info(
                'Live migration: %s', decision.reason, instance=self.instance
            )
            return
        LOG.info(
            'Live migration %(by)s action %(action)s: %(reason)s',
            {
                'by': by,
                'action': decision.action.value,
                'reason': decision.reason,
            },
            instance=self.instance,
        )
        if decision.action is Action.ABORT:
            # NOTE: record first: the job may end before abort returns
            self.outcome.aborted_by = by
            self.outcome.reason = decision.reason
        ok = actions.apply(self.guest, decision, instance=self.instance)
        if ok:
            if decision.action is Action.SET_DOWNTIME:
                self.downtime_ms = decision.downtime_ms
            elif decision.action is Action.POSTCOPY:
                self.outcome.phase = Phase.POSTCOPY
            elif decision.action is Action.PAUSE:
                self.outcome.phase = Phase.PAUSED
                self.outcome.recover_tasks.append('unpause')
        self.on_decision(decision, obs)
