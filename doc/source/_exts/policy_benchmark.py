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
"""``.. policy-benchmark-table::``: the benchmark's summary, from its file.

The table is what ``python -m benchmarks.policies`` prints, rendered by the
benchmark's own ``summary()`` from the committed
``benchmarks/results/policies.json``, so the page always shows the rows the
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

        root = os.path.abspath(os.path.join(self.env.srcdir, '..', '..'))
        path = os.path.join(root, RESULTS)
        self.env.note_dependency(path)
        with open(path) as f:
            rows = json.load(f)
        text = '\n'.join(policies.summary(rows))
        block = nodes.literal_block(text, text)
        block['language'] = 'text'
        return [block]


def setup(app):
    app.add_directive('policy-benchmark-table', PolicyBenchmarkTable)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
