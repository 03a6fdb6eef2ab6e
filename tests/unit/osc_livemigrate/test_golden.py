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
"""Every command's output on fixed fake-cloud scenarios matches the record.

What a user sees (stdout, stderr, exit code) and what the cloud receives
(every SDK call, in order) are compared with ``golden/<scenario>.json``;
see ``golden_scenarios`` for the scenarios and how to record them.
"""

import json
import os
import unittest

from tests.unit.osc_livemigrate import golden_scenarios as gs


class TestGolden(unittest.TestCase):
    maxDiff = None

    def test_every_golden_file_has_a_scenario(self):
        stored = sorted(
            f[: -len('.json')]
            for f in os.listdir(gs.GOLDEN)
            if f.endswith('.json')
        )
        self.assertEqual(sorted(gs.SCENARIOS), stored)

    def test_scenarios_replay_as_recorded(self):
        for name, func in sorted(gs.SCENARIOS.items()):
            with self.subTest(scenario=name):
                with open(gs.golden_path(name)) as f:
                    want = json.load(f)
                self.assertEqual(want, json.loads(gs.dump(func())))
