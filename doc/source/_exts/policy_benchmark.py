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
"""``.. policy-benchmark-table::``: the benchmark's tables, from its file.

The tables and claim lines are what ``python -m benchmarks.policies``
prints, rendered by the benchmark's own ``policy_rows.tables()`` and
``policy_claims.claim_line()`` from the committed
``benchmarks/results/policies.json``, so the page always shows what the
last benchmark run wrote, never a copy typed by hand.
"""

import json
import os

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

RESULTS = os.path.join('benchmarks', 'results', 'policies.json')


class PolicyBenchmarkTable(SphinxDirective):
    """A literal block with the benchmark's summary table."""

    has_content = False

    def run(self):
        from benchmarks import policies
        from benchmarks import policy_claims
        from benchmarks import policy_rows

        root = os.path.abspath(os.path.join(self.env.srcdir, '..', '..'))
        path = os.path.join(root, RESULTS)
        self.env.note_dependency(path)
        with open(path) as f:
            document = json.load(f)
        # NOTE: the file's own column lists: a file written before a
        # column was added still reads right
        rows = policy_rows.rows_from(
            document['cells'],
            document.get('cell_columns', policy_rows.CELL_COLUMNS),
            document.get('run_columns', policy_rows.RUN_COLUMNS),
        )
        lines = policy_rows.tables(rows, policies.POLICIES)
        lines.append('')
        lines += [policy_claims.claim_line(c) for c in document['claims']]
        text = '\n'.join(lines)
        block = nodes.literal_block(text, text)
        block['language'] = 'text'
        return [block]


def setup(app):
    app.add_directive('policy-benchmark-table', PolicyBenchmarkTable)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
