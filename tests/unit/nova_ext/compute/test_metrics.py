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
"""The migration metrics: series, labels, their life, and both ways out
(HTTP listener, textfile). ``promtool check metrics`` runs in
tests/functional/nova_ext/test_metrics_promtool.py.
"""

import logging
import os
import socket
import types
import urllib.request

import prometheus_client
import pytest

from nova_ext.compute import metrics
from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import Observation
from tests.unit.nova_ext.compute.metric_samples import samples
from tests.unit.nova_ext.compute.metric_samples import value

UUID = '9d3c1a52-7f0e-4b8a-a1c6-0c0ffee00001'
OBS = Observation(
    elapsed_s=5.0,
    memory_total_bytes=512 << 20,
    memory_processed_bytes=300 << 20,
    memory_remaining_bytes=212 << 20,
    dirty_rate_bps=20 << 20,
    bandwidth_bps=40 << 20,
    iteration=3,
    throttle_pct=30,
    disk_remaining_bytes=1 << 30,
    disk_total_bytes=2 << 30,
    disk_processed_bytes=1 << 30,
)


def test_in_flight_gauges_follow_the_stats_per_instance():
    m = metrics.Metrics()
    metrics.MigrationMetrics(m, UUID, 'adaptive').stats(OBS)
    assert value(
        m, 'livemigrate_memory_remaining_bytes', instance_uuid=UUID
    ) == (212 << 20)
    assert value(
        m, 'livemigrate_disk_remaining_bytes', instance_uuid=UUID
    ) == (1 << 30)
    assert value(
        m, 'livemigrate_transfer_rate_bytes_per_second', instance_uuid=UUID
    ) == (40 << 20)
    assert value(
        m, 'livemigrate_dirty_rate_bytes_per_second', instance_uuid=UUID
    ) == (20 << 20)
    # memory and disk together, as KubeVirt's data_*_bytes
    assert value(
        m, 'livemigrate_data_processed_bytes', instance_uuid=UUID
    ) == (300 << 20) + (1 << 30)
    assert value(m, 'livemigrate_data_total_bytes', instance_uuid=UUID) == (
        512 << 20
    ) + (2 << 30)
    assert value(m, 'livemigrate_iteration', instance_uuid=UUID) == 3
    assert value(m, 'livemigrate_throttle_ratio', instance_uuid=UUID) == 0.3
    phase = {
        p: value(m, 'livemigrate_phase', instance_uuid=UUID, phase=p)
        for p in metrics.PHASES
    }
    assert phase == {
        'pre-copy': 1,
        'post-copy': 0,
        'paused': 0,
        'post-copy failed': 0,
    }


def test_the_phase_follows_actions_and_a_broken_postcopy_link():
    m = metrics.Metrics()
    lst = metrics.MigrationMetrics(m, UUID, 'kubevirt')
    lst.stats(OBS)
    lst.decision(Decision(Action.POSTCOPY, 'slow'), OBS)

    def current():
        return [
            p
            for p in metrics.PHASES
            if value(m, 'livemigrate_phase', instance_uuid=UUID, phase=p) == 1
        ]

    assert current() == ['post-copy']
    lst.postcopy_link(True, OBS)
    assert current() == ['post-copy failed']
    lst.postcopy_link(False, OBS)
    assert current() == ['post-copy']


def test_the_end_drops_in_flight_series_and_observes_the_duration():
    m = metrics.Metrics()
    other = metrics.MigrationMetrics(m, 'other', 'nova')
    other.stats(OBS)
    lst = metrics.MigrationMetrics(m, UUID, 'nova')
    lst.stats(OBS)
    lst.ended('completed', 42.0)
    left = {
        labels
        for (_, labels) in samples(m)
        if ('instance_uuid', UUID) in labels
    }
    assert left == set()
    assert value(m, 'livemigrate_iteration', instance_uuid='other') == 3
    assert (
        value(
            m,
            'livemigrate_duration_seconds_count',
            policy='nova',
            outcome='completed',
        )
        == 1
    )
    assert (
        value(
            m,
            'livemigrate_duration_seconds_bucket',
            policy='nova',
            outcome='completed',
            le='60.0',
        )
        == 1
    )
    assert (
        value(
            m,
            'livemigrate_duration_seconds_bucket',
            policy='nova',
            outcome='completed',
            le='30.0',
        )
        == 0
    )


def test_a_migration_ended_before_any_stats_still_counts():
    m = metrics.Metrics()
    metrics.MigrationMetrics(m, UUID, 'nova').ended('error', 0.5)
    assert (
        value(
            m,
            'livemigrate_duration_seconds_count',
            policy='nova',
            outcome='error',
        )
        == 1
    )


