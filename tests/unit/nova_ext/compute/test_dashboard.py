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
"""The Grafana dashboard queries only series the driver exports.

Every PromQL expression of doc/source/admin/dashboards/livemigrate.json
(panel targets and template variables) is reduced to the metric names it
selects; each must be a sample name the driver's registry exposes once
every kind of event has been fed to it.
"""

import json
import pathlib
import re

import pytest

from nova_ext.compute import metrics
from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import Observation

ROOT = pathlib.Path(__file__).resolve().parents[4]
DASHBOARD = ROOT / 'doc' / 'source' / 'admin' / 'dashboards'
DASHBOARD = DASHBOARD / 'livemigrate.json'
#: PromQL words that are not metric names
KEYWORDS = {
    'by',
    'without',
    'on',
    'ignoring',
    'group_left',
    'group_right',
    'bool',
    'offset',
    'and',
    'or',
    'unless',
    'inf',
    'nan',
}
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_VARIABLE = re.compile(r'\$\{[^}]*\}|\$\w+')
_MATCHERS = re.compile(r'\{[^}]*\}')
_RANGE = re.compile(r'\[[^\]]*\]')
_GROUPING = re.compile(
    r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)'
)
_NAME = re.compile(r'(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()')
_LABEL_VALUES = re.compile(r'^\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*$')


def metric_names(expr):
    """The metric names a PromQL expression selects.

    >>> sorted(metric_names(
    ...     'sum by (le) (rate(a_bucket{x="y"}[5m])) / b == 1'))
    ['a_bucket', 'b']
    """
    match = _LABEL_VALUES.match(expr)
    if match:  # Grafana's label_values(selector, label)
        expr = match.group(1)
    expr = _STRING.sub(' ', expr)
    expr = _VARIABLE.sub(' ', expr)
    expr = _MATCHERS.sub(' ', expr)
    expr = _RANGE.sub(' ', expr)
    expr = _GROUPING.sub(' ', expr)
    return {
        name for name in _NAME.findall(expr) if name.lower() not in KEYWORDS
    }


def _expressions(dashboard):
    """Every PromQL expression: panel targets (rows included) and
    template variables.
    """

    def panels(items):
        for item in items:
            yield item
            yield from panels(item.get('panels', []))

    for panel in panels(dashboard['panels']):
        for target in panel.get('targets', []):
            yield panel['title'], target['expr']
    for variable in dashboard['templating']['list']:
        if variable['type'] == 'query':
            query = variable['query']
            if isinstance(query, dict):
                query = query['query']
            yield '$' + variable['name'], query


def _exported():
    """The sample names the registry exposes with every series set."""
    m = metrics.Metrics()
    obs = Observation(
        elapsed_s=1.0,
        memory_total_bytes=1,
        memory_processed_bytes=1,
        memory_remaining_bytes=1,
    )
    listener = metrics.MigrationMetrics(m, 'in-flight', 'adaptive')
    listener.stats(obs)
    listener.decision(Decision(Action.POSTCOPY, 'test'), obs)
    listener.shadow('nova', Decision(Action.ABORT, 'test'))
    metrics.MigrationMetrics(m, 'ended', 'nova').ended('completed', 3.0)
    m.measured_downtime('adaptive', 40)
    return {s.name for f in m.registry.collect() for s in f.samples}


def test_the_dashboard_queries_only_exported_series():
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported()
    queried = {}
    for where, expr in _expressions(dashboard):
        names = metric_names(expr)
        assert names, (where, expr)
        for name in names:
            queried.setdefault(name, where)
    unknown = {n: w for n, w in queried.items() if n not in exported}
    assert not unknown, unknown
    # the bytes an operator graphs first are on it
    assert {
        'livemigrate_data_processed_bytes',
        'livemigrate_data_total_bytes',
    } <= set(queried)


def test_every_in_flight_gauge_is_on_the_dashboard():
    dashboard = json.loads(DASHBOARD.read_text())
    queried = set()
    for _, expr in _expressions(dashboard):
        queried |= metric_names(expr)
    assert {name for name, _, _ in metrics.GAUGES} <= queried


@pytest.mark.parametrize(
    'expr,names',
    [
        (
            'livemigrate_phase{instance_uuid=~"$instance_uuid"} == 1',
            {'livemigrate_phase'},
        ),
        (
            'histogram_quantile(0.95, sum by (le, policy) '
            '(rate(livemigrate_duration_seconds_bucket[$__rate_interval])))',
            {'livemigrate_duration_seconds_bucket'},
        ),
        ('count(x == 1) or vector(0)', {'x'}),
        (
            'label_values(livemigrate_phase, instance_uuid)',
            {'livemigrate_phase'},
        ),
        ('a{l="by (x)"} / ignoring (y) b offset 5m', {'a', 'b'}),
        (
            'livemigrate_data_procesed_bytes',
            {'livemigrate_data_procesed_bytes'},
        ),
    ],
)
def test_metric_names_reads_promql(expr, names):
    assert metric_names(expr) == names


def test_a_misspelled_series_is_caught():
    assert 'livemigrate_data_procesed_bytes' not in _exported()
