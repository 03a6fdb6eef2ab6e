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
"""``server migrate --live-migration --wait`` through the real ``openstack``
entry point against the mini-cloud's nova: the commands are there, a wait
ends on the other host, and Ctrl-C with ``--on-interrupt abort`` rolls back.

Fake-mode computes (nova's FakeLiveMigrateDriver) take about 5 s per live
migration and report no memory statistics, so byte counters stay empty here;
progress bytes and the driver's ``livemigrate:*`` keys on real guests are
covered against the libvirt-mode mini-cloud (our driver on two libvirt
hosts), in ``tests/functional/libvirt_cloud/test_libvirt_*.py``.
"""

import subprocess
import time

from tests.functional import interrupt
from tests.functional.osc_livemigrate import cli


def test_help_lists_every_plugin_command(cloud):
    out = cloud.openstack('--help').stdout
    for words in (
        'server migrate ',
        'server migration list',
        'server migration show',
        'server migration abort',
        'server migration force complete',
        'server migration watch',
        'compute host drain',
    ):
        line = [ln for ln in out.splitlines() if ln.strip().startswith(words)]
        assert line and '(osc-livemigrate)' in line[0], words


def test_migrate_wait_completes_on_other_host(cloud, server):
    r = cloud.openstack(
        'server',
        'migrate',
        '--live-migration',
        '--wait',
        '--policy',
        'nova',
        '--poll-interval',
        '1',
        server,
    )
    lines = cli.json_lines(r.stdout)
    assert lines[0]['type'] == 'progress'
    result = lines[-1]
    assert (
        result['type'],
        result['ok'],
        result['host'],
        result['status'],
    ) == ('result', True, 'compute2', 'completed'), result
    assert cli.host(cloud, server) == 'compute2'
    shown = cloud.openstack_json('server', 'show', server)
    assert (
        "'livemigrate:policy': 'nova'" in str(shown['properties'])
        or shown['properties'].get('livemigrate:policy') == 'nova'
    )


def test_migrate_wait_reports_rollback_after_ctrl_c_abort(cloud, server):
    p = interrupt.popen(
        [
            cloud.openstack_bin,
            'server',
            'migrate',
            '--live-migration',
            '--wait',
            '--on-interrupt',
            'abort',
            '--poll-interval',
            '0.5',
            server,
        ],
        env=cli.env(cloud),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        seen.append(line)
        if '"status": "running"' in line or not line:
            break
    interrupt.press_ctrl_c(p)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, (seen, out, err)
    result = cli.json_lines(out)[-1]
    assert (result['ok'], result['status'], result['host']) == (
        False,
        'cancelled',
        'compute1',
    )
    assert (
        'did not complete: migration cancelled; server still on compute1'
        in err
    )
    assert cli.host(cloud, server) == 'compute1'
