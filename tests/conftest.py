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
"""Fixtures shared by every real-level test (mini-clouds, host pairs)."""

import sys

import pytest

from testbed import machine_lock


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each test's call seconds as a JUnit property (``call_s``).

    Why: a test's JUnit time adds its fixtures' set-up, and the first test
    of a level carries the start of that level's cloud (a session fixture).
    ``tools/durations.py`` judges the 90 s budget on the call and shows it
    beside the whole time. The teardown report, which JUnit writes the
    properties from, is made after it is appended.
    """
    outcome = yield
    report = outcome.get_result()
    if report.when == 'call':
        item.user_properties.append(('call_s', round(report.duration, 2)))


def _say(msg):
    # pytest captures print(); a wait of minutes must be visible
    sys.__stderr__.write('\n[testbed] %s\n' % msg)
    sys.__stderr__.flush()


def _hold(part):
    with machine_lock.exclusive(
        'pytest %s' % ' '.join(sys.argv[1:]), part, say=_say
    ):
        yield


@pytest.fixture(scope='session')
def testbed_hosts():
    """The e2e host pair, held for the whole test session: a second test
    run, benchmark or calibration waits instead of sharing our hosts.
    """
    yield from _hold('hosts')


@pytest.fixture(scope='session')
def testbed_cloud():
    """The fake-mode mini-cloud, held for the whole test session."""
    yield from _hold('cloud')


@pytest.fixture(scope='session')
def testbed_cloud_libvirt():
    """The libvirt-mode mini-cloud and its host pair, held for the whole
    test session (the demo uses them too).
    """
    yield from _hold('cloud-libvirt')
