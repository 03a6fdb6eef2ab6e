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
"""Replaying the stored traces through the monitor and the publisher.

What the loop did and what the publisher wrote, per scenario, hashed for
``monitor_replay.json`` (:mod:`.test_monitor_replay` compares it, the
contract tests read what was written). Regenerate only for an intended
change::

    python -m tests.unit.nova_ext.compute.replays > \\
        tests/unit/nova_ext/compute/monitor_replay.json
"""

import collections
import hashlib
import json
import pathlib
import sys

from nova_ext.compute import monitor
from nova_ext.compute import publisher as lm_publisher
from nova_ext.core import loader
from nova_ext.core.observation import MigrationContext
from nova_ext.core.observation import Permits
from nova_ext.core.observation import Phase
from tests import fakes

HERE = pathlib.Path(__file__).resolve().parent
TRACES = HERE.parents[3] / 'benchmarks' / 'traces'
GOLDEN = HERE / 'monitor_replay.json'
PERMITS = ('none', 'postcopy', 'pause')
POLL_S = 0.5
NONE, RUNNING, COMPLETED, FAILED, CANCELLED = 0, 2, 3, 4, 5


class ReplayGuest(fakes.RecordedWrites):
    """A guest whose job follows a script indexed by the poll number.

    The entry of a poll is found from the clock, so it does not matter how
    often the monitor reads job info or stats within one poll (``reads``
    counts them). An entry is a stats dict (running), a (dict, domain
    state) pair, or a job type (the job ended that way).
    """

    def __init__(self, script, clock, fail=(), requests=None, controls=()):
        self.script = list(script)
        self.clock = clock
        self.fail = set(fail)
        self.requests = dict(requests or {})
        self.controls = controls
        self.calls, self.reads = [], collections.Counter()
        self._domain = self

    def _entry(self, kind):
        poll = int(round(self.clock() / POLL_S))
        self.reads[poll, kind] += 1
        if poll in self.requests:
            self.controls.append(self.requests.pop(poll))
        entry = self.script[poll] if poll < len(self.script) else COMPLETED
        return entry if isinstance(entry, tuple) else (entry, fakes.RUNNING)

    def get_job_info(self):
        # NOTE: as nova's Guest, through the domain's job stats
        return fakes.FakeJobInfo(self._domain.jobStats()['type'])

    def jobStats(self):
        entry, _ = self._entry('stats')
        if isinstance(entry, dict):
            return dict(entry, type=RUNNING)
        return {'type': entry}

    def state(self):
        poll = int(round(self.clock() / POLL_S))
        entry = self.script[poll] if poll < len(self.script) else COMPLETED
        return list(entry[1] if isinstance(entry, tuple) else fakes.RUNNING)


class Store:
    def __init__(self):
        self.written = []

    def metadata(self, keys):
        self.written.append(('metadata', sorted(keys.items())))

    def event(self, name, failure_reason):
        self.written.append(('event', name, failure_reason))

    def stats(self, obs, progress):
        self.written.append(
            (
                'stats',
                obs.memory_total_bytes,
                obs.memory_remaining_bytes,
                progress,
            )
        )


def _traces():
    paths = sorted(TRACES.glob('*.json'))
    if not paths:
        # NOTE: an empty folder would leave every test nothing to compare
        raise AssertionError('no recorded traces in %s' % TRACES)
    for path in paths:
        trace = json.loads(path.read_text())
        yield path.stem, trace['ram_bytes'], [s for _, s in trace['samples']]


