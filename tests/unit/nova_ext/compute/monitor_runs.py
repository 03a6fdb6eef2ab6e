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
"""The monitor run on the scripted fake guest of tests/fakes.py, with a
listener that records what it reports.
"""

import collections

from nova_ext.compute import monitor
from tests import fakes


class Recorder(monitor.Listener):
    """Keeps the decisions, the stats samples and the link's changes."""

    def __init__(self):
        self.decisions, self.samples, self.link = [], [], []

    def decision(self, decision, obs):
        self.decisions.append(decision)

    def stats(self, obs):
        self.samples.append(obs)

    def postcopy_link(self, broken, obs):
        self.link.append((broken, obs.elapsed_s))


def config(clock, stats_interval_s=5.0):
    return monitor.MonitorConfig(
        stats_interval_s=stats_interval_s, clock=clock, sleep=clock.sleep
    )


def run(policy, script, fail=(), requests=(), stats_interval_s=5.0, **kw):
    """Run the monitor with ``policy`` over ``script``; ``requests`` are
    queued as nova queues force-complete and abort.

    :returns: (outcome, guest, decisions, stats samples)
    """
    guest = fakes.FakeGuest(script, fail=fail)
    clock = fakes.FakeClock()
    listener = Recorder()
    controls = collections.deque(requests)
    mon = monitor.Monitor(
        guest,
        policy,
        config(clock, stats_interval_s),
        listener,
        controls=controls,
        **kw,
    )
    outcome = mon.run()
    outcome.link = listener.link
    return outcome, guest, listener.decisions, listener.samples
