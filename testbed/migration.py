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
"""One real live migration on a HostPair, steered by a nova_ext policy.

This is the driver's loop without the rest of nova: nova's own ``Guest``
wrapper around the libvirt domain, nova_ext's
:class:`~nova_ext.compute.monitor.Monitor` and a policy object, and a
thread running ``migrateToURI3`` peer-to-peer as nova's
``_live_migration_operation`` does. End-to-end tests,
the real benchmark and the simulator calibration all use it.
"""

import dataclasses
import threading
import time

from nova_ext.compute import monitor as lm_monitor
from testbed import libvirtd


@dataclasses.dataclass
class RealRun:
    """What happened, as measured on the hosts."""

    outcome: str  # completed, aborted, failed or postcopy-lost
    host: str | None  # where the guest runs afterwards
    total_s: float
    downtime_ms: float | None  # libvirt's measured downtime if completed
    decisions: list  # (elapsed_s, action, reason, downtime_ms)
    samples: list = dataclasses.field(repr=False)  # (elapsed_s, stats)
    error: str | None = None
    postcopy_s: float | None = None
    paused_s: float | None = None
    #: (elapsed_s, broken) each time the monitor saw post-copy's connection
    #: break or the stream resume
    postcopy_link: list = dataclasses.field(default_factory=list)


def migration_flags(libvirt, postcopy=False, auto_converge=False):
    """The flags nova's libvirt driver would use for a live migration."""
    flags = (
        libvirt.VIR_MIGRATE_LIVE
        | libvirt.VIR_MIGRATE_PEER2PEER
        | libvirt.VIR_MIGRATE_PERSIST_DEST
        | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    )
    if postcopy:
        flags |= libvirt.VIR_MIGRATE_POSTCOPY
    if auto_converge:
        flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
    return flags


_EVENTS = {'started': False, 'lock': threading.Lock()}


def _event_loop(libvirt):
    """Run libvirt's default event loop once per process, in a daemon thread.

    Only connections opened afterwards deliver events; the job-completed
    event is where the source reports the measured downtime (after a
    post-copy migration neither host keeps it in its job stats).
    """
    with _EVENTS['lock']:
        if _EVENTS['started']:
            return
        libvirt.virEventRegisterDefaultImpl()

        def loop():
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(
            target=loop, daemon=True, name='libvirt-events'
        ).start()
        _EVENTS['started'] = True


def _watch_completion(libvirt, pair, source, dom):
    """Collect the source's job-completed statistics for ``dom``."""
    _event_loop(libvirt)
    conn = libvirt.open(pair.local_uri(source))
    completed = {}
    done = threading.Event()

    def on_completed(_conn, _dom, params, _opaque):
        completed.update(params)
        done.set()

    callback = conn.domainEventRegisterAny(
        conn.lookupByUUIDString(dom.UUIDString()),
        libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
        on_completed,
        None,
    )
    return conn, callback, completed, done


class _RecordingDomain:
    """A libvirt domain that keeps a copy of every job-stats dict the
    monitor reads through nova's Guest.
    """

    def __init__(self, dom, clock, start, during=None):
        self._dom = dom
        self._clock, self._start = clock, start
        self._during = during
        self.samples = []

    def jobStats(self, *args, **kwargs):
        stats = self._dom.jobStats(*args, **kwargs)
        # NOTE: the monitor reads once per poll, also the poll that finds
        # the job ended; the samples (and ``during``) are the running ones
        if stats.get('type') != lm_monitor.JOB_UNBOUNDED:
            return stats
        elapsed = self._clock() - self._start
        self.samples.append((elapsed, stats))
        if self._during is not None:
            # NOTE: in the monitor's thread, between reading the stats and
            # asking the policy: a fault injected here is what the policy
            # and the next poll see, exactly as in a real incident.
            self._during(elapsed, stats)
        return stats

    def __getattr__(self, name):
        return getattr(self._dom, name)


