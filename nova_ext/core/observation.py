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
"""The values that cross the pure core's border: samples in, decisions out.

Nothing here talks to libvirt, nova or a clock. The monitor (real hosts) and
the simulator both turn what they see into :class:`Observation` objects and
hand them to a policy, which answers with a :class:`Decision`.
"""

import dataclasses
import enum

GIB = 1024**3
MIB = 1024**2


class Phase(enum.Enum):
    """Where the migration stands, as far as a policy needs to know."""

    PRECOPY = 'pre-copy'
    POSTCOPY = 'post-copy'
    PAUSED = 'paused'


class Action(enum.Enum):
    """The closed set of things a policy may ask for."""

    NOTHING = 'nothing'
    SET_DOWNTIME = 'set-downtime'
    POSTCOPY = 'postcopy'
    PAUSE = 'pause'
    ABORT = 'abort'


@dataclasses.dataclass(frozen=True)
class Permits:
    """What the deployment allows a policy to do.

    ``postcopy`` and ``auto_converge`` mirror nova's
    ``[libvirt] live_migration_permit_*`` options; ``pause`` and ``abort``
    and ``max_downtime_ms`` come from ``[livemigrate]``.
    """

    postcopy: bool = False
    pause: bool = False
    abort: bool = True
    auto_converge: bool = False
    max_downtime_ms: int = 500

    def allows(self, action):
        """:returns: True if this deployment permits ``action``."""
        return {
            Action.NOTHING: True,
            Action.SET_DOWNTIME: True,
            Action.POSTCOPY: self.postcopy,
            Action.PAUSE: self.pause,
            Action.ABORT: self.abort,
        }[action]

    @classmethod
    def named(cls, name, max_downtime_ms=500):
        """Build one of the benchmark's permit sets: none, postcopy, pause.

        :param name: ``none`` (downtime steps and abort only), ``postcopy``
            or ``pause`` (each adds that one action)
        :raises ValueError: for any other name
        """
        flags = {
            'none': {},
            'postcopy': {'postcopy': True},
            'pause': {'pause': True},
        }
        if name not in flags:
            raise ValueError(
                'unknown permits %r: expected one of %s'
                % (name, ', '.join(sorted(flags)))
            )
        return cls(max_downtime_ms=max_downtime_ms, **flags[name])


@dataclasses.dataclass(frozen=True)
class MigrationContext:
    """Facts fixed for the whole migration, given to a policy when built.

    ``disk_bytes`` is the total size of local disks copied with the guest
    (block migration); zero for shared storage or volumes.
    """

    ram_bytes: int
    permits: Permits = Permits()
    disk_bytes: int = 0
    disk_count: int = 0


@dataclasses.dataclass(frozen=True)
class Observation:
    """One sample of a running migration job (libvirt job stats, in bytes).

    ``elapsed_s`` is the time since the migration started: it is the only
    notion of time a policy gets, so a sequence of observations can be
    replayed and always yields the same decisions. ``disk_*_bytes`` are
    libvirt's figures for local disks copied with the guest (block
    migration), zero otherwise; nova's ``save_stats`` stores them in the
    migration record's ``disk_*`` fields.
    """

    elapsed_s: float
    memory_total_bytes: int
    memory_processed_bytes: int
    memory_remaining_bytes: int
    data_remaining_bytes: int = 0
    dirty_rate_bps: float = 0.0
    bandwidth_bps: float = 0.0
    iteration: int = 0
    throttle_pct: int = 0
    phase: Phase = Phase.PRECOPY
    downtime_ms: int | None = None
    disk_total_bytes: int = 0
    disk_processed_bytes: int = 0
    disk_remaining_bytes: int = 0


@dataclasses.dataclass(frozen=True)
class Decision:
    """A policy's answer to one observation; its reason is logged verbatim."""

    action: Action
    reason: str
    downtime_ms: int | None = None

    def __post_init__(self):
        if (self.action is Action.SET_DOWNTIME) != (
            self.downtime_ms is not None
        ):
            raise ValueError(
                'downtime_ms goes with set-downtime and only '
                'with it (got %s, %r)' % (self.action.value, self.downtime_ms)
            )


NOTHING = Decision(Action.NOTHING, 'no change')


def from_job_info(stats, elapsed_s, phase=Phase.PRECOPY, downtime_ms=None):
    """Turn libvirt's ``virDomainGetJobStats`` dict into an Observation.

    libvirt reports the dirty rate in pages per second; we convert it with
    the page size it reports (4 KiB when absent).

    :param stats: the dict from ``dom.jobStats()``
    :param elapsed_s: seconds since the migration started (caller's clock)
    :param phase: the phase the caller knows the migration is in
    :param downtime_ms: the max downtime currently configured, if known
    :returns: an :class:`Observation`
    """
    page = stats.get('memory_page_size') or 4096
    return Observation(
        elapsed_s=float(elapsed_s),
        memory_total_bytes=int(stats.get('memory_total', 0)),
        memory_processed_bytes=int(stats.get('memory_processed', 0)),
        memory_remaining_bytes=int(stats.get('memory_remaining', 0)),
        data_remaining_bytes=int(stats.get('data_remaining', 0)),
        dirty_rate_bps=float(stats.get('memory_dirty_rate', 0)) * page,
        bandwidth_bps=float(stats.get('memory_bps', 0)),
        iteration=int(stats.get('memory_iteration', 0)),
        throttle_pct=int(stats.get('auto_converge_throttle', 0)),
        phase=phase,
        downtime_ms=downtime_ms,
        disk_total_bytes=int(stats.get('disk_total', 0)),
        disk_processed_bytes=int(stats.get('disk_processed', 0)),
        disk_remaining_bytes=int(stats.get('disk_remaining', 0)),
    )
