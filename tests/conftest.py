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


def _say(msg):
    # pytest captures print(); a wait of minutes must be visible
    sys.__stderr__.write('\n[testbed] %s\n' % msg)
    sys.__stderr__.flush()


@pytest.fixture(scope='session')
def testbed():
    """This machine's testbed, held for the whole test session: a second
    test run or demo waits instead of sharing our clouds and hosts.
    """
    with machine_lock.exclusive(
        'pytest %s' % ' '.join(sys.argv[1:]), say=_say
    ):
        yield