def run(
    pair,
    dom,
    policy,
    source='A',
    dest='B',
    postcopy=False,
    auto_converge=False,
    bandwidth_mib_s=None,
    poll_s=0.5,
    clock=time.monotonic,
    during=None,
    join_s=600,
    extra_flags=0,
    on_postcopy_link=None,
    postcopy_window_s=None,
):
    """Migrate ``dom`` from ``source`` to ``dest`` under ``policy``.

    :param pair: a started :class:`testbed.hosts.HostPair`
    :param dom: the libvirt domain on ``source``
    :param policy: a fresh nova_ext policy object for this migration
    :param postcopy: start with VIR_MIGRATE_POSTCOPY (permits switching)
    :param auto_converge: start with VIR_MIGRATE_AUTO_CONVERGE
    :param bandwidth_mib_s: cap the migration bandwidth first
    :param during: ``f(elapsed_s, stats)`` after every job-stats sample,
        in the monitor's thread (fault tests cut links or kill daemons here)
    :param join_s: how long to wait for ``migrateToURI3`` to return once
        the monitor is done; a thread still blocked then (a vanished peer)
        is reported in ``error`` instead of hanging the caller
    :param extra_flags: more VIR_MIGRATE_* flags
    :param on_postcopy_link: ``f(broken, obs)`` as the monitor reports a
        broken post-copy and its recovery (also kept in ``postcopy_link``)
    :param postcopy_window_s: the monitor's recovery window (the driver's
        ``[livemigrate] postcopy_recovery_window_s``); None waits for ever
    :returns: :class:`RealRun`
    """
    libvirt = libvirtd.load_libvirt()
    from nova.virt.libvirt import guest as nova_guest

    if bandwidth_mib_s:
        dom.migrateSetMaxSpeed(bandwidth_mib_s, 0)
    flags = migration_flags(libvirt, postcopy, auto_converge) | extra_flags
    params = {libvirt.VIR_MIGRATE_PARAM_URI: pair.migration_uri(dest)}
    finished = threading.Event()
    failure = {}

    def operation():
        try:
            dom.migrateToURI3(pair.uri(dest), params, flags)
        except libvirt.libvirtError as exc:
            failure['error'] = str(exc)
        finally:
            finished.set()

    events = _watch_completion(libvirt, pair, source, dom)
    start = clock()
    recording = _RecordingDomain(dom, clock, start, during)
    guest = nova_guest.Guest(recording)
    decisions = []

    def on_decision(decision, obs):
        decisions.append(
            (
                round(obs.elapsed_s, 2),
                decision.action.value,
                decision.reason,
                decision.downtime_ms,
            )
        )

    link = []

    class Listener(lm_monitor.Listener):
        def decision(self, decision, obs):
            on_decision(decision, obs)

        def postcopy_link(self, broken, obs):
            link.append((round(obs.elapsed_s, 2), broken))
            if on_postcopy_link is not None:
                on_postcopy_link(broken, obs)

    def job_end():
        if not finished.is_set():
            return None
        try:
            running = dom.isActive()
        except libvirt.libvirtError:
            running = False
        return lm_monitor.JOB_FAILED if running else lm_monitor.JOB_COMPLETED

    mon = lm_monitor.Monitor(
        guest,
        policy,
        lm_monitor.MonitorConfig(
            poll_s=poll_s,
            stats_interval_s=0,
            clock=clock,
            postcopy_window_s=postcopy_window_s,
        ),
        Listener(),
        postcopy_enabled=postcopy,
        job_end=job_end,
    )
    thread = threading.Thread(target=operation, daemon=True)
    thread.start()
    try:
        outcome = mon.run()
    finally:
        thread.join(join_s)
    if thread.is_alive():
        failure.setdefault(
            'error',
            'migrateToURI3 still blocked %ss after the job ended' % join_s,
        )
    total = clock() - start
    host = pair.find_domain(dom.name())
    conn, callback, completed, done = events
    downtime = None
    if outcome.job == 'completed' and host == dest:
        done.wait(10)
        downtime = completed.get('downtime')
        if downtime is None:
            moved = pair.connect(dest).lookupByName(dom.name())
            downtime = moved.jobStats(
                libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED
            ).get('downtime')
    try:
        conn.domainEventDeregisterAny(callback)
        conn.close()
    except libvirt.libvirtError:
        pass
    first = {action: t for t, action, _, _ in reversed(decisions)}
    return RealRun(
        outcome=(
            outcome.job
            if outcome.job in ('completed', lm_monitor.POSTCOPY_LOST)
            else 'aborted'
            if outcome.aborted_by
            else 'failed'
        ),
        host=host,
        total_s=round(total, 2),
        downtime_ms=downtime,
        decisions=decisions,
        samples=recording.samples,
        error=failure.get('error'),
        postcopy_s=first.get('postcopy'),
        paused_s=first.get('pause'),
        postcopy_link=link,
    )
