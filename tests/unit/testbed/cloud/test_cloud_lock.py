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
"""up/down/reset on one work folder never run at the same time."""

import threading
import time

from testbed.cloud import Cloud


def test_second_command_waits_for_the_first(tmp_path):
    said = []
    first = Cloud(base=str(tmp_path), say=lambda m: None)
    second = Cloud(base=str(tmp_path), say=said.append)
    with first._exclusive():
        with first._exclusive():  # re-entrant: up calls down and reset
            pass
        t = threading.Thread(target=second.down, kwargs={'quiet': True})
        t.start()
        time.sleep(0.5)
        assert t.is_alive(), 'down ran while another command held the lock'
    t.join(10)
    assert not t.is_alive()
    assert said and 'waiting for another testbed.cloud command' in said[0]


def test_reset_keeps_the_venvs_and_the_lock(tmp_path):
    venv = tmp_path / 'venvs' / 'main'
    venv.mkdir(parents=True)
    for d in ('etc', 'state', 'logs', 'run'):
        (tmp_path / d).mkdir()
    (tmp_path / 'openrc').write_text('x')
    Cloud(base=str(tmp_path), say=lambda m: None).reset()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.lock', 'venvs']
    assert venv.is_dir()
