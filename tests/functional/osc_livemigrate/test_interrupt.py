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
"""The Ctrl-C tests' children get SIGINT however the suite was started.

A parent Python is started here as a shell starts a background job
without job control: with SIGINT ignored. It starts a child Python, the
way the Ctrl-C tests start ``openstack``, and presses Ctrl-C on it. The
child reports how it found SIGINT; with its KeyboardInterrupt handler in
place it waits for the signal and reports the KeyboardInterrupt.
No cloud is needed.
"""

import json
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)

#: the child: a stand-in for ``openstack ... --wait`` waiting on nova
CHILD = """
import signal, sys, time
handler = signal.getsignal(signal.SIGINT)
if handler is not signal.default_int_handler:
    # SIGINT ignored (or no handler): the Ctrl-C would never arrive
    print('started with SIGINT %r' % (handler,), flush=True)
    sys.exit(0)
try:
    # NOTE: inside the try: the parent presses Ctrl-C once it reads this
    print('ready', flush=True)
    time.sleep(300)
except KeyboardInterrupt:
    print('KeyboardInterrupt', flush=True)
    sys.exit(3)
print('slept through', flush=True)
"""

#: the parent: the test process, started with SIGINT ignored
PARENT = """
import json, signal, subprocess, sys
from tests.functional import interrupt
assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
argv = [sys.executable, '-c', sys.argv[2]]
kw = dict(stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
if sys.argv[1] == 'helper':
    child = interrupt.popen(argv, **kw)
else:
    child = subprocess.Popen(argv, **kw)
first = child.stdout.readline().strip()
if first == 'ready':
    interrupt.press_ctrl_c(child)
rest, _ = child.communicate(timeout=120)
lines = [first] + rest.splitlines()
print(json.dumps({'lines': lines, 'rc': child.returncode}))
"""


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _from_a_background_job(how):
    """Run PARENT with SIGINT ignored, as ``cmd &`` in a script runs it.

    :returns: what its child printed and its exit code
    """
    r = subprocess.run(
        [sys.executable, '-c', PARENT, how, CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        preexec_fn=_ignore_sigint,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_a_child_started_by_the_helper_gets_keyboard_interrupt():
    got = _from_a_background_job('helper')
    assert got == {'lines': ['ready', 'KeyboardInterrupt'], 'rc': 3}, got


def test_a_plain_popen_from_such_a_parent_leaves_sigint_ignored():
    """The control: the fault the helper exists for, reproduced here."""
    got = _from_a_background_job('plain')
    assert got == {
        'lines': ['started with SIGINT <Handlers.SIG_IGN: 1>'],
        'rc': 0,
    }, got