def scenarios():
    """:returns: {name: keyword arguments of :func:`replay`}"""
    out = {}
    for name, ram, samples in _traces():
        for policy in loader.available_policies():
            for permits in PERMITS:
                out['%s/%s/%s' % (name, policy, permits)] = dict(
                    ram=ram, script=samples, policy=policy, permits=permits
                )
        base = dict(ram=ram, script=samples, policy='adaptive')
        out[name + '/api-abort'] = dict(
            base, permits='postcopy', requests={3: monitor.API_ABORT}
        )
        for permits in PERMITS:
            out['%s/force-complete/%s' % (name, permits)] = dict(
                base, permits=permits, requests={2: monitor.FORCE_COMPLETE}
            )
            out['%s/calls-fail/%s' % (name, permits)] = dict(
                base, permits=permits, fail=('downtime', 'postcopy', 'pause')
            )
        out[name + '/job-failed'] = dict(
            base, permits='none', script=samples[:4] + [FAILED]
        )
        out[name + '/job-cancelled'] = dict(
            base, permits='none', script=samples[:4] + [CANCELLED]
        )
        out[name + '/vanished'] = dict(
            base, permits='none', script=samples[:4] + [NONE], done_at=4
        )
        broken = [(s, fakes.POSTCOPY_FAILED) for s in samples[3:6]]
        out[name + '/postcopy-link'] = dict(
            base,
            permits='postcopy',
            script=samples[:3] + broken + samples[6:],
            phase=Phase.POSTCOPY,
        )
    return out


def replay(
    ram,
    script,
    policy,
    permits,
    requests=None,
    fail=(),
    phase=Phase.PRECOPY,
    done_at=None,
):
    """Run one scenario: :returns: (record, reads per poll)."""
    allowed = Permits.named(permits)
    chosen = loader.build_policy(policy, MigrationContext(ram, allowed), {})
    clock = fakes.FakeClock()
    controls = collections.deque()
    guest = ReplayGuest(script, clock, fail, requests, controls)
    store = Store()
    publisher = lm_publisher.Publisher(store, 'mig-1', policy)
    publisher.started()
    decisions = []

    class Listener(monitor.Listener):
        def decision(self, decision, obs):
            decisions.append(
                (
                    obs.elapsed_s,
                    decision.action.value,
                    decision.reason,
                    decision.downtime_ms,
                )
            )
            publisher.decision(decision, obs)

        def stats(self, obs):
            publisher.stats(obs)

        def postcopy_link(self, broken, obs):
            publisher.postcopy_link(broken, obs)

    def job_end():
        if done_at is not None and clock() >= done_at * POLL_S:
            return FAILED
        return None

    mon = monitor.Monitor(
        guest,
        chosen,
        monitor.MonitorConfig(
            poll_s=POLL_S,
            stats_interval_s=1.0,
            clock=clock,
            sleep=clock.sleep,
        ),
        Listener(),
        controls=controls,
        phase=phase,
        postcopy_enabled=allowed.postcopy,
        job_end=job_end,
    )
    try:
        outcome = mon.run()
        ended = [
            outcome.job,
            outcome.aborted_by,
            outcome.reason,
            outcome.recover_tasks,
            outcome.phase.value,
        ]
    except Exception as exc:
        ended = ['raised', type(exc).__name__, str(exc)]
    # NOTE: as the driver ends a migration (an exception publishes nothing)
    if ended[0] == 'completed':
        publisher.finished('completed')
    elif ended[0] != 'raised':
        publisher.finished(
            'aborted' if ended[1] else 'failed', ended[2] or None
        )
    record = {
        'outcome': ended,
        'calls': guest.calls,
        'decisions': decisions,
        'published': store.written,
    }
    polls = collections.Counter()
    for (poll, _), count in guest.reads.items():
        polls[poll] += count
    return record, polls


def summary(record):
    """What the golden file keeps of one record: the readable parts and a
    hash of all of it.
    """
    text = json.dumps(record, sort_keys=True)
    return {
        'outcome': record['outcome'],
        'calls': json.loads(json.dumps(record['calls'])),
        'sha256': hashlib.sha256(text.encode()).hexdigest(),
    }


def record_all():
    return {name: summary(replay(**kw)[0]) for name, kw in scenarios().items()}


if __name__ == '__main__':
    json.dump(record_all(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')
