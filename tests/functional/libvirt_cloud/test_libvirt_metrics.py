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
"""Debian's Prometheus scrapes both computes' migration metrics while a
real guest live-migrates, and stores what the driver exposed.

Each compute listens on its own loopback port (``[livemigrate]
metrics_listen_port``, testbed/cloud/computes.py); Prometheus scrapes both
every second. One migration with the nova policy and the schedule policy
as a shadow, then the series are read back through Prometheus's query API:
the source's in-flight gauges while it ran (gone once it ended), its
duration and decisions, the shadow's decisions, and the destination's
measured downtime. The figures are printed for the closing note.
"""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from testbed.cloud import computes
from testbed.cloud import layout as lay
from tests.functional.cloud import servers

WORKLOAD = computes.WORKLOADS[0]  # converges by itself, in pre-copy
SHADOW = {
    'livemigrate': {
        'shadow_policies': 'schedule',
        'policy_params': 'schedule:steps=t1:dt300',
    }
}
#: Prometheus's own time range each query looks back over
RANGE = '15m'


class Prometheus:
    """Debian's Prometheus on a loopback port, in a folder of its own."""

    def __init__(self, workdir, port, targets):
        self.url = 'http://%s:%d' % (lay.HOST, port)
        config = workdir / 'prometheus.yml'
        statics = '\n'.join(
            "      - targets: ['%s:%d']\n        labels: {host: %s}"
            % (lay.HOST, p, host)
            for host, p in targets
        )
        config.write_text(
            'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n'
            'scrape_configs:\n  - job_name: nova-compute\n'
            '    static_configs:\n%s\n' % statics
        )
        binary = shutil.which('prometheus')
        if binary is None:
            pytest.fail(
                'prometheus not found: run "python3 -m testbed.hosts '
                'install" (Debian package prometheus)',
                pytrace=False,
            )
        self.log = workdir / 'prometheus.log'
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    '--config.file=%s' % config,
                    '--storage.tsdb.path=%s' % (workdir / 'data'),
                    '--web.listen-address=%s:%d' % (lay.HOST, port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def query(self, promql):
        """The result list of an instant query, now."""
        url = '%s/api/v1/query?%s' % (
            self.url,
            urllib.parse.urlencode({'query': promql}),
        )
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read().decode())
        assert body['status'] == 'success', body
        return body['data']['result']

    def values(self, promql):
        """``{frozenset(labels): float}`` of an instant query."""
        return {
            frozenset(
                (k, v) for k, v in r['metric'].items() if k != '__name__'
            ): float(r['value'][1])
            for r in self.query(promql)
        }

    def ready(self):
        if self.proc.poll() is not None:
            pytest.fail(
                'prometheus exited %s: %s'
                % (self.proc.returncode, self.log.read_text()[-2000:]),
                pytrace=False,
            )
        try:
            with urllib.request.urlopen(self.url + '/-/ready', timeout=2):
                return True
        except OSError:
            return None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope='module')
def prometheus(libvirt_cloud, tmp_path_factory):
    c = libvirt_cloud
    targets = [(h, computes.metrics_port(c.layout, h)) for h in c.hosts]
    prom = Prometheus(
        tmp_path_factory.mktemp('prometheus'),
        c.layout.ports['prometheus'],
        targets,
    )
    try:
        servers.wait_for('prometheus ready', prom.ready, 60, every=1)
        yield prom
    finally:
        prom.stop()


def _one(values, what):
    assert len(values) == 1, (what, values)
    return next(iter(values.values()))


def test_prometheus_stores_the_migration_series(libvirt_cloud, prometheus):
    c = libvirt_cloud
    src, dst = c.hosts
    prom = prometheus
    try:
        c.reconfigure(compute=SHADOW)
        up = servers.wait_for(
            'both computes scraped',
            lambda: (
                lambda v: v if sorted(v.values()) == [1.0, 1.0] else None
            )(prom.values('up{job="nova-compute"}')),
            60,
            every=1,
        )
        print('up: %s' % sorted(dict(k)['host'] for k in up))
        with servers.booted(c, WORKLOAD, 'lm-metrics', src) as sid:
            t0 = time.time()
            r, _ = servers.migrate_wait(c, sid, dst, 'nova')
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
            status, host, _ = servers.settled(c, sid)
            assert (status, host) == ('ACTIVE', dst)
            print('migration: %.0f s, %s -> %s' % (time.time() - t0, src, dst))
            _read_back(prom, sid, src, dst)
    finally:
        c.reconfigure()


