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
"""tools/run-tests and .ci/run: the order of the levels, the exit codes and
the table of durations that closes a run.

A stand-in ``python3`` on PATH records each call and answers with the exit
code the test gives the tox env it was asked for (and, for a level, with
the JUnit XML the test gives it), so the scripts run as they are, without
tox, in a second. ``tools/durations.py`` runs for real.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAKE_PYTHON = """#!/bin/bash
echo "$*" >> "$FAKE_LOG"
if [[ "$1" == tools/durations.py ]]; then exec "$REAL_PYTHON" "$@"; fi
if [[ "$1 $2" == "-m tox" && "$3" == "--version" ]]; then exit 0; fi
env=""
for ((i = 1; i <= $#; i++)); do
    if [[ "${!i}" == "-e" ]]; then j=$((i + 1)); env=${!j}; fi
    if [[ "${!i}" == --junitxml=* && -f "$FAKE_JUNIT/$env.xml" ]]; then
        cp "$FAKE_JUNIT/$env.xml" "${!i#--junitxml=}"
    fi
done
if [[ "$*" == *--notest* ]]; then exit "${FAKE_RC_build:-0}"; fi
key=${env//-/_}
touch_var="FAKE_TOUCH_$key"
if [[ -n "${!touch_var:-}" ]]; then touch "${!touch_var}"; fi
await_var="FAKE_AWAIT_$key"
if [[ -n "${!await_var:-}" ]]; then
    for _ in $(seq 300); do
        if [[ -e "${!await_var}" ]]; then break; fi
        sleep 0.1
    done
    if [[ ! -e "${!await_var}" ]]; then echo "never saw it" >&2; exit 9; fi
fi
echo "output of $env"
echo "end $env" >> "$FAKE_LOG"
var="FAKE_RC_$key"
exit "${!var:-0}"
"""
GATES = ['pep8', 'releasenotes', 'docs', 'nova-unit']
LEVELS = ['py3', 'functional', 'functional-cloud', 'e2e']
#: the level in the background lane, from the py3 build to the end
BACKGROUND = 'functional-libvirt'
# the virtualenvs, built as set-up steps before anything runs
BUILDS = ['py3', ','.join(GATES)]


@pytest.fixture
def tree(tmp_path):
    """A copy of the scripts, and a bin/ with the stand-ins."""
    for path in (
        'tools/run-tests',
        'tools/steps.sh',
        'tools/durations.py',
        '.ci/run',
    ):
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


def _run(tree, script, *args, fake=None, **rcs):
    """Run ``script``; :returns: its process and the tox envs it called,
    in order, the background level's call left out (its place in the log
    is a race). ``rcs``: exit codes per env; ``fake``: more FAKE_* vars.
    """
    log = tree / 'calls'
    log.write_text('')
    env = {
        'PATH': '%s:%s' % (tree / 'bin', os.environ['PATH']),
        'FAKE_LOG': str(log),
        'LIVEMIGRATE_SETUP_LOG': str(tree / 'setup.log'),
        'REAL_PYTHON': sys.executable,
        'FAKE_JUNIT': str(tree / 'junit'),
    }
    env.update({'FAKE_RC_%s' % k: str(v) for k, v in rcs.items()})
    env.update(fake or {})
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
        if '-e' in words and words[words.index('-e') + 1] != BACKGROUND:
            envs.append(words[words.index('-e') + 1])
    return proc, envs


def _background_calls(tree):
    return [
        ln
        for ln in (tree / 'calls').read_text().splitlines()
        if BACKGROUND in ln.split()
    ]


def test_every_gate_then_every_level_in_order(tree):
    proc, envs = _run(tree, 'tools/run-tests')
    assert proc.returncode == 0, proc.stderr
    assert envs == BUILDS + GATES + LEVELS
    calls = _background_calls(tree)
    assert len(calls) == 2 and calls[-1] == 'end %s' % BACKGROUND, calls


def test_the_libvirt_level_runs_beside_the_others_and_closes_the_run(tree):
    """The background level cannot end until the last foreground level
    has run: it runs beside them, and the run waits for it.
    """
    seen = tree / 'e2e-ran'
    proc, envs = _run(
        tree,
        'tools/run-tests',
        fake={
            'FAKE_TOUCH_e2e': str(seen),
            'FAKE_AWAIT_functional_libvirt': str(seen),
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert envs == BUILDS + GATES + LEVELS
    out = proc.stdout
    started = out.index('level %s (in the background' % BACKGROUND)
    assert started < out.index("building the gates' virtualenvs")
    assert '-e %s -- --junitxml=' % BACKGROUND in _background_calls(tree)[0]
    # its output is shown once it ends, after every other level
    assert out.index('output of %s' % BACKGROUND) > out.index('level e2e')
    assert re.search(
        r'\[5/14\] level %s \.\.\. ok \d+m\d\ds\n' % BACKGROUND, out
    ), out


def test_a_failed_background_level_fails_the_run_with_its_code(tree):
    proc, envs = _run(tree, 'tools/run-tests', functional_libvirt=3)
    assert proc.returncode == 3
    assert envs == BUILDS + GATES + LEVELS
    assert 'level %s ... FAILED (exit 3)' % BACKGROUND in proc.stderr
    proc, _ = _run(tree, 'tools/run-tests', functional_libvirt=5)
    assert proc.returncode == 5
    assert 'level %s collected no tests' % BACKGROUND in proc.stderr


def test_a_foreground_failure_still_waits_for_the_background_level(tree):
    """Its teardown must run: nothing of the cloud is left behind."""
    proc, envs = _run(tree, 'tools/run-tests', functional=2)
    assert proc.returncode == 2
    assert envs == BUILDS + GATES + ['py3', 'functional']
    assert _background_calls(tree)[-1] == 'end %s' % BACKGROUND
    assert 'output of %s' % BACKGROUND in proc.stdout


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
    total = 6 + len(GATES) + len(LEVELS)
    assert re.fullmatch(
        r'\[%d/%d\] level e2e \.\.\. ok \d+m\d\ds' % (total, total),
        heads[-3],
    ), heads
    assert heads[-2].startswith(
        '[5/%d] level %s: waiting' % (total, BACKGROUND)
    )
    assert re.fullmatch(
        r'\[5/%d\] level %s \.\.\. ok \d+m\d\ds' % (total, BACKGROUND),
        heads[-1],
    ), heads
    assert '[4/%d] building the test virtualenv py3' % total in proc.stdout


# ---------------------------------------------------------------- durations
PY3_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" time="4.0">
<testcase classname="tests.unit.test_a" name="test_quick" time="0.25"/>
<testcase classname="tests.unit.test_a" name="test_medium" time="3.5"/>
<testcase classname="tests.unit.test_b" name="test_off" time="0.0">
<skipped message="not here"/></testcase>
</testsuite></testsuites>
"""
E2E_JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" time="200.0">
<testcase classname="tests.e2e.test_p" name="test_slow[adaptive]"
 time="188.5"/>
<testcase classname="tests.e2e.test_p.TestQ" name="test_fails" time="7.0">
<failure message="assert 1 == 2">boom</failure></testcase>
<testcase classname="tests.e2e.test_p" name="test_fixture_broke" time="9">
<error message="fixture">broke</error></testcase>
</testsuite></testsuites>
"""
E2E_GREEN = """<testsuites><testsuite name="pytest" tests="1">
<testcase classname="tests.e2e.test_p" name="test_slow" time="171.0"/>
</testsuite></testsuites>
"""


def _durations_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        'durations', ROOT / 'tools' / 'durations.py'
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _junit(tree, **levels):
    (tree / 'junit').mkdir(exist_ok=True)
    for level, xml in levels.items():
        (tree / 'junit' / ('%s.xml' % level)).write_text(xml)


def test_durations_table_counts_each_level_and_orders_the_slowest(tmp_path):
    durations = _durations_module()
    (tmp_path / 'junit-py3.xml').write_text(PY3_JUNIT)
    (tmp_path / 'junit-e2e.xml').write_text(E2E_JUNIT)
    steps = [
        ('checking tox', 0, 2),
        ('gate pep8', 0, 41),
        ('level py3', 0, 63),
        ('level e2e', 1, 1090),
    ]
    summary = durations.summarize(steps, str(tmp_path), slowest=4)
    rows = {r['step']: r for r in summary['steps']}
    assert 'tests' not in rows['gate pep8']
    assert (rows['gate pep8']['exit'], rows['gate pep8']['seconds']) == (0, 41)
    counts = ('tests', 'passed', 'failed', 'skipped', 'seconds')
    assert [rows['level py3'][k] for k in counts] == [3, 2, 0, 1, 63]
    # an error (a broken fixture) fails the run as a failure does
    assert [rows['level e2e'][k] for k in counts] == [3, 1, 2, 0, 1090]
    assert summary['seconds'] == 2 + 41 + 63 + 1090
    assert [(t['level'], t['test']) for t in summary['slowest']] == [
        ('e2e', 'tests.e2e.test_p::test_slow[adaptive]'),
        ('e2e', 'tests.e2e.test_p::test_fixture_broke'),
        ('e2e', 'tests.e2e.test_p.TestQ::test_fails'),
        ('py3', 'tests.unit.test_a::test_medium'),
    ]
    text = durations.render(summary)
    assert text.splitlines()[-1] == '3 passed, 2 failed'
    assert re.search(r'level e2e +1 +3 +1 +2 +0 +1090\n', text), text
    assert re.search(r'\n +188\.5 s +e2e +tests\.e2e\.test_p::test_slow', text)


def test_durations_name_real_level_tests_over_budget_unless_listed(
    tmp_path,
):
    durations = _durations_module()
    (tmp_path / 'junit-py3.xml').write_text(
        PY3_JUNIT.replace('time="3.5"', 'time="95"')
    )
    (tmp_path / 'junit-e2e.xml').write_text(E2E_JUNIT)
    doc = tmp_path / 'testing.rst'
    steps = [('level py3', 0, 100), ('level e2e', 1, 1090)]
    doc.write_text('Rules: ``test_slow`` is only named here, not listed.\n')
    summary = durations.summarize(
        steps, str(tmp_path), listed=durations.listed_in_doc(str(doc))
    )
    # a unit test over 90 s is slow, but not a real-level test
    assert summary['over_budget_unlisted'] == [
        [188.5, 'e2e', 'tests.e2e.test_p::test_slow[adaptive]']
    ]
    text = durations.render(summary)
    assert 'not listed in doc/source/contributor/testing.rst' in text
    assert text.splitlines()[-1] == '3 passed, 2 failed'
    # listed by its function name, parameters left out: not named
    doc.write_text(
        'Rules: ``test_slow`` is only named here.\n'
        + durations.LISTED_FROM
        + "\n``test_slow[adaptive]``   nova's 180 s graceful shutdown\n"
    )
    summary = durations.summarize(
        steps, str(tmp_path), listed=durations.listed_in_doc(str(doc))
    )
    assert summary['over_budget_unlisted'] == []
    assert len(summary['over_budget_listed']) == 1
    assert 'not listed' not in durations.render(summary)


E2E_PHASES = """<testsuites><testsuite name="pytest" tests="2">
<testcase classname="tests.e2e.test_p" name="test_first" time="160.0">
<properties><property name="setup_s" value="110.5"/>
<property name="call_s" value="48.0"/></properties></testcase>
<testcase classname="tests.e2e.test_p" name="test_long" time="130.0">
<properties><property name="setup_s" value="0.5"/>
<property name="call_s" value="128.0"/></properties></testcase>
</testsuite></testsuites>
"""


def test_durations_judge_the_budget_on_the_call_and_show_the_set_up(
    tmp_path,
):
    """The first test of a level carries its cloud's start (a session
    fixture): 160 s in all, 48 s of its own. The budget judges the call;
    the table still shows the whole time, and the call beside it.
    """
    durations = _durations_module()
    (tmp_path / 'junit-e2e.xml').write_text(E2E_PHASES)
    summary = durations.summarize([('level e2e', 0, 300)], str(tmp_path))
    assert summary['over_budget_unlisted'] == [
        [128.0, 'e2e', 'tests.e2e.test_p::test_long']
    ]
    first = summary['slowest'][0]
    assert (first['seconds'], first['call_seconds']) == (160.0, 48.0)
    text = durations.render(summary)
    assert re.search(
        r'\n +160\.0 s +e2e +\(call 48\.0 s\) tests\.e2e\.test_p::test_first',
        text,
    ), text
    # a call close to the whole time is not repeated
    assert re.search(r'\n +130\.0 s +e2e +tests\.e2e\.test_p::test_long', text)


def test_durations_a_failed_step_without_a_failing_test_is_a_failure(
    tmp_path,
):
    durations = _durations_module()
    (tmp_path / 'junit-functional.xml').write_text(
        '<testsuites><testsuite name="pytest" tests="0"/></testsuites>'
    )
    steps = [
        ('level functional', 5, 3),  # collected nothing
        ('level e2e', 2, 1),  # no report at all (tox failed first)
    ]
    summary = durations.summarize(steps, str(tmp_path))
    rows = summary['steps']
    assert rows[0]['tests'] == 0 and 'tests' not in rows[1]
    assert all('counted as one' in r['note'] for r in rows)
    assert durations.render(summary).splitlines()[-1] == '0 passed, 2 failed'


def test_a_run_closes_with_the_table_and_writes_it_under_logs(tree):
    _junit(tree, py3=PY3_JUNIT, e2e=E2E_GREEN)
    (tree / '.logs').mkdir()
    stale = tree / '.logs' / 'junit-functional.xml'
    stale.write_text(E2E_JUNIT)  # an earlier run's: not this run's tests
    proc, envs = _run(tree, 'tools/run-tests')
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[-1] == '3 passed, 0 failed', proc.stdout
    table = out[out.index(next(ln for ln in out if 'where the time' in ln)) :]
    assert re.match(
        r'\[5/14\] level %s \.\.\. ok' % BACKGROUND, out[-len(table) - 1]
    )
    steps = [
        ln.split()[:2] for ln in table if ln.startswith(('gate', 'level'))
    ]
    assert steps == [['gate', g] for g in GATES] + [
        ['level', lv] for lv in LEVELS + [BACKGROUND]
    ]
    assert re.search(r'^level py3 +0 +3 +2 +0 +1 +\d+$', proc.stdout, re.M)
    assert re.search(r'^sum of the steps +\d+$', proc.stdout, re.M)
    wall = r'^wall clock \(lanes overlap\) +\d+$'
    assert re.search(wall, proc.stdout, re.M)
    assert re.search(r'^level functional +0 +\d+$', proc.stdout, re.M)
    logs = tree / '.logs'
    saved = json.loads((logs / 'run-tests-durations.json').read_text())
    assert saved['slowest'][0]['test'] == 'tests.e2e.test_p::test_slow'
    assert (
        (logs / 'run-tests-durations.txt')
        .read_text()
        .endswith('3 passed, 0 failed\n')
    )
    for level in LEVELS + [BACKGROUND]:
        assert (
            '-e %s -- --junitxml=%s/junit-%s.xml'
            % (
                level,
                logs,
                level,
            )
            in (tree / 'calls').read_text()
        )


def test_a_failed_level_still_closes_with_the_table_and_its_code(tree):
    (tree / 'junit').mkdir()
    (tree / 'junit' / 'functional-cloud.xml').write_text(E2E_JUNIT)
    proc, envs = _run(tree, 'tools/run-tests', functional_cloud=1)
    assert proc.returncode == 1
    assert envs[-1] == 'functional-cloud'
    assert proc.stdout.splitlines()[-1] == '1 passed, 2 failed'
    assert 'level e2e' not in proc.stdout
    proc, _ = _run(tree, 'tools/run-tests', functional=5)
    assert proc.returncode == 5
    assert proc.stdout.splitlines()[-1] == '0 passed, 1 failed'
    assert 'failed without a failing test' in proc.stdout


def test_one_session_writes_its_report_too(tree):
    _junit(tree, all=PY3_JUNIT)
    proc, _ = _run(tree, 'tools/run-tests', '-k', 'adaptive')
    assert proc.returncode == 0, proc.stderr
    assert re.search(r'^level all \(every test', proc.stdout, re.M)
    assert proc.stdout.splitlines()[-1] == '2 passed, 0 failed'
