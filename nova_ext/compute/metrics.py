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
"""Prometheus metrics of the migrations one nova-compute runs.

One :class:`Metrics` per nova-compute process keeps its own
``CollectorRegistry`` (never prometheus_client's global one, so nothing
else in nova-compute leaks into it). The monitor feeds it through a
:class:`MigrationMetrics` listener per migration; exposing it is opt-in
(``[livemigrate] metrics_listen_port`` for an HTTP listener,
``metrics_textfile`` for node_exporter's textfile collector). Series,
with their labels::

    livemigrate_memory_remaining_bytes            {instance_uuid}
    livemigrate_disk_remaining_bytes              {instance_uuid}
    livemigrate_data_processed_bytes              {instance_uuid}
    livemigrate_data_total_bytes                  {instance_uuid}
    livemigrate_transfer_rate_bytes_per_second    {instance_uuid}
    livemigrate_dirty_rate_bytes_per_second       {instance_uuid}
    livemigrate_iteration                         {instance_uuid}
    livemigrate_throttle_ratio                    {instance_uuid}
    livemigrate_phase (1: the current phase)      {instance_uuid,phase}
    livemigrate_duration_seconds (histogram)      {policy,outcome}
    livemigrate_downtime_seconds (histogram)      {policy,outcome}
    livemigrate_decisions_total                   {policy,action,role}

``role`` is ``active`` or ``shadow``. Not ``instance``: Prometheus gives
that label to the scraped target. In-flight series of an instance go away
when its migration ends. Nothing here raises into a migration: a failed
write is logged and skipped.
"""

import threading

from oslo_log import log as logging
import prometheus_client

from nova_ext.compute import monitor
from nova_ext.core import contract
from nova_ext.core.observation import Phase
from nova_ext.core import phases

LOG = logging.getLogger(__name__)