def test_decisions_count_by_policy_action_and_role():
    m = metrics.Metrics()
    lst = metrics.MigrationMetrics(m, UUID, 'nova')
    step = Decision(Action.SET_DOWNTIME, 'step', downtime_ms=50)
    lst.decision(step, OBS)
    lst.decision(step, OBS)
    lst.shadow('adaptive', Decision(Action.ABORT, 'hopeless'))
    counts = {
        labels: v
        for (name, labels), v in samples(m).items()
        if name == 'livemigrate_decisions_total'
    }
    assert counts == {
        (
            ('action', 'set-downtime'),
            ('policy', 'nova'),
            ('role', 'active'),
        ): 2,
        (('action', 'abort'), ('policy', 'adaptive'), ('role', 'shadow')): 1,
    }


def test_downtime_is_observed_in_seconds_by_policy():
    m = metrics.Metrics()
    m.measured_downtime('adaptive', 23)
    m.measured_downtime(None, 700)
    assert value(
        m,
        'livemigrate_downtime_seconds_sum',
        policy='adaptive',
        outcome='completed',
    ) == pytest.approx(0.023)
    assert (
        value(
            m,
            'livemigrate_downtime_seconds_bucket',
            policy='unknown',
            outcome='completed',
            le='1.0',
        )
        == 1
    )


def test_the_registry_is_its_own():
    m = metrics.Metrics()
    metrics.MigrationMetrics(m, UUID, 'nova').stats(OBS)
    assert 'livemigrate_' not in prometheus_client.generate_latest().decode()
    assert 'process_cpu' not in m.exposition()


def test_a_failing_metric_never_reaches_the_monitor(caplog):
    m = metrics.Metrics()
    m.in_flight = m.decision = m.set_phase = m.ended = _boom
    lst = metrics.MigrationMetrics(m, UUID, 'nova')
    lst.stats(OBS)
    lst.decision(Decision(Action.PAUSE, 'x'), OBS)
    lst.shadow('adaptive', Decision(Action.PAUSE, 'x'))
    lst.postcopy_link(True, OBS)
    lst.ended('completed', 1.0)
    assert 'Could not update migration metrics: boom' in caplog.text


def _boom(*args):
    raise RuntimeError('boom')


# ------------------------------------------------------------ textfile
def test_textfile_mode_writes_what_a_scrape_would_read(tmp_path):
    path = str(tmp_path / 'livemigrate.prom')
    m = metrics.Metrics(textfile=path)
    lst = metrics.MigrationMetrics(m, UUID, 'nova')
    lst.stats(OBS)
    with open(path) as f:
        during = f.read()
    assert 'livemigrate_iteration{instance_uuid="%s"} 3.0' % UUID in during
    lst.ended('cancelled', 9.0)
    with open(path) as f:
        after = f.read()
    assert after == m.exposition()
    assert UUID not in after
    assert (
        'livemigrate_duration_seconds_count'
        '{outcome="cancelled",policy="nova"} 1.0' in after
    )
    # atomic: written beside and renamed, nothing else left in the folder
    assert os.listdir(tmp_path) == ['livemigrate.prom']


def test_an_unwritable_textfile_warns_once_and_never_raises(tmp_path, caplog):
    path = str(tmp_path / 'missing' / 'livemigrate.prom')
    m = metrics.Metrics(textfile=path)
    lst = metrics.MigrationMetrics(m, UUID, 'nova')
    with caplog.at_level(logging.DEBUG):
        lst.stats(OBS)
        lst.stats(OBS)
        lst.ended('completed', 2.0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert path in warnings[0].getMessage()


# ------------------------------------------------------------ listener
def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _conf(**kw):
    opts = {
        'metrics_listen_port': 0,
        'metrics_listen_address': '127.0.0.1',
        'metrics_textfile': '',
    }
    opts.update(kw)
    return types.SimpleNamespace(**opts)


@pytest.fixture
def process(monkeypatch):
    """A fresh process-wide state, restored afterwards."""
    monkeypatch.setattr(metrics, '_PROCESS', {})
    monkeypatch.setattr(metrics, '_SERVERS', {})
    yield
    for server, _ in metrics._SERVERS.values():
        server.shutdown()
        server.server_close()


def test_the_listener_serves_the_registry_once_per_process(process):
    port = _free_port()
    first = metrics.for_process(_conf(metrics_listen_port=port))
    again = metrics.for_process(_conf(metrics_listen_port=port))
    assert again is first
    assert list(metrics._SERVERS) == [('127.0.0.1', port)]
    metrics.MigrationMetrics(first, UUID, 'nova').stats(OBS)
    url = 'http://127.0.0.1:%d/metrics' % port
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read().decode()
    assert 'livemigrate_iteration{instance_uuid="%s"} 3.0' % UUID in body


def test_a_port_in_use_is_one_error_and_no_listener(process, caplog):
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        m = metrics.for_process(_conf(metrics_listen_port=port))
    assert isinstance(m, metrics.Metrics)
    assert metrics._SERVERS == {}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, caplog.text
    assert 'cannot listen on 127.0.0.1 port %d' % port in (
        errors[0].getMessage()
    )


def test_no_listener_and_no_file_unless_configured(process, tmp_path):
    m = metrics.for_process(_conf())
    assert metrics._SERVERS == {} and m.textfile is None
