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
"""tools/run-tests and .ci/run: the order of the levels and the exit codes.

A stand-in ``python3`` on PATH records each call and answers with the exit
code the test gives the tox env it was asked for, so the scripts run as
they are, without tox, in a second.
"""

import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAKE_PYTHON = """#!/bin/bash
echo "$*" >> "$FAKE_LOG"
if [[ "$1 $2" == "-m tox" && "$3" == "--version" ]]; then exit 0; fi
env=""
for ((i = 1; i <= $#; i++)); do
    if [[ "${!i}" == "-e" ]]; then j=$((i + 1)); env=${!j}; fi
done
if [[ "$*" == *--notest* ]]; then exit "${FAKE_RC_build:-0}"; fi
var="FAKE_RC_${env//-/_}"
exit "${!var:-0}"
"""
GATES = ['pep8', 'releasenotes', 'docs', 'nova-unit']
LEVELS = ['py3', 'functional', 'e2e', 'functional-cloud']
# the virtualenvs, built as set-up steps before anything runs
BUILDS = ['py3', ','.join(GATES)]


@pytest.fixture
def tree(tmp_path):
    """A copy of the two scripts, and a bin/ with the stand-ins."""
    for path in ('tools/run-tests', 'tools/steps.sh', '.ci/run'):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, body in (
        ('python3', FAKE_PYTHON),
        ('shellcheck', '#!/bin/sh\n'),
    ):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def _run(tree, script, *args, **rcs):
    log = tree / 'calls'
    log.write_text('')
    env = {
        'PATH': '%s:%s' % (tree / 'bin', os.environ['PATH']),
        'FAKE_LOG': str(log),
        'LIVEMIGRATE_SETUP_LOG': str(tree / 'setup.log'),
    }
    env.update({'FAKE_RC_%s' % k: str(v) for k, v in rcs.items()})
    proc = subprocess.run(
        [str(tree / script)] + list(args),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    envs = []
    for line in log.read_text().splitlines():
        words = line.split()
        if '-e' in words:
            envs.append(words[words.index('-e') + 1])
    return proc, envs


def test_every_gate_then_every_level_in_order(tree):
    proc, envs = _run(tree, 'tools/run-tests')
    assert proc.returncode == 0, proc.stderr
    assert envs == BUILDS + GATES + LEVELS


def test_arguments_run_one_session_over_every_test(tree):
    proc, envs = _run(tree, 'tools/run-tests', '-k', 'adaptive')
    assert proc.returncode == 0, proc.stderr
    assert envs == BUILDS + GATES + ['all']
    assert '-k adaptive' in (tree / 'calls').read_text()


def test_a_failing_level_stops_the_run_with_its_code(tree):
    proc, envs = _run(tree, 'tools/run-tests', functional=1)
    assert proc.returncode == 1
    assert envs == BUILDS + GATES + ['py3', 'functional']


def test_a_level_that_collects_nothing_fails_ci(tree):
    proc, envs = _run(tree, 'tools/run-tests', e2e=5)
    assert proc.returncode == 5
    assert 'level e2e collected no tests' in proc.stderr
    proc, _ = _run(tree, '.ci/run', e2e=5)
    assert proc.returncode == 1
    assert 'collected no tests' in proc.stderr


def test_a_failed_virtualenv_build_stops_before_any_test(tree):
    proc, envs = _run(tree, 'tools/run-tests', build=3)
    assert proc.returncode == 3
    assert envs == ['py3']
    assert 'FAILED (exit 3)' in proc.stderr
    assert str(tree / 'setup.log') in proc.stderr


def test_the_set_up_is_numbered_steps_and_the_levels_follow(tree):
    proc, _ = _run(tree, 'tools/run-tests')
    heads = [ln for ln in proc.stdout.splitlines() if ln.startswith('[')]
    total = 5 + len(GATES) + len(LEVELS)
    assert re.fullmatch(
        r'\[%d/%d\] level functional-cloud \.\.\. ok \d+m\d\ds'
        % (total, total),
        heads[-1],
    ), heads
    assert '[4/%d] building the test virtualenv py3' % total in proc.stdout
