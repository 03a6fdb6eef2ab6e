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
"""A reset wipes the cloud's state but keeps its last logs once.

A test session that finds the fake cloud broken starts a fresh one; the
logs of the broken one are what tells why (a CI run lost them so).
"""

import os

from testbed.cloud import Cloud


def _log(c, text):
    os.makedirs(c.layout.logs, exist_ok=True)
    with open(os.path.join(c.layout.logs, 'nova-api.log'), 'w') as f:
        f.write(text)


def _kept(c):
    with open(os.path.join(c.layout.logs + '.previous', 'nova-api.log')) as f:
        return f.read()


def test_reset_keeps_the_last_logs_until_the_next_reset(tmp_path):
    c = Cloud(mode='fake', base=str(tmp_path), say=lambda msg: None)
    os.makedirs(c.layout.state)
    _log(c, 'first cloud')
    c.reset(quiet=True)
    assert not os.path.exists(c.layout.logs)
    assert not os.path.exists(c.layout.state)
    assert _kept(c) == 'first cloud'
    _log(c, 'second cloud')
    c.reset(quiet=True)
    assert _kept(c) == 'second cloud'
