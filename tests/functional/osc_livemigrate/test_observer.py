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
"""The drain tests' observer counts what the issue calls in flight: a
witness that miscounted would let a broken limit pass. No cloud here.
"""

import types

from tests.functional.osc_livemigrate import observer


def _m(id_, src, dst, status, kind='live-migration'):
    return types.SimpleNamespace(
        id=id_,
        source_compute=src,
        dest_compute=dst,
        status=status,
        migration_type=kind,
    )


def test_a_look_sorts_in_flight_from_waiting_and_drops_the_rest():
    seen = observer.look(
        [
            _m(1, 'c1', 'c2', 'accepted'),
            _m(2, 'c1', 'c3', 'queued'),
            _m(3, 'c1', 'c4', 'preparing'),
            _m(4, 'c2', 'c4', 'running'),
            _m(5, 'c2', 'c5', 'post-migrating'),
            _m(6, 'c2', 'c5', 'completed'),
            _m(7, 'c3', 'c5', 'error'),
            _m(8, 'c3', 'c6', 'running', kind='migration'),
        ]
    )
    assert [r[0] for r in seen['in_flight']] == [3, 4, 5]
    assert [r[0] for r in seen['waiting']] == [1, 2]


def test_peaks_count_source_and_destination_and_waiting_apart():
    samples = [
        observer.look([_m(1, 'c1', 'c4', 'running')]),
        observer.look(
            [
                _m(1, 'c1', 'c4', 'running'),
                _m(2, 'c2', 'c4', 'preparing'),
                _m(3, 'c3', None, 'queued'),
            ]
        ),
        observer.look([_m(4, 'c3', 'c5', 'accepted')]),
    ]
    seen = observer.peaks(samples)
    assert seen['samples'] == 3
    assert seen['max_total'] == 2
    assert seen['max_per_host'] == (2, 'c4')
    assert seen['max_waiting'] == 1
    assert seen['max_total_with_waiting'] == 3
    assert seen['per_host_with_waiting'] == (2, 'c4')
