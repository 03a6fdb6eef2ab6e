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
"""nova 34's live-migration convergence, as a pure policy.

Same numbers and rules as ``nova/virt/libvirt/migration.py`` and
``LibvirtDriver._live_migration_monitor``: a linear downtime ramp and one
completion timeout scaled by the data to copy. One deliberate difference:
nova re-queues the timeout action on every poll once the timeout has
passed (so a paused guest is paused again every 0.5 s); here the timeout
action is taken once.
"""

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import GIB
from nova_ext.core.observation import NOTHING
from nova_ext.core.observation import Phase
from nova_ext.core.policies import base


def data_gib(ram_bytes, disk_sizes_bytes=()):
    """Nova's estimate of the data a migration copies, in GiB.

    RAM and each copied local disk count as at least 2 GiB apiece.

    :param ram_bytes: guest RAM
    :param disk_sizes_bytes: sizes of the local disks copied with the guest
    :returns: float GiB, e.g. ``data_gib(512 * MIB) == 2.0``
    """
    total = max(ram_bytes / GIB, 2.0)
    for size in disk_sizes_bytes:
        total += max(size / GIB, 2.0)
    return total


def context_data_gib(context):
    """:func:`data_gib` of a MigrationContext (disks split evenly)."""
    count = context.disk_count or (1 if context.disk_bytes else 0)
    disks = [context.disk_bytes / count] * count if count else []
    return data_gib(context.ram_bytes, disks)


def downtime_steps(max_downtime_ms, steps, delay_s_per_gib, data_gb):
    """The linear downtime ramp: ``(after_s, downtime_ms)`` pairs.

    :param max_downtime_ms: the last step's value
    :param steps: number of increases after the first value
    :param delay_s_per_gib: seconds between steps, per GiB of data
    :param data_gb: from :func:`data_gib`
    :returns: a list of ``steps + 1`` pairs

    Example: 400 ms, 10 steps, 30 s/GiB, 3 GiB -> (0, 40), (90, 76),
    (180, 112), ... (900, 400).
    """
    delay = int(delay_s_per_gib * data_gb)
    first = max_downtime_ms / steps
    offset = (max_downtime_ms - first) / steps
    return [
        (int(delay * i), int(first + offset * i)) for i in range(steps + 1)
    ]


class NovaPolicy(base.ConvergencePolicy):
    """nova's ramp and completion timeout; the default for continuity.

    With the defaults a 4 GiB guest gets 50 ms of downtime at once, 95 ms
    after 300 s, ... 500 ms after 3000 s, and the timeout action after
    3200 s (800 s x 4 GiB).
    """

    name = 'nova'
    #: nova's own options, so that the default keeps a deployment's tuning
    CONFIG_OPTIONS = {
        'downtime_ms': ('libvirt', 'live_migration_downtime'),
        'downtime_steps': ('libvirt', 'live_migration_downtime_steps'),
        'downtime_delay_s': ('libvirt', 'live_migration_downtime_delay'),
        'completion_timeout_s': (
            'libvirt',
            'live_migration_completion_timeout',
        ),
        'timeout_action': ('libvirt', 'live_migration_timeout_action'),
    }
    PARAMS = (
        base.Param(
            'downtime_ms',
            int,
            500,
            'last downtime step (nova [libvirt] live_migration_downtime)',
            minimum=100,
        ),
        base.Param(
            'downtime_steps',
            int,
            10,
            'number of downtime increases (live_migration_downtime_steps)',
            minimum=3,
        ),
        base.Param(
            'downtime_delay_s',
            int,
            75,
            'seconds per GiB between '
            'downtime steps (live_migration_downtime_delay)',
            minimum=3,
            seconds=True,
        ),
        base.Param(
            'completion_timeout_s',
            int,
            800,
            'seconds per GiB '
            'before the timeout action; 0 disables '
            '(live_migration_completion_timeout)',
            minimum=0,
            seconds=True,
        ),
        base.Param(
            'timeout_action',
            str,
            'abort',
            'abort, or '
            'force_complete: post-copy if permitted, else pause '
            '(live_migration_timeout_action)',
            choices=('abort', 'force_complete'),
        ),
    )

    def validate(self):
        self.data_gb = context_data_gib(self.context)
        self.steps = downtime_steps(
            self.params['downtime_ms'],
            self.params['downtime_steps'],
            self.params['downtime_delay_s'],
            self.data_gb,
        )
        self.completion_timeout_s = int(
            self.params['completion_timeout_s'] * self.data_gb
        )
        self._timed_out = False

    def timeout_reached(self, obs):
        """nova's should_trigger_timeout_action, minus its re-triggering."""
        if not self.completion_timeout_s or self._timed_out:
            return False
        if obs.phase is Phase.POSTCOPY:
            return False
        return obs.elapsed_s > self.completion_timeout_s

    def current_step(self, elapsed_s):
        """:returns: the downtime nova would have set by ``elapsed_s``."""
        value = None
        for after_s, downtime_ms in self.steps:
            if elapsed_s > after_s:
                value = downtime_ms
        return value

    def _timeout_decision(self):
        reason = 'not complete after %d s (%d s/GiB x %.1f GiB)' % (
            self.completion_timeout_s,
            self.params['completion_timeout_s'],
            self.data_gb,
        )
        if self.params['timeout_action'] == 'abort':
            return Decision(Action.ABORT, reason + '; timeout action abort')
        if self.context.permits.postcopy:
            return Decision(
                Action.POSTCOPY, reason + '; force_complete with post-copy'
            )
        return Decision(Action.PAUSE, reason + '; force_complete by pausing')

    def _decide(self, obs):
        if self.timeout_reached(obs):
            self._timed_out = True
            return self._timeout_decision()
        step = self.current_step(obs.elapsed_s)
        if step is not None and step != self.downtime_ms:
            return Decision(
                Action.SET_DOWNTIME,
                'downtime step after %d s' % obs.elapsed_s,
                downtime_ms=step,
            )
        return NOTHING
