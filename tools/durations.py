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
"""Where a ``tools/run-tests`` run spent its time: one table for the run.

Reads the steps file ``tools/steps.sh`` wrote (``SECONDS<tab>EXIT<tab>
LABEL`` per step: set-up, gates, levels) and, for each step labelled
``level NAME``, the JUnit XML pytest wrote for it (``junit-NAME.xml``,
beside the steps file). Prints one row per step (exit code, tests, passed,
failed, skipped, wall seconds), the slowest tests of the whole run, and a
closing line ``N passed, N failed`` for the whole run; writes the same text
and a JSON document next to the steps file. Standard library only: it runs
under the machine's ``python3`` before any virtualenv exists.

A step that failed without a failing test of its own (a gate, a level that
collected nothing, a crash before pytest wrote its report) counts as one
failure, so that the closing line of a red run never says ``0 failed``::

    python3 tools/durations.py .logs/run-tests-steps.tsv
"""

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

SLOWEST = 15
#: a real-level test longer than this must be listed, with its reason, in
#: the testing doc (issue 21's budget); the table names the others
BUDGET_S = 90
REAL_LEVELS = ('e2e', 'functional-cloud', 'functional-libvirt', 'all')
BUDGET_DOC = os.path.join('doc', 'source', 'contributor', 'testing.rst')
LISTED_FROM = 'Tests allowed over 90 seconds'
LEVEL = re.compile(r'level ([\w-]+)')
OUTCOMES = ('passed', 'failed', 'skipped')


def read_steps(path):
    """:returns: ``[(label, exit_code, seconds)]`` in the order they ran."""
    steps = []
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return steps
    for line in lines:
        seconds, rc, label = line.split('\t', 2)
        steps.append((label, int(rc), int(seconds)))
    return steps


def _outcome(case):
    """A test's outcome; an error (in a fixture, at collection) is a
    failure here, as it fails the run.
    """
    tags = {child.tag for child in case}
    if tags & {'failure', 'error'}:
        return 'failed'
    if 'skipped' in tags:
        return 'skipped'
    return 'passed'


def _call_seconds(case):
    """The ``call_s`` property tests/conftest.py records, or None."""
    for prop in case.iter('property'):
        if prop.get('name') == 'call_s':
            try:
                return float(prop.get('value'))
            except (TypeError, ValueError):
                return None
    return None


def read_junit(path):
    """:returns: ``[(test id, outcome, seconds, call seconds)]`` of one
    pytest report, or None when there is none (the level did not get that
    far). ``seconds`` is JUnit's time (set-up, call and teardown); the call
    seconds are None when the report does not say them.
    """
    try:
        root = ET.parse(path).getroot()
    except (FileNotFoundError, ET.ParseError):
        return None
    tests = []
    for case in root.iter('testcase'):
        name = case.get('name', '?')
        classname = case.get('classname')
        test_id = '%s::%s' % (classname, name) if classname else name
        took = float(case.get('time') or 0.0)
        call = _call_seconds(case)
        tests.append((test_id, _outcome(case), took, call))
    return tests


def listed_in_doc(path=BUDGET_DOC):
    """The test function names the testing doc allows over the budget:
    every ``name`` in double back-quotes that starts with ``test_``, in the
    doc's section that lists them (LISTED_FROM on).
    """
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except OSError:
        return set()
    _, _, listed = text.partition(LISTED_FROM)
    return set(re.findall(r'``(test_\w+)', listed))


def over_budget(everything, listed, budget_s=BUDGET_S):
    """Real-level tests whose call took over ``budget_s``: ``(listed,
    unlisted)`` lists of ``(call seconds, level, test id)``. The call, not
    the fixtures' set-up: the first test of a level would otherwise carry
    the start of its cloud (a report without call seconds is judged on its
    whole time). A test counts as listed by its function name, parameters
    left out.
    """
    inside, outside = [], []
    for took, level, test_id, call in everything:
        judged = took if call is None else call
        if level not in REAL_LEVELS or judged <= budget_s:
            continue
        name = test_id.rsplit('::', 1)[-1].split('[', 1)[0]
        (inside if name in listed else outside).append(
            (judged, level, test_id)
        )
    return inside, outside


