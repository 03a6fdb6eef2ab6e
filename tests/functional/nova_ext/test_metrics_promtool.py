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
"""Prometheus's own linter passes every series the driver can expose:
``promtool check metrics`` (Debian's prometheus, installed by
``python3 -m testbed.hosts install``) on the HTTP listener's answer and on
the textfile, with every series populated.
"""

import shutil
import socket
import subprocess
import types
import urllib.request

import pytest

from nova_ext.compute import metrics
from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import Observation


def _promtool():
    path = shutil.which('promtool')
    if path is None:
        pytest.fail(
            'promtool not found: run "python3 -m testbed.hosts install" '
            '(Debian package prometheus)',
            pytrace=False,
        )
    return path


def _every_series(m):
    """Feed ``m`` one of everything: in flight, ended, shadow, downtime."""
    obs = Observation(
        elapsed_s=3.0,
        memory_total_bytes=1 << 30,
        memory_processed_bytes=1 << 29,
        memory_remaining_bytes=1 << 29,
        dirty_rate_bps=1e6,
        bandwidth_bps=4e7,
        iteration=4,
        throttle_pct=20,
        disk_total_bytes=2 << 30,
        disk_remaining_bytes=1 << 30,
    )
    running = metrics.MigrationMetrics(m, 'inst-running', 'adaptive')
    running.stats(obs)
    running.decision(Decision(Action.POSTCOPY, 'slow'), obs)
    running.shadow('kubevirt', Decision(Action.ABORT, 'would abort'))
    done = metrics.MigrationMetrics(m, 'inst-done', 'nova')
    done.stats(obs)
    done.decision(Decision(Action.SET_DOWNTIME, 'step', 50), obs)
    done.ended('completed', 31.5)
    m.measured_downtime('nova', 42)


def _check(text):
    r = subprocess.run(
        [_promtool(), 'check', 'metrics'],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return r.returncode, (r.stdout + r.stderr).strip()


def test_promtool_passes_the_listeners_answer():
    m = metrics.Metrics()
    _every_series(m)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    conf = types.SimpleNamespace(
        metrics_listen_port=port,
        metrics_listen_address='127.0.0.1',
        metrics_textfile='',
    )
    assert metrics.serve(m, conf.metrics_listen_address, port)
    try:
        url = 'http://127.0.0.1:%d/metrics' % port
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
    finally:
        server, _ = metrics._SERVERS.pop(('127.0.0.1', port))
        server.shutdown()
        server.server_close()
    for name in (
        'livemigrate_memory_remaining_bytes{',
        'livemigrate_phase{',
        'livemigrate_duration_seconds_bucket{',
        'livemigrate_downtime_seconds_bucket{',
        'livemigrate_decisions_total{',
    ):
        assert name in text, text
    assert _check(text) == (0, ''), text


def test_promtool_passes_the_textfile(tmp_path):
    path = tmp_path / 'livemigrate.prom'
    m = metrics.Metrics(textfile=str(path))
    _every_series(m)
    m.flush()
    text = path.read_text()
    assert 'role="shadow"' in text
    assert _check(text) == (0, ''), text
