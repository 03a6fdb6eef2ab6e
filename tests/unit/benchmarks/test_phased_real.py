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
"""Phased workloads in the real benchmark and the calibration (no hosts)."""

import dataclasses
import unittest

from benchmarks import calibrate
from benchmarks import real
from nova_ext.core.sim import calibrated


def _scenario(name):
    return next(sc for sc in calibrate.SCENARIOS if sc[0] == name)


class TestRealPhased(unittest.TestCase):
    def test_a_burst_converges_when_its_idle_stage_outlasts_two_rounds(self):
        self.assertTrue(real.converges(real.PHASED['burst'], 20))
        # the ramp's 4 s idle is shorter than two 2.4 s rounds
        self.assertFalse(real.converges(real.PHASED['ramp'], 20))

    def test_a_constant_guest_keeps_the_old_rule(self):
        self.assertTrue(real.converges(real.WORKLOADS['calm'], 20))
        self.assertFalse(real.converges(real.WORKLOADS['hot'], 20))


class TestCalibrationPhased(unittest.TestCase):
    def test_each_half_holds_phased_scenarios(self):
        for half in ('fit', 'holdout'):
            phased = [
                sc
                for sc in calibrate.SCENARIOS
                if sc[6] == half and sc[7] is not None
            ]
            self.assertGreaterEqual(len(phased), 2, half)

    def test_guests_match_their_scenarios(self):
        for sc in calibrate.SCENARIOS:
            spec = calibrate.guest_spec(sc)
            self.assertEqual(
                (sc[3], sc[4]), (spec.dirty_mib, spec.dirty_rate_mib_s), sc[0]
            )
            self.assertEqual(spec.schedule is None, sc[7] is None, sc[0])

    def test_constant_predictions_are_the_calibrated_simulators(self):
        sc = _scenario('s256-f32-w16-r4-c20')
        _, total, downtime = calibrated.simulate(
            calibrate._policy(256), 256, 32, 16, 4, 20
        )
        self.assertEqual(
            calibrate.predict(calibrated.FITTED, sc), (total, downtime)
        )

    def test_a_burst_that_outruns_the_link_ends_in_its_idle_stage(self):
        # every write dirties a page: the 32 MiB set is full each round
        cal = dataclasses.replace(calibrated.FITTED, dirty_factor=1.0)
        sc = _scenario('p256-f0-w32-b48x12i6-c20')
        total, downtime = calibrate.predict(cal, sc)
        precopy_s = total - cal.setup_s
        self.assertGreaterEqual(precopy_s % 18, 12)
        self.assertIsNotNone(downtime)


def test_a_real_run_ends_by_drawing_its_recorded_traces(
    tmp_path, monkeypatch, capsys
):
    """The host pair and the runs are stood in for (no hosts here); what
    is checked is that main() draws the traces once the runs are made.
    """
    import contextlib

    from benchmarks import plots

    made = []

    class _Pair:
        def up(self):
            made.append('up')

        def down(self):
            made.append('down')

    monkeypatch.setattr(
        real.machine_lock,
        'exclusive',
        lambda *a, **k: contextlib.nullcontext(),
    )
    monkeypatch.setattr(real.build, 'build', lambda: 'image')
    monkeypatch.setattr(real.hosts, 'HostPair', _Pair)
    monkeypatch.setattr(
        real, 'run_matrix', lambda *a, **k: made.append('runs')
    )
    monkeypatch.setattr(
        plots,
        'trace_plots',
        lambda out: made.append(('plots', out)) or [out + '/real-x.png'],
    )
    assert real.main(['--quick', '--out', str(tmp_path / 'real.json')]) == 0
    assert made == ['up', 'runs', 'down', ('plots', plots.DEFAULT_OUT)]
    assert 'wrote %s/real-x.png' % plots.DEFAULT_OUT in capsys.readouterr().out
