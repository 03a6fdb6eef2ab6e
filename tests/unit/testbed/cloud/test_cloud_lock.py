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
"""up/down/reset/reconfigure on one work folder never run at the same
time; a command waits for the one running and names it.
"""

import os
import threading
import time

from testbed.cloud import Cloud


def test_second_command_waits_for_the_first_and_names_it(tmp_path):
    base = str(tmp_path)
    first = Cloud(base=base, say=lambda m: None)
    entered, release = threading.Event(), threading.Event()

    def stop_slowly(services):
        entered.set()
        release.wait(10)
        return [], []

    first.supervisor.stop = stop_slowly
    said = []
    second = Cloud(base=base, say=said.append)
    t1 = threading.Thread(
        target=first.down, kwargs={'quiet': True}, daemon=True
    )
    t1.start()
    try:
        assert entered.wait(10)
        t2 = threading.Thread(
            target=second.down, kwargs={'quiet': True}, daemon=True
        )
        t2.start()
        time.sleep(0.5)
        assert t2.is_alive(), 'down ran while another command held the lock'
        assert said == [
            'testbed.cloud: waiting for the cloud in %s: held by pid %d: '
            'testbed.cloud down (fake mode) (%s)'
            % (base, os.getpid(), os.path.join(base, '.lock'))
        ]
    finally:
        release.set()
        t1.join(10)
    t2.join(10)
    assert not t2.is_alive()
    assert said[1].startswith('testbed.cloud: got the cloud in %s' % base)


def test_reset_keeps_the_venvs_and_the_lock(tmp_path):
    """reset holds the lock and calls down, which takes it again: the lock
    is re-entrant within one Cloud (else this would hang).
    """
    venv = tmp_path / 'venvs' / 'main'
    venv.mkdir(parents=True)
    for d in ('etc', 'state', 'logs', 'run'):
        (tmp_path / d).mkdir()
    (tmp_path / 'openrc').write_text('x')
    cloud = Cloud(base=str(tmp_path), say=lambda m: None)
    t = threading.Thread(target=cloud.reset, daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), 'reset hangs on its own lock'
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        '.lock',
        'logs.previous',
        'venvs',
    ]
    assert venv.is_dir()
    assert (tmp_path / '.lock').read_text() == ''


def test_two_clouds_sharing_venvs_install_one_at_a_time(tmp_path, monkeypatch):
    """tools/run-tests brings the fake and the libvirt cloud up at once;
    they share the venvs, so the second install waits for the first.
    """
    monkeypatch.setenv('LIVEMIGRATE_CLOUD_VENVS', str(tmp_path / 'venvs'))
    entered, release = threading.Event(), threading.Event()
    first = Cloud(base=str(tmp_path / 'a'), say=lambda m: None)
    said = []
    second = Cloud(base=str(tmp_path / 'b'), say=said.append)

    def install_slowly(extras):
        entered.set()
        release.wait(10)
        return True

    first.bootstrap._install = install_slowly
    second.bootstrap._install = lambda extras: False
    t1 = threading.Thread(target=first.bootstrap.install, daemon=True)
    t1.start()
    try:
        assert entered.wait(10)
        t2 = threading.Thread(target=second.bootstrap.install, daemon=True)
        t2.start()
        time.sleep(0.5)
        assert t2.is_alive(), 'the second install did not wait'
        assert said and "waiting for the clouds' venvs" in said[0], said
    finally:
        release.set()
        t1.join(10)
    t2.join(10)
    assert not t2.is_alive()
