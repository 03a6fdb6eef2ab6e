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
"""testbed.cloud.driver_half: the swapped launch and what a virtualenv may
hold. Its real run (a libvirt-mode compute on the driver half) is a proof
made by hand (``python -m testbed.cloud.driver_half``), quoted in the
closing notes: it builds a virtualenv of ~140 packages, beyond the suite's
time budget.
"""

import os

import pytest

from testbed.cloud import driver_half
from testbed.cloud import layout as lay
from testbed.cloud.procs import CloudError
from testbed.cloud import services as svc


def test_the_swapped_compute_runs_the_new_venv_with_one_more_config(
    tmp_path,
):
    lo = lay.Layout(str(tmp_path / 'work'), mode='fake')
    os.makedirs(lo.path('etc', 'nova'), exist_ok=True)
    (own,) = [s for s in svc.table(lo) if s.name == 'nova-compute-compute1']
    venv = str(tmp_path / 'venv')
    swapped, extra = driver_half._swapped(own, venv, lo, 'compute1')
    argv = swapped.launch(lo, None).argv
    mine = own.launch(lo, None).argv
    assert argv[0] == os.path.join(venv, 'bin', 'nova-compute')
    assert mine[0] == lo.venv_bin('main', 'nova-compute')
    # the same configuration, one more file before the log file
    at = mine.index('--log-file')
    assert argv[1:] == mine[1:at] + ['--config-file', extra] + mine[at:]
    text = open(extra).read()
    helper = os.path.join(venv, 'bin', 'privsep-helper')
    assert text.count('helper_command = %s ' % helper) == 2, text
    assert lo.venv_bin('main', 'privsep-helper') not in text
    assert '--config-file %s' % extra in text
    # the rest of the row is the service's own
    assert (swapped.name, swapped.probe) == (own.name, own.probe)


def test_a_virtualenv_holding_what_it_must_not_is_an_error(capsys):
    rows = [[3 * 2**20, 'nova'], [2**20, 'prometheus_client']]
    driver_half.describe('driver', rows, driver_half.CLIENT_ONLY)
    out = capsys.readouterr().out
    assert 'driver: 2 distributions, 4 MiB; largest nova 3.0 MiB' in out
    with pytest.raises(CloudError, match=r"\['python-openstackclient'\]"):
        driver_half.describe(
            'driver',
            rows + [[10, 'python_openstackclient']],
            driver_half.CLIENT_ONLY,
        )
    with pytest.raises(CloudError, match='prometheus-client'):
        driver_half.describe('cli', rows, driver_half.DRIVER_ONLY)