#: every value of ``livemigrate_phase``'s ``phase`` label
PHASES = tuple(p.value for p in Phase) + (contract.PHASE_POSTCOPY_FAILED,)
#: seconds; migrations last seconds to hours
DURATION_BUCKETS = (5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
#: seconds; a switch-over pauses the guest for milliseconds to seconds
DOWNTIME_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: the in-flight gauges: name, help, what of an Observation
GAUGES = (
    (
        'livemigrate_memory_remaining_bytes',
        'Memory bytes libvirt has still to send',
        lambda o: o.memory_remaining_bytes,
    ),
    (
        'livemigrate_disk_remaining_bytes',
        'Local disk bytes libvirt has still to send (block migration)',
        lambda o: o.disk_remaining_bytes,
    ),
    # NOTE: KubeVirt's kubevirt_vmi_migration_data_{processed,total}_bytes:
    # memory and disk together, as libvirt's data_* counters are. Processed
    # passes total when pre-copy sends dirtied pages again.
    (
        'livemigrate_data_processed_bytes',
        'Memory and disk bytes libvirt has sent so far, resent pages included',
        lambda o: o.memory_processed_bytes + o.disk_processed_bytes,
    ),
    (
        'livemigrate_data_total_bytes',
        'Memory and disk bytes the migration moves: guest RAM plus local '
        'disks copied with it',
        lambda o: o.memory_total_bytes + o.disk_total_bytes,
    ),
    (
        'livemigrate_transfer_rate_bytes_per_second',
        'Memory transfer rate libvirt measured',
        lambda o: o.bandwidth_bps,
    ),
    (
        'livemigrate_dirty_rate_bytes_per_second',
        'Rate at which the guest dirties memory',
        lambda o: o.dirty_rate_bps,
    ),
    (
        'livemigrate_iteration',
        'Number of the memory pass in progress',
        lambda o: o.iteration,
    ),
    (
        'livemigrate_throttle_ratio',
        "Auto-converge's vCPU throttle, 0 to 1",
        lambda o: o.throttle_pct / 100.0,
    ),
)
ROLE_ACTIVE = 'active'
ROLE_SHADOW = 'shadow'


class Metrics:
    """The registry of one nova-compute and what writes it.

    :param textfile: path node_exporter's textfile collector reads, or
        None: every :meth:`flush` then rewrites it atomically
    """

    def __init__(self, textfile=None):
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self.textfile = textfile or None
        self._write_failed = False
        self._lock = threading.Lock()
        self.gauges = {
            name: prometheus_client.Gauge(
                name, text, ['instance_uuid'], registry=self.registry
            )
            for name, text, _ in GAUGES
        }
        self.phase = prometheus_client.Gauge(
            'livemigrate_phase',
            'Phase of the migration in flight: 1 for the current one',
            ['instance_uuid', 'phase'],
            registry=self.registry,
        )
        self.duration = prometheus_client.Histogram(
            'livemigrate_duration_seconds',
            'Duration of ended live migrations, from the monitor start',
            ['policy', 'outcome'],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.downtime = prometheus_client.Histogram(
            'livemigrate_downtime_seconds',
            'Guest downtime libvirt measured at the switch-over',
            ['policy', 'outcome'],
            buckets=DOWNTIME_BUCKETS,
            registry=self.registry,
        )
        self.decisions = prometheus_client.Counter(
            'livemigrate_decisions',
            'Actions policies took (active) or would have taken (shadow)',
            ['policy', 'action', 'role'],
            registry=self.registry,
        )

    def exposition(self):
        """The text format Prometheus scrapes, as ``str``."""
        return prometheus_client.generate_latest(self.registry).decode()

    def in_flight(self, instance, obs, phase):
        """Set the in-flight gauges of ``instance`` (its uuid)."""
        for name, _, value in GAUGES:
            self.gauges[name].labels(instance).set(value(obs))
        self.set_phase(instance, phase)

    def set_phase(self, instance, phase):
        for p in PHASES:
            self.phase.labels(instance, p).set(1 if p == phase else 0)

    def ended(self, instance, policy, outcome, duration_s):
        """The migration of ``instance`` ended: drop its in-flight series
        and observe its duration.

        :param outcome: completed, cancelled or error (as the final figures)
        """
        for gauge in self.gauges.values():
            _remove(gauge, instance)
        for p in PHASES:
            _remove(self.phase, instance, p)
        self.duration.labels(policy, outcome).observe(max(duration_s, 0.0))

    def measured_downtime(self, policy, downtime_ms):
        """The destination measured a completed switch-over's downtime
        (the source's libvirt rarely keeps it); never raises.
        """
        try:
            self.downtime.labels(policy or 'unknown', 'completed').observe(
                downtime_ms / 1000.0
            )
        except Exception as exc:  # metrics never disturb a migration
            LOG.warning('Could not update migration metrics: %s', exc)
        self.flush()

    def decision(self, policy, action, role=ROLE_ACTIVE):
        self.decisions.labels(policy, action, role).inc()

    def flush(self):
        """Rewrite the textfile, if one is set; never raises.

        The first failure is a warning, the next ones debug lines until a
        write works again.
        """
        if not self.textfile:
            return
        with self._lock:
            try:
                prometheus_client.write_to_textfile(
                    self.textfile, self.registry
                )
            except Exception as exc:
                log = LOG.debug if self._write_failed else LOG.warning
                log(
                    'Could not write migration metrics to %s: %s',
                    self.textfile,
                    exc,
                )
                self._write_failed = True
            else:
                self._write_failed = False


def _remove(metric, *labels):
    try:
        metric.remove(*labels)
    except KeyError:  # never set: the migration ended before any stats
        pass


class MigrationMetrics(monitor.Listener):
    """The monitor's listener that feeds :class:`Metrics` for one
    migration; every method swallows its own errors.
    """

    def __init__(self, metrics, instance, policy, phase=Phase.PRECOPY):
        self.metrics = metrics
        self.instance = instance
        self.policy = policy
        self.phase = phase.value

    def _safely(self, what, *args):
        try:
            what(*args)
        except Exception as exc:  # metrics never disturb a migration
            LOG.warning('Could not update migration metrics: %s', exc)

    def decision(self, decision, obs):
        after = phases.PHASE_AFTER_ACTION.get(decision.action)
        if after is not None:
            self.phase = after.value
        self._safely(self._decision, decision)

    def _decision(self, decision):
        self.metrics.decision(self.policy, decision.action.value)
        self.metrics.set_phase(self.instance, self.phase)

    def shadow(self, name, decision):
        """A shadow policy's recorded decision (``Shadows``' ``record``)."""
        self._safely(
            self.metrics.decision, name, decision.action.value, ROLE_SHADOW
        )

    def stats(self, obs):
        self._safely(self._stats, obs)

    def _stats(self, obs):
        self.metrics.in_flight(self.instance, obs, self.phase)
        self.metrics.flush()

    def postcopy_link(self, broken, obs):
        self.phase = (
            contract.PHASE_POSTCOPY_FAILED if broken else Phase.POSTCOPY.value
        )
        self._safely(self.metrics.set_phase, self.instance, self.phase)

    def ended(self, outcome, duration_s):
        """:param outcome: completed, cancelled or error"""
        self._safely(
            self.metrics.ended, self.instance, self.policy, outcome, duration_s
        )
        self.metrics.flush()


#: (address, port) -> the HTTP server started in this process
_SERVERS = {}
_SERVERS_LOCK = threading.Lock()


def serve(metrics, address, port):
    """Start the HTTP listener once per process and address.

    A port that cannot be bound is one error line; nova-compute goes on
    without the listener.

    :returns: True if a listener serves ``metrics`` there now
    """
    with _SERVERS_LOCK:
        if (address, port) in _SERVERS:
            return True
        try:
            # NOTE: 0.20 and later return (server, thread): kept, so a
            # test can stop it
            started = prometheus_client.start_http_server(
                port, address, registry=metrics.registry
            )
        except OSError as exc:
            LOG.error(
                'Migration metrics: cannot listen on %(addr)s port '
                '%(port)d, serving none: %(exc)s',
                {'addr': address, 'port': port, 'exc': exc},
            )
            return False
        _SERVERS[(address, port)] = started
        LOG.info(
            'Migration metrics served on http://%(addr)s:%(port)d/metrics',
            {'addr': address, 'port': port},
        )
        return True


_PROCESS = {}


def for_process(group):
    """This process's :class:`Metrics`, exposed as ``[livemigrate]``
    says; made and started on the first call, the same object after.

    :param group: ``CONF.livemigrate``
    """
    with _SERVERS_LOCK:
        metrics = _PROCESS.get('metrics')
        if metrics is None:
            metrics = _PROCESS['metrics'] = Metrics(group.metrics_textfile)
    if group.metrics_listen_port:
        serve(metrics, group.metrics_listen_address, group.metrics_listen_port)
    metrics.flush()
    return metrics
