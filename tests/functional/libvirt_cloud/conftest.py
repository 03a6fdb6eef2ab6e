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
"""On a failed test, ask each nova-compute of the libvirt cloud for its
threads' stacks (nova's Guru Meditation report, SIGUSR2), written to the
service's own log.

Why: a CI run once found nova-compute wedged after a libvirtd restart (no
log line for 15 minutes, its migration task never returned), and the logs
could not say where it waited. The next time, the report will.
"""

import os
import signal
import time

import pytest

from testbed.cloud import services as svc

#: how long nova gets to write its report before the teardown goes on
REPORT_S = 2


def _ask_for_stacks(c):
    asked = []
    for host in c.hosts:
        name = svc.compute_name(host)
        pid = c.table.pid(name)
        if not pid:
            continue
        try:
            os.kill(pid, signal.SIGUSR2)
        except ProcessLookupError:
            continue
        asked.append(c.layout.log(name))
    if asked:
        time.sleep(REPORT_S)
    return asked


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    c = getattr(item, 'funcargs', {}).get('libvirt_cloud')
    if report.when != 'call' or not report.failed or c is None:
        return
    asked = _ask_for_stacks(c)
    if asked:
        report.sections.append(
            (
                'nova-compute stacks',
                "Guru Meditation reports (threads' stacks) written to: %s"
                % ', '.join(asked),
            )
        )
