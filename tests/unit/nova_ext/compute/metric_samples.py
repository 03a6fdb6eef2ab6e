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
"""Reading a metrics registry as a scrape would, for the metrics' tests."""

from prometheus_client import parser


def samples(m):
    """``{(name, sorted labels): value}`` of everything ``m`` exposes."""
    out = {}
    for family in parser.text_string_to_metric_families(m.exposition()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m, name, **labels):
    return samples(m).get((name, tuple(sorted(labels.items()))))
