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
"""tools/steps.sh: one line per set-up step, the detail in the log, and a
failure that names the step, its exit code, the log's tail and its path.

Each test runs a small bash script that sources the library and runs fake
steps, with its terminal output in files (so not a TTY).
"""

import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[3]
STEPS = ROOT / 'tools' / 'steps.sh'


def _run(tmp_path, body, **env):
    script = tmp_path / 'script'
    script.write_text(
        'set -euo pipefail\nsource %s\nsteps_begin demo 3\n%s\n'
        % (STEPS, body)
    )
    out, err = tmp_path / 'out', tmp_path / 'err'
    log = tmp_path / 'logs' / 'setup.log'
    with open(out, 'w') as o, open(err, 'w') as e:
        proc = subprocess.run(
            ['bash', str(script)],
            stdout=o,
            stderr=e,
            env=dict(
                PATH='/usr/bin:/bin',
                LIVEMIGRATE_SETUP_LOG=str(log),
                OUT=str(out),
                **env,
            ),
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    return proc.returncode, out.read_text(), err.read_text(), log


def test_steps_print_one_line_each_and_log_the_detail(tmp_path):
    rc, out, err, log = _run(
        tmp_path,
        "step 'first' echo apt said this\n"
        "step 'second' bash -c 'echo pip said that >&2'\n"
        'echo after',
    )
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0] == 'demo: set-up detail (apt, pip) goes to %s' % log
    assert re.fullmatch(r'\[1/3\] first \.\.\. ok \d+m\d\ds', lines[2])
    assert re.fullmatch(r'\[2/3\] second \.\.\. ok \d+m\d\ds', lines[4])
    assert lines[-1] == 'after'
    assert 'said' not in out + err
    text = log.read_text()
    assert 'apt said this' in text and 'pip said that' in text


def test_a_failed_step_names_itself_its_code_tail_and_log(tmp_path):
    rc, out, err, log = _run(
        tmp_path,
        "step 'fine' true\n"
        "step 'broken' bash -c 'seq 1 50; echo dpkg went wrong; exit 7'\n"
        "step 'never' touch ran-anyway",
        STEPS_TAIL_LINES='5',
    )
    assert rc == 7
    assert re.search(r'^\[2/3\] broken \.\.\. FAILED \(exit 7\) after ', err)
    tail = err.split('---- last 5 lines of %s:\n' % log)[1].splitlines()
    assert tail[:4] == ['48', '49', '50', 'dpkg went wrong'], err
    assert err.rstrip().endswith(
        "demo: step 'broken' failed; its full output: %s" % log
    )
    assert not (tmp_path / 'ran-anyway').exists()
    assert '[3/3]' not in out + err


def test_a_slow_step_shows_it_is_alive(tmp_path):
    # the step ends only once a heartbeat line has reached the terminal
    rc, out, err, _ = _run(
        tmp_path,
        "step 'slow' bash -c "
        '\'until grep -q "still running" "$OUT"; do sleep 0.1; done\'',
        STEPS_HEARTBEAT_S='1',
    )
    assert rc == 0, err
    assert re.search(
        r'^\[1/3\] slow \.\.\. still running after \d+m\d\ds$', out, re.M
    )


def test_a_shown_step_keeps_its_output_and_returns_its_code(tmp_path):
    rc, out, err, log = _run(
        tmp_path,
        "rc=0\nstep_shown 'tests' bash -c 'echo 3 passed; exit 5' || rc=$?\n"
        'echo "rc $rc"',
    )
    assert rc == 0, err
    assert out.splitlines()[1:3] == ['[1/3] tests (output below)', '3 passed']
    assert out.splitlines()[-1] == 'rc 5'
    assert re.search(r'\[1/3\] tests \.\.\. FAILED \(exit 5\)', err)
    assert log.read_text() == ''