def _read_back(prom, sid, src, dst):
    """Assert what Prometheus stored, and print it for the note."""
    ended = 'livemigrate_duration_seconds_count{host="%s"}' % src
    servers.wait_for(
        'the duration scraped from %s' % src,
        lambda: prom.values(ended) or None,
        60,
        every=1,
    )
    inst = 'instance_uuid="%s"' % sid
    lines = []
    for name in (
        'livemigrate_memory_remaining_bytes',
        'livemigrate_disk_remaining_bytes',
        'livemigrate_transfer_rate_bytes_per_second',
        'livemigrate_dirty_rate_bytes_per_second',
        'livemigrate_iteration',
        'livemigrate_throttle_ratio',
    ):
        seen = prom.values('max_over_time(%s{%s}[%s])' % (name, inst, RANGE))
        peak = _one(seen, name)
        # only the source migrates it; the destination has no such series
        assert dict(next(iter(seen)))['host'] == src, seen
        samples = _one(
            prom.values('count_over_time(%s{%s}[%s])' % (name, inst, RANGE)),
            name,
        )
        lines.append('%s max %g over %d samples' % (name, peak, samples))
        # the migration ended: the series is gone from the scrapes
        assert prom.values('%s{%s}' % (name, inst)) == {}, name
    for name in (
        'livemigrate_memory_remaining_bytes',
        'livemigrate_transfer_rate_bytes_per_second',
        'livemigrate_iteration',
    ):
        peak = prom.values('max_over_time(%s{%s}[%s])' % (name, inst, RANGE))
        assert _one(peak, name) > 0, name
    precopy = prom.values(
        'max_over_time(livemigrate_phase{%s,phase="pre-copy"}[%s])'
        % (inst, RANGE)
    )
    assert _one(precopy, 'phase') == 1
    lines.append('livemigrate_phase{phase="pre-copy"} max 1')
    duration = prom.values(
        'livemigrate_duration_seconds_count{host="%s",policy="nova",'
        'outcome="completed"}' % src
    )
    assert _one(duration, 'duration') >= 1
    total = _one(
        prom.values(
            'livemigrate_duration_seconds_sum{host="%s",policy="nova",'
            'outcome="completed"}' % src
        ),
        'duration sum',
    )
    lines.append(
        'livemigrate_duration_seconds{policy="nova",outcome="completed"} '
        'count %g sum %.1f s' % (_one(duration, 'd'), total)
    )
    decisions = prom.values('livemigrate_decisions_total')
    for labels, count in sorted(
        decisions.items(), key=lambda kv: sorted(kv[0])
    ):
        d = dict(labels)
        lines.append(
            'livemigrate_decisions_total{host="%s",policy="%s",action="%s",'
            'role="%s"} %g'
            % (d['host'], d['policy'], d['action'], d['role'], count)
        )
    for line in lines:
        print(line)
    roles = {
        (dict(k)['host'], dict(k)['policy'], dict(k)['role'])
        for k in decisions
    }
    assert (src, 'nova', 'active') in roles, decisions
    assert (src, 'schedule', 'shadow') in roles, decisions
    # the destination observes it once nova's post-migration step ran there
    downtime = servers.wait_for(
        'the downtime scraped from %s' % dst,
        lambda: (
            prom.values(
                'livemigrate_downtime_seconds_count{host="%s",policy="nova",'
                'outcome="completed"}' % dst
            )
            or None
        ),
        60,
        every=1,
    )
    assert _one(downtime, 'downtime') >= 1
    measured = _one(
        prom.values(
            'livemigrate_downtime_seconds_sum{host="%s",policy="nova"}' % dst
        ),
        'downtime sum',
    )
    print(
        'livemigrate_downtime_seconds{host="%s",policy="nova",'
        'outcome="completed"} count %g sum %.3f s'
        % (dst, _one(downtime, 'd'), measured)
    )
