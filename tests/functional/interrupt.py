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
"""Child processes a test presses Ctrl-C on (SIGINT), whoever started us.

A shell without job control starts a background job with SIGINT ignored,
and an ignored signal stays ignored across fork and exec. Python keeps it
so: a new interpreter installs its KeyboardInterrupt handler only when
SIGINT is not ignored at its start. A test run started as ``tools/run-tests
&`` from a script therefore starts every child with SIGINT ignored, and a
SIGINT the test sends never reaches the CLI. :func:`popen` puts SIGINT
back to its default in the child, between fork and exec, so the child
starts as it would from a terminal.
"""

import signal
import subprocess


def _default_sigint():
    # NOTE: runs in the child after fork, before exec: a disposition of
    # SIG_DFL survives exec, and the new interpreter then installs its
    # KeyboardInterrupt handler
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen(argv, **kwargs):
    """:class:`subprocess.Popen` of ``argv`` whose child starts with SIGINT
    at its default disposition, whatever this process has.

    :param kwargs: passed to Popen (not ``preexec_fn``)
    :returns: the Popen
    """
    return subprocess.Popen(argv, preexec_fn=_default_sigint, **kwargs)


def press_ctrl_c(proc):
    """Send SIGINT to a child started by :func:`popen`."""
    proc.send_signal(signal.SIGINT)
