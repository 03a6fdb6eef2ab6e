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
"""Hand-built sample sequences for policy tests (no simulator, no libvirt)."""

from nova_ext.core.observation import Action
from nova_ext.core.observation import GIB
from nova_ext.core.observation import MIB
from nova_ext.core.observation import Observation
from nova_ext.core.observation import Phase


def sawtooth(
    round_sizes,
    bandwidth_bps=GIB,
    poll_s=0.5,
    ram_bytes=None,
    start_s=0.0,
    phase=Phase.PRECOPY,
    throttles=None,
):
    """Observations of pre-copy rounds of the given sizes, sampled every poll.

    Round i sends ``round_sizes[i]`` bytes at ``bandwidth_bps``;
    ``memory_remaining`` is the round's unsent part, so it falls to zero
    and jumps at each round start: libvirt's saw-tooth.

    :param throttles: optional auto-converge throttle per round
    :returns: a list of :class:`Observation`
    """
    ram = ram_bytes or round_sizes[0]
    bounds, t = [], 0.0
    for size in round_sizes:
        bounds.append((t, t + size / bandwidth_bps, size))
        t += size / bandwidth_bps
    samples, now = [], poll_s
    while now < t:
        for number, (begin, end, size) in enumerate(bounds, 1):
            if begin <= now < end:
                break
        sent_before = sum(s for _, _, s in bounds[: number - 1])
        in_round = (now - begin) * bandwidth_bps
        samples.append(
            Observation(
                elapsed_s=start_s + now,
                memory_total_bytes=ram,
                memory_processed_bytes=int(sent_before + in_round),
                memory_remaining_bytes=int(size - in_round),
                data_remaining_bytes=int(size - in_round),
                bandwidth_bps=bandwidth_bps,
                iteration=number,
                throttle_pct=(throttles or [0] * len(round_sizes))[number - 1],
                phase=phase,
            )
        )
        now += poll_s
    return samples


def observation(
    elapsed_s,
    remaining=512 * MIB,
    phase=Phase.PRECOPY,
    iteration=1,
    processed=0,
    total=4 * GIB,
):
    """One hand-made observation with sensible defaults."""
    return Observation(
        elapsed_s=elapsed_s,
        memory_total_bytes=total,
        memory_processed_bytes=processed,
        memory_remaining_bytes=remaining,
        data_remaining_bytes=remaining,
        iteration=iteration,
        phase=phase,
    )


def decide_all(policy, samples):
    """Feed every sample; :returns: the list of (elapsed_s, decision)."""
    return [(s.elapsed_s, policy.decide(s)) for s in samples]


def actions(policy, samples):
    """:returns: [(elapsed_s, action value, downtime_ms)] but nothing."""
    return [
        (t, d.action.value, d.downtime_ms)
        for t, d in decide_all(policy, samples)
        if d.action is not Action.NOTHING
    ]


#: libvirt's (VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_MIGRATED) and
#: (VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_POSTCOPY_FAILED)
RUNNING, POSTCOPY_FAILED = (1, 2), (3, 13)


class FakeJobInfo:
    """nova's JobInfo, reduced to what the monitor reads."""

    def __init__(self, type_):
        self.type = type_


class FakeDomain:
    def __init__(self, guest):
        self._guest = guest

    def jobStats(self):
        return self._guest.next_stats()

    def state(self):
        return list(self._guest.current_state())


class RecordedWrites:
    """The libvirt writes of a fake guest: each is recorded in ``calls``
    and raises when ``fail`` names it (``downtime``, ``postcopy``,
    ``pause``, ``abort``).
    """

    def _call(self, name, *args):
        self.calls.append((name,) + args)
        if name in self.fail:
            raise RuntimeError('%s failed' % name)

    def migrate_configure_max_downtime(self, ms):
        self._call('downtime', ms)

    def migrate_start_postcopy(self):
        self._call('postcopy')

    def pause(self):
        self._call('pause')

    def abort_job(self):
        self._call('abort')


class FakeGuest(RecordedWrites):
    """A guest whose job follows a script of libvirt job-stat dicts.

    Each read of the job stats (``_domain.jobStats()``, also through
    ``get_job_info()`` as nova's Guest does) consumes one entry of
    ``script``: a dict (job running, those stats), a (dict, domain state)
    pair (the state ``dom.state()`` returns meanwhile; running otherwise)
    or a job type number (the job ended that way; completed once the script
    is used up). ``reads`` counts the reads. Tuning calls are recorded in
    ``calls``; ``fail`` names calls that raise.
    """

    def __init__(self, script, fail=()):
        self.script = list(script)
        self.calls = []
        self.fail = set(fail)
        self.reads = 0
        self._domain = FakeDomain(self)
        self._state = RUNNING

    def next_stats(self):
        self.reads += 1
        entry = self.script.pop(0) if self.script else 3
        self._state = RUNNING
        if isinstance(entry, tuple):
            entry, self._state = entry
        if isinstance(entry, dict):
            return dict(entry, type=2)
        return {'type': entry}

    def get_job_info(self):
        return FakeJobInfo(self._domain.jobStats()['type'])

    def current_state(self):
        return self._state


def job_stats(samples):
    """libvirt job-stat dicts from Observations (from_job_info's inverse)."""
    return [
        {
            'memory_total': s.memory_total_bytes,
            'memory_processed': s.memory_processed_bytes,
            'memory_remaining': s.memory_remaining_bytes,
            'data_remaining': s.data_remaining_bytes,
            'memory_dirty_rate': int(s.dirty_rate_bps / 4096),
            'memory_page_size': 4096,
            'memory_bps': int(s.bandwidth_bps),
            'memory_iteration': s.iteration,
            'auto_converge_throttle': s.throttle_pct,
        }
        for s in samples
    ]


class FakeClock:
    """Monotonic time that advances only when the monitor sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
