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
"""The benchmark's pictures: what they show is what the policies did."""

import json

from benchmarks import plots

PNG = b'\x89PNG\r\n\x1a\n'


def _escalations(decisions):
    return [(t, a) for t, a in decisions if a != 'set-downtime']


def test_the_three_workloads_show_what_each_is_for():
    _, _, outcome, end = plots.simulate(
        'adaptive', plots.WORKLOADS['converging'][1]
    )
    assert (outcome, end < 10) == ('completed', True)
    # bursty: pre-copy ends in the first idle phase (the burst is 30 s)
    _, decisions, outcome, end = plots.simulate(
        'adaptive', plots.WORKLOADS['bursty'][1]
    )
    assert outcome == 'completed' and 30 <= end < 60
    assert _escalations(decisions) == []
    # hopeless: adaptive gives up after its horizon, long before nova
    _, decisions, outcome, end = plots.simulate(
        'adaptive', plots.WORKLOADS['hopeless'][1]
    )
    assert outcome == 'aborted' and end >= 120 + 3 * 2
    assert [a for _, a in _escalations(decisions)] == ['abort']
    _, _, nova_outcome, nova_end = plots.simulate(
        'nova', plots.WORKLOADS['hopeless'][1]
    )
    assert nova_outcome == 'aborted' and nova_end > 10 * end


def test_samples_are_the_sawtooth_the_policy_saw():
    samples, decisions, _, _ = plots.simulate(
        'nova', plots.WORKLOADS['hopeless'][1]
    )
    assert samples[0][0] == 0.5
    assert all(b > a for (a, _), (b, _) in zip(samples, samples[1:]))
    # the abort is marked where the policy took it, on the curve
    at_s = _escalations(decisions)[0][0]
    assert plots._left_at(samples, at_s) == samples[-1][1]


def test_one_png_per_workload_and_per_recorded_real_workload(tmp_path):
    paths = plots.simulator_plots(str(tmp_path))
    assert sorted(p.rsplit('/', 1)[1] for p in paths) == [
        'policy-bursty.png',
        'policy-converging.png',
        'policy-hopeless.png',
    ]
    traces = tmp_path / 'traces'
    traces.mkdir()
    trace = {
        'policy': 'adaptive',
        'permits': 'none',
        'ram_bytes': 256 << 20,
        'cap_mib_s': 20,
        'spec': {'mem_mib': 256},
        'outcome': 'aborted',
        'decisions': [[0.5, 'set-downtime', 'x', 500], [3.0, 'abort', 'y', 0]],
        'samples': [
            [t / 2, {'memory_remaining': (256 - 20 * t) << 20}]
            for t in range(1, 8)
        ],
    }
    (traces / 'real-adaptive-hot-none.json').write_text(json.dumps(trace))
    (traces / 'calibration-x.json').write_text('{}')  # not a real run
    paths += plots.trace_plots(str(tmp_path), str(traces))
    assert paths[-1].endswith('real-hot.png')
    for path in paths:
        with open(path, 'rb') as f:
            assert f.read(8) == PNG