def summarize(steps, junit_dir, slowest=SLOWEST, listed=(), wall=None):
    """The whole run as a JSON-able dict: ``steps`` (one dict per step,
    with ``tests``/``passed``/``failed``/``skipped`` for a level that left
    a report), ``slowest`` and the run's ``passed``/``failed`` totals.
    ``seconds`` is the steps' sum; ``wall_seconds`` (when ``wall`` is
    given) the run's own clock, shorter when a level ran in the background
    beside the others.
    """
    rows, everything = [], []
    passed = failed = 0
    for label, rc, seconds in steps:
        row = {'step': label, 'exit': rc, 'seconds': seconds}
        match = LEVEL.match(label)
        tests = None
        if match:
            level = match.group(1)
            tests = read_junit(os.path.join(junit_dir, 'junit-%s.xml' % level))
        if tests is not None:
            counts = {k: 0 for k in OUTCOMES}
            for test_id, outcome, took, call in tests:
                counts[outcome] += 1
                everything.append((took, level, test_id, call))
            row.update(tests=len(tests), **counts)
            passed += counts['passed']
            failed += counts['failed']
        if rc != 0 and not row.get('failed'):
            row['note'] = 'failed without a failing test: counted as one'
            failed += 1
        rows.append(row)
    everything.sort(key=lambda t: (-t[0], t[1], t[2]))
    inside, outside = over_budget(everything, set(listed))
    return {
        'budget_s': BUDGET_S,
        'over_budget_listed': [list(t) for t in inside],
        'over_budget_unlisted': [list(t) for t in outside],
        'steps': rows,
        'seconds': sum(r['seconds'] for r in rows),
        'wall_seconds': wall,
        'slowest': [
            {
                'seconds': round(took, 2),
                'call_seconds': call,
                'level': level,
                'test': test_id,
            }
            for took, level, test_id, call in everything[:slowest]
        ],
        'passed': passed,
        'failed': failed,
    }


def _cell(row, key):
    return '' if key not in row else str(row[key])


def render(summary):
    """The table as text; its last line is ``N passed, N failed``."""
    width = max([4] + [len(r['step']) for r in summary['steps']])
    width = min(width, 60)
    head = '%-*s %4s %6s %6s %6s %7s %7s' % (
        width,
        'step',
        'exit',
        'tests',
        'passed',
        'failed',
        'skipped',
        'seconds',
    )
    lines = ['run-tests: where the time went', head, '-' * len(head)]
    for r in summary['steps']:
        lines.append(
            '%-*s %4s %6s %6s %6s %7s %7d%s'
            % (
                width,
                r['step'][:width],
                r['exit'],
                _cell(r, 'tests'),
                _cell(r, 'passed'),
                _cell(r, 'failed'),
                _cell(r, 'skipped'),
                r['seconds'],
                ('  (%s)' % r['note']) if 'note' in r else '',
            )
        )
    if summary.get('wall_seconds') is None:
        lines.append('%-*s %41d' % (width, 'total', summary['seconds']))
    else:
        lines.append(
            '%-*s %41d' % (width, 'sum of the steps', summary['seconds'])
        )
        lines.append(
            '%-*s %41d'
            % (width, 'wall clock (lanes overlap)', summary['wall_seconds'])
        )
    lines.append('')
    lines.append(
        'the %d slowest tests (set-up, call and teardown; the call alone '
        'in brackets where it was less than 90 %% of that):'
        % len(summary['slowest'])
    )
    for t in summary['slowest']:
        call = t.get('call_seconds')
        apart = (
            '(call %.1f s) ' % call
            if call is not None and call < 0.9 * t['seconds']
            else ''
        )
        lines.append(
            '%8.1f s  %-16s %s%s'
            % (t['seconds'], t['level'], apart, t['test'])
        )
    unlisted = summary.get('over_budget_unlisted') or []
    if unlisted:
        lines.append('')
        lines.append(
            'calls over the %d s budget of a real-level test and not '
            'listed in %s:' % (summary['budget_s'], BUDGET_DOC)
        )
        for took, level, test_id in unlisted:
            lines.append('%8.1f s  %-16s %s' % (took, level, test_id))
    lines.append(
        '%d passed, %d failed' % (summary['passed'], summary['failed'])
    )
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('steps', help='the steps file tools/steps.sh wrote')
    parser.add_argument(
        '--slowest',
        type=int,
        default=SLOWEST,
        help='how many of the slowest tests (default %d)' % SLOWEST,
    )
    parser.add_argument(
        '--wall',
        type=int,
        help="the run's wall-clock seconds (its levels may overlap)",
    )
    args = parser.parse_args(argv)
    folder = os.path.dirname(os.path.abspath(args.steps))
    root = os.path.dirname(folder)
    summary = summarize(
        read_steps(args.steps),
        folder,
        args.slowest,
        listed_in_doc(os.path.join(root, BUDGET_DOC)),
        args.wall,
    )
    text = render(summary)
    base = os.path.join(folder, 'run-tests-durations')
    with open(base + '.txt', 'w', encoding='utf-8') as f:
        f.write(text)
    with open(base + '.json', 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
        f.write('\n')
    sys.stdout.write(
        text.replace('\n', ' (also in %s.txt and .json)\n' % base, 1)
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
