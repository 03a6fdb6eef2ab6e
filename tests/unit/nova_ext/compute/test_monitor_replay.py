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
"""The monitor and the publisher replay the stored traces as they always did.

Every trace of ``benchmarks/traces`` runs through the monitor under every
installed policy and permit set, plus operator requests, failing libvirt
calls, a broken post-copy link and a vanished job. What the loop did (the
decisions with their reasons, the libvirt calls, the outcome) and what the
publisher wrote (metadata keys, events, stats) is hashed per scenario and
compared with ``monitor_replay.json``, recorded before the driver's shells
were split (commit 6106346). Regenerate only for an intended change::

    python -m tests.unit.nova_ext.compute.replays > \\
        tests/unit/nova_ext/compute/monitor_replay.json
"""

import json
import unittest

from tests.unit.nova_ext.compute.replays import GOLDEN
from tests.unit.nova_ext.compute.replays import record_all
from tests.unit.nova_ext.compute.replays import replay
from tests.unit.nova_ext.compute.replays import scenarios


class TestMonitorReplay(unittest.TestCase):
    def test_every_scenario_behaves_as_recorded(self):
        golden = json.loads(GOLDEN.read_text())
        got = record_all()
        self.assertEqual(sorted(golden), sorted(got))
        self.assertGreater(len(got), 17 * 12)
        for name in golden:
            with self.subTest(scenario=name):
                self.assertEqual(golden[name], got[name])

    def test_job_stats_are_read_once_per_poll(self):
        for name, kw in scenarios().items():
            with self.subTest(scenario=name):
                _, reads = replay(**kw)
                self.assertEqual({1}, set(reads.values()))
