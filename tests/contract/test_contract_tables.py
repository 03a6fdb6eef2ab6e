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
"""The CLI and the driver agree on every contract name.

Each half spells the contract (doc/source/admin/contract.rst) in its own
table, ``osc_livemigrate/tables/contract.py`` and
``nova_ext/core/contract.py``, and
neither imports the other; this test is where the two meet. A key, phase,
action or event name changed on one side only fails here.
"""

import subprocess
import sys

import pytest

from nova_ext.core import contract as driver
from osc_livemigrate.tables import contract as cli

#: keys the driver writes that the CLI has no use for, with the reason; a
#: key missing from this list and from the CLI's table fails the test
DRIVER_ONLY_KEYS = {
    driver.DOWNTIME_MEASURED_KEY: (
        'whether libvirt measured the downtime: read by the demo and the '
        'tests; the CLI reports downtime_ms'
    ),
}


@pytest.mark.parametrize(
    'name',
    [
        'PREFIX',
        'POLICY_KEY',
        'MIGRATION_KEY',
        'REFUSAL_KEY',
        'EVENT_PREFIX',
        'LAST_KEY',
        'LAST_FIELDS',
        'LAST_OUTCOMES',
        'SHADOWS_KEY',
        'SHADOW_EVENT_PREFIX',
    ],
)
def test_both_halves_spell_the_same_name(name):
    assert getattr(cli, name) == getattr(driver, name)


def test_every_key_the_cli_uses_is_a_driver_key_and_back():
    assert cli.KEYS - driver.KEYS == set()
    assert driver.KEYS - cli.KEYS == set(DRIVER_ONLY_KEYS)


def test_the_cli_knows_every_phase_the_driver_publishes():
    assert cli.PHASES == driver.PHASES
    assert cli.POSTCOPY_FAILED == driver.PHASE_POSTCOPY_FAILED


def test_the_cli_knows_every_action_the_driver_publishes():
    assert cli.ACTIONS == driver.ACTIONS
    assert cli.POLICY_REFUSED == driver.ACTION_POLICY_REFUSED


def test_the_cli_reads_the_events_the_driver_records():
    assert cli.EVENTS == driver.EVENTS


def test_the_cli_table_imports_nothing_of_the_driver():
    """The comparison happens here, not by the CLI importing nova_ext."""
    code = (
        'import sys\n'
        'import osc_livemigrate.tables.contract\n'
        'import osc_livemigrate.follow.progress\n'
        'bad = sorted(m for m in sys.modules\n'
        '             if m.split(".")[0] in ("nova_ext", "nova"))\n'
        'print(",".join(bad))\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == ''
