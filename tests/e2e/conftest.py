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
"""Fixtures for real libvirt hosts: install, build, bring up, tear down.

Nothing here skips: a machine that cannot run these tests fails them with
the reason, because a skipped real-host test proves nothing.
"""

import os
import sys
import time

import pytest

# NOTE: testbed is not an installed package (setup.cfg ships only the
# product); these tests import it from the source tree.
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from testbed.guest import build  # noqa: E402
from testbed import hostpkgs  # noqa: E402
from testbed import hosts  # noqa: E402
from testbed import libvirtd  # noqa: E402

TIMINGS = {}


def _timed(what, func, *args):
    started = time.monotonic()
    try:
        return func(*args)
    finally:
        TIMINGS[what] = time.monotonic() - started


def pytest_terminal_summary(terminalreporter):
    """Print how long the real-host setup steps took."""
    if TIMINGS:
        terminalreporter.write_sep('-', 'real-host testbed timings')
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line('%-28s %7.1fs' % (what, seconds))


@pytest.fixture(scope='session')
def guest_image(testbed_hosts):
    """Host packages installed, libvirt-python importable, guest built."""
    if os.geteuid() != 0:
        pytest.fail(
            'real-host tests need root (namespaces, libvirtd, apt)',
            pytrace=False,
        )
    try:
        _timed(
            'install packages',
            hostpkgs.install,
            lambda line: print('testbed:', line),
        )
        libvirtd.load_libvirt()
        return _timed('build guest', build.build)
    except (RuntimeError, OSError) as exc:
        pytest.fail('real-host testbed unavailable: %s' % exc, pytrace=False)


@pytest.fixture(scope='session')
def host_pair(guest_image):
    """Hosts A and B, up for the whole session and always torn down."""
    pair = hosts.HostPair()
    try:
        _timed('hosts up', pair.up)
        yield pair
    finally:
        left = _timed('hosts down', pair.down)
        assert not left, 'teardown left behind: %s' % ', '.join(left)


@pytest.fixture
def guests(host_pair, guest_image):
    """Start guests by name; every guest is destroyed after the test."""
    started = []

    def start(name, spec, host='A', **kwargs):
        host_pair.destroy_guest(name)
        started.append(name)
        t0 = time.monotonic()
        dom = host_pair.start_guest(name, spec, guest_image, host, **kwargs)
        TIMINGS['boot %s' % name] = time.monotonic() - t0
        return dom

    yield start
    for name in started:
        host_pair.destroy_guest(name)
