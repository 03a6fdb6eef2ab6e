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
"""The policy benchmark's rows and claims, on the small guests.

Behaviour only: which rows complete, which actions are used, decision
ordering. Wall-clock speed is the benchmark's business, not a test's.
"""

import json
import os
import tempfile
import unittest

from benchmarks import policies as bench

FIELDS = {
    'policy',
    'ram_gib',
    'rho',
    'wws_gib',
    'permits',
    'converges',
    'outcome',
    'total_s',
    'lower_bound_s',
    'downtime_ms',
    'decision_s',
    'postcopy_s',
    'paused_s',
    'bytes_sent',
}


class TestPolicyBenchmark(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rows = [bench.run_one(*cell) for cell in bench.matrix(quick=True)]

    def test_rows_have_the_documented_fields(self):
        self.assertEqual(
            len(bench.POLICIES) * 2 * len(bench.RHOS) * 2 * 3, len(self.rows)
        )
        for row in self.rows:
            self.assertLessEqual(FIELDS, set(row))
            self.assertIn(row['outcome'], ('completed', 'aborted'))

    def test_claims_hold_on_small_guests(self):
        for text, ok, detail in bench.check_claims(self.rows):
            with self.subTest(claim=text):
                self.assertTrue(ok, detail)

    def test_converges_flag_follows_rho_and_working_set(self):
        row = bench.run_one('adaptive', 4, 2, 0.02, 'none')
        self.assertTrue(row['converges'])  # 80 MiB fits 500 ms at 1 GiB/s
        row = bench.run_one('adaptive', 4, 2, 0.5, 'none')
        self.assertFalse(row['converges'])
        self.assertEqual('aborted', row['outcome'])

    def test_main_writes_json_and_exits_zero(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'rows.json')
            self.assertEqual(0, bench.main(['--quick', '--out', out]))
            with open(out) as fh:
                self.assertEqual(len(self.rows), len(json.load(fh)))
