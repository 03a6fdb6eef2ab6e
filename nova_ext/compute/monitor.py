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

Every ``poll_s`` it reads libvirt's job stats once (through nova's
``get_job_info``, see :class:`_StatsTap`), drains operator
requests (API force-complete and abort), asks the policy, applies the answer
through :mod:`nova_ext.compute.actions`, and reports to a :class:`Listener`. It
knows nothing of nova's objects: the driver passes a :class:`MonitorConfig`
made once and a listener that publishes; the tests pass a fake guest, a
fake clock and a recorder.
"""

import collections
import collections.abc
import copy
import dataclasses
import time

from oslo_log import log as logging

from nova_ext.compute import actions
from nova_ext.core import observation
from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import Phase
from nova_ext.core import phases
from nova_ext.core import recovery

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

#: the job's end when a broken post-copy outlived its recovery window:
#: neither completed nor failed, the guest lives on both hosts
POSTCOPY_LOST = 'postcopy-lost'

FORCE_COMPLETE = 'force-complete'
API_ABORT = 'abort'


@dataclasses.dataclass
class Outcome:
    """How the job ended and who ended it."""

    job: str = 'running'
    #: libvirt's VIR_DOMAIN_JOB_* the job ended with (nova logs by it)
    job_type: int | None = None
    #: bytes libvirt had sent (memory and disks) at the last read
    bytes_moved: int = 0
    #: of which memory, and local disks (block migration)
    memory_bytes: int = 0
    disk_bytes: int = 0
    #: seconds from the monitor's start to the job's end (so far, while
    #: it runs)
    elapsed_s: float = 0.0
    aborted_by: str | None = None
    reason: str = ''
    recover_tasks: list = dataclasses.field(default_factory=list)
    phase: Phase = Phase.PRECOPY
    #: how long the post-copy stream was broken when it was given up
    broken_s: float | None = None


@dataclasses.dataclass(frozen=True)
class MonitorConfig:
    """How every monitor on this host polls; made once by the driver.

    :param poll_s: seconds between two reads of the job stats
    :param stats_interval_s: seconds between two :meth:`Listener.stats`
        reports (nova's ``[libvirt] live_migration_monitor_interval``); any
        interval below one poll means "every poll": nova divides by it and
        crashes on 0, we do not
    :param clock: seconds, for the elapsed time a policy sees
    :param sleep: waits ``poll_s``
    :param postcopy_window_s: how long a broken post-copy may wait for its
        stream before the monitor ends with :data:`POSTCOPY_LOST`; None
        waits for ever
    """

    poll_s: float = 0.5
    stats_interval_s: float = 5.0
    clock: collections.abc.Callable = time.monotonic
    sleep: collections.abc.Callable = time.sleep
    postcopy_window_s: float | None = None


class Listener:
    """What the monitor reports while it runs; each method does nothing
    here. The driver's listener publishes (:mod:`nova_ext.compute.publisher`).
    """

    def decision(self, decision, obs):
        """After every action taken (also one libvirt refused)."""

    def stats(self, obs):
        """Every ``stats_interval_s``."""

    def postcopy_link(self, broken, obs):
        """The connection to the destination broke during post-copy
        (``True``), or the migration runs again (``False``).
        """


class _StatsTap:
    """A libvirt domain that keeps the last job stats read through it.

    nova's ``Guest.get_job_info`` reads ``_domain.jobStats()`` and keeps
    only some fields (not the dirty rate or the page size a policy needs).
    The monitor asks a copy of the guest whose domain is this tap, so one
    read gives both the job type, with nova's handling of libvirt's errors,
    and the whole dict. When nova read nothing (an error, an old libvirt,
    or nova's tests mocking ``get_job_info``), ``last`` stays empty.
    """

    def __init__(self, domain):
        self._domain = domain
        self.last = {}

    def jobStats(self, *args, **kwargs):
        self.last = self._domain.jobStats(*args, **kwargs)
        return self.last

    def __getattr__(self, name):
        return getattr(self._domain, name)


class Monitor:
    """Drive one migration with one policy object until the job ends.

    :param guest: nova's Guest (``get_job_info`` reading
        ``_domain.jobStats``, ``_domain.state``, tuning calls), or a fake
        with the same methods
    :param policy: a fresh ConvergencePolicy object
    :param config: the host's :class:`MonitorConfig`
    :param listener: a :class:`Listener`
    :param instance: nova's instance, for the log only
    :param controls: nova's per-instance task deque
        (``driver.active_migrations[uuid]``): API requests land there
    :param phase: the phase the migration is in when the monitor starts
    :param postcopy_enabled: whether force-complete may switch to post-copy
    :param job_end: ``f()`` asked when the job vanished: ``None`` while
        nova's migration thread still runs, else the job type it stands
        for (nova's ``find_job_type``)
    :param shadows: a :class:`nova_ext.compute.shadows.Shadows` (or anything
        with
        ``observe(obs)``) given every observation the policy decides on
    """

    def __init__(
        self,
        guest,
        policy,
        config=MonitorConfig(),
        listener=None,
        instance=None,
        controls=None,
        phase=Phase.PRECOPY,
        postcopy_enabled=False,
        job_end=lambda: None,
        shadows=None,
    ):
        self.guest = guest
        self.shadows = shadows
        # NOTE: a shallow copy: nova's migration thread keeps its guest
        self._tap = _StatsTap(guest._domain)
        self._reader = copy.copy(guest)
        self._reader._domain = self._tap
        self.policy = policy
        self.config = config
        self.listener = listener or Listener()
        self.instance = instance
        self.controls = collections.deque() if controls is None else controls
        self.postcopy_enabled = postcopy_enabled
        self.job_end = job_end
        self.postcopy_broken_since = None
        #: a post-copy switch refused before the copy began (see
        #: :meth:`_retry_after_setup`)
        self._after_setup = None
        self.outcome = Outcome(phase=phase)
        self.downtime_ms = None
        self._last_stats_s = None

    def run(self):
        """Poll until the job completes, fails or is cancelled, or a broken
        post-copy outlives its window.

        :returns: the :class:`Outcome`
        """
        start = self.config.clock()
        while True:
            job, stats = self._read_job()
            if job == JOB_NONE:
                job = self.job_end() or JOB_NONE
            elapsed_s = self.outcome.elapsed_s = self.config.clock() - start
            if job in (JOB_FAILED, JOB_CANCELLED) and self._held(elapsed_s):
                # NOTE: a failed job in a broken post-copy is no failure
                # to roll back: the destination has the newest pages
                job = None
            if self._lost(elapsed_s):
                return self.outcome
            if job == JOB_UNBOUNDED:
                self._step(stats, elapsed_s)
            elif job == JOB_COMPLETED:
                self.outcome.job_type = job
                self.outcome.job = 'completed'
                return self.outcome
            elif job in (JOB_FAILED, JOB_CANCELLED):
                self.outcome.job_type = job
                # NOTE: like nova, a cancelled job is 'cancelled' unless our
                # policy aborted it: then the migration is an 'error'.
                by = self.outcome.aborted_by
                cancelled = by == 'api' or (
                    job == JOB_CANCELLED and by != 'policy'
                )
                self.outcome.job = 'cancelled' if cancelled else 'failed'
                return self.outcome
            self.config.sleep(self.config.poll_s)

    def _read_job(self):
        """The job's type and stats, from one read of libvirt's job stats.

        :returns: (VIR_DOMAIN_JOB_* type, stats dict; empty when nova
            could not read one, and the policy then sees no bytes)
        """
        self._tap.last = {}
        return self._reader.get_job_info().type, self._tap.last

    def _step(self, stats, elapsed_s):
        obs = observation.from_job_info(
            stats, elapsed_s, self.outcome.phase, self.downtime_ms
        )
        self.outcome.bytes_moved = max(
            self.outcome.bytes_moved,
            int(stats.get('data_processed') or obs.memory_processed_bytes),
        )
        self.outcome.memory_bytes = max(
            self.outcome.memory_bytes, obs.memory_processed_bytes
        )
        self.outcome.disk_bytes = max(
            self.outcome.disk_bytes, obs.disk_processed_bytes
        )
        self.outcome.elapsed_s = elapsed_s
        self._retry_after_setup(obs)
        while self.controls:
            self._operator(self.controls.popleft(), obs)
        if self.outcome.aborted_by:
            return
        # NOTE: nothing a policy may ask for helps a broken post-copy
        if not self._postcopy_broken(obs):
            decision = self.policy.decide(obs)
            if decision.action is not Action.NOTHING:
                self._apply(decision, obs, by='policy')
            if self.shadows is not None:
                self.shadows.observe(obs)
        interval_s = max(self.config.stats_interval_s, 0.0)
        if (
            self._last_stats_s is None
            or elapsed_s - self._last_stats_s >= interval_s
        ):
            self._last_stats_s = elapsed_s
            self.listener.stats(obs)

    def _retry_after_setup(self, obs):
        """Carry out a post-copy switch QEMU refused during libvirt's
        set-up, with the first sample that shows the copy has begun.

        e2e, on a loaded machine: a schedule's ``t2:postcopy`` came while
        libvirt still started the destination; QEMU refused ("Enable
        postcopy with migrate_set_capability before the start of
        migration": libvirt sets it later), a policy asks once, and the
        guest never left pre-copy. A refusal once the copy runs is final.
        """
        if self._after_setup is None or obs.memory_total_bytes <= 0:
            return
        decision, self._after_setup = self._after_setup, None
        if self.outcome.phase is not Phase.PRECOPY:
            return
        LOG.info(
            'Live migration: the copy has begun; %(action)s again (%(why)s)',
            {'action': decision.action.value, 'why': decision.reason},
            instance=self.instance,
        )
        self._carry_out(decision)

    def _carry_out(self, decision):
        """The libvirt call and, if it worked, what it changed; :returns:
        whether it worked.
        """
        if not actions.apply(self.guest, decision, instance=self.instance):
            return False
        self.outcome.phase = phases.phase_after(
            self.outcome.phase, decision.action
        )
        if decision.action is Action.SET_DOWNTIME:
            self.downtime_ms = decision.downtime_ms
        elif decision.action is Action.PAUSE:
            self.outcome.recover_tasks.append('unpause')
        return True

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
            self.listener.postcopy_link(True, obs)
        elif not broken and self.postcopy_broken_since is not None:
            LOG.info(
                'Live migration post-copy resumed after %(t).0f s '
                'without the destination',
                {'t': obs.elapsed_s - self.postcopy_broken_since},
                instance=self.instance,
            )
            self.postcopy_broken_since = None
            self.listener.postcopy_link(False, obs)
        return broken

    def _held(self, elapsed_s):
        """Whether an ended job leaves a broken post-copy behind."""
        obs = observation.from_job_info(
            {}, elapsed_s, self.outcome.phase, self.downtime_ms
        )
        return self._postcopy_broken(obs)

    def _lost(self, elapsed_s):
        """End a broken post-copy whose window is over; both halves stay."""
        since = self.postcopy_broken_since
        window_s = self.config.postcopy_window_s
        if not recovery.window_over(since, elapsed_s, window_s):
            return False
        self.outcome.job = POSTCOPY_LOST
        self.outcome.broken_s = elapsed_s - since
        self.outcome.reason = (
            'the connection stayed broken for %d s, the recovery window'
            % self.outcome.broken_s
        )
        LOG.error(
            'Live migration post-copy: %s; giving up, both halves kept',
            self.outcome.reason,
            instance=self.instance,
        )
        return True

    def _domain_state(self):
        try:
            return tuple(self.guest._domain.state()[:2])
        except Exception as exc:  # the domain left this host meanwhile
            LOG.debug('No domain state: %s', exc, instance=self.instance)
            return None

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
        if not self._carry_out(decision) and (
            decision.action is Action.POSTCOPY and obs.memory_total_bytes <= 0
        ):
            self._after_setup = decision
        self.listener.decision(decision, obs)
