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
"""Robust signals derived from raw job-stat samples.

libvirt's ``memory_remaining`` is a saw-tooth: it falls while a pre-copy
round sends its pages and jumps back up when QEMU syncs the dirty bitmap
and the next round starts. Its raw minima say nothing about convergence
(nova bug 1644248: a progress timeout built on them fired on healthy
migrations). What does say something is the size of each round: the dirty
set QEMU found at the sync. This module reconstructs rounds from samples.
"""

import collections
import dataclasses
import math
import statistics


@dataclasses.dataclass(frozen=True)
class Round:
    """One pre-copy iteration: its number, start time and size in bytes."""

    iteration: int
    start_s: float
    size_bytes: int


class RoundTracker:
    """Rebuild pre-copy rounds and a bandwidth estimate from observations.

    A round's size is the remaining bytes at its first sample plus what was
    already sent of it by then: ``processed`` grew by the previous round's
    unsent tail and then by the new round's head, so
    ``size = remaining + (processed - processed_before) - tail_before``.
    If the iteration jumped by k, that sum spans k rounds: each is taken
    as a k-th of it (1 GiB/s, 0.3 GiB rounds, 2 s between samples: the
    sum is about 2 GiB over 6 rounds, not one 2 GiB round).
    """

    def __init__(self, window=8):
        self.rounds = []
        self._prev = None
        self._rates = collections.deque(maxlen=window)

    def update(self, obs):
        """Feed one observation.

        :returns: the new :class:`Round` if this sample started one, else None
        """
        prev, self._prev = self._prev, obs
        if prev is None:
            if obs.iteration >= 1:
                self.rounds.append(
                    Round(obs.iteration, obs.elapsed_s, obs.memory_total_bytes)
                )
                return self.rounds[-1]
            return None
        dt = obs.elapsed_s - prev.elapsed_s
        sent = obs.memory_processed_bytes - prev.memory_processed_bytes
        if dt > 0 and sent >= 0:
            self._rates.append(sent / dt)
        if obs.iteration <= prev.iteration:
            return None
        # several rounds may have ended between two samples (short rounds,
        # sparse polls): what was sent after the old round's tail, plus
        # what is left, covers ``jumped`` rounds; take them as equal
        jumped = obs.iteration - prev.iteration
        head = max(0, sent - prev.memory_remaining_bytes)
        size = (obs.memory_remaining_bytes + head) // jumped
        head = max(0, head - size * (jumped - 1))
        start = obs.elapsed_s - (
            head / self.bandwidth_bps if self.bandwidth_bps else 0.0
        )
        self.rounds.append(Round(obs.iteration, start, size))
        return self.rounds[-1]

    @property
    def bandwidth_bps(self):
        """Median of recent per-sample send rates (0.0 before two samples)."""
        return statistics.median(self._rates) if self._rates else 0.0

    def dirty_rate_bps(self):
        """Bytes dirtied per second during the last completed round.

        The round that just started holds what the guest dirtied while the
        previous one was being sent.

        :returns: float, or None before two rounds are known
        """
        if len(self.rounds) < 2:
            return None
        last, before = self.rounds[-1], self.rounds[-2]
        duration = last.start_s - before.start_s
        return last.size_bytes / duration if duration > 0 else None

    def shrink_ratio(self):
        """Size of the last round over the one before (rho when unsaturated).

        :returns: float, or None before two rounds are known
        """
        if len(self.rounds) < 2 or not self.rounds[-2].size_bytes:
            return None
        return self.rounds[-1].size_bytes / self.rounds[-2].size_bytes


class LocalMinimum:
    """Say when the visible remaining bytes have just passed a low point.

    A switch-over (post-copy, pause) is cheapest right after the bottom of
    a saw-tooth tooth: fed one value at a time, :meth:`update` answers True
    on the first rise after a fall.
    """

    def __init__(self):
        self._last = None
        self._falling = False

    def update(self, remaining_bytes):
        """:returns: True if the previous value was a local minimum."""
        last, self._last = self._last, remaining_bytes
        if last is None:
            return False
        if remaining_bytes < last:
            self._falling = True
            return False
        at_bottom = self._falling and remaining_bytes > last
        if remaining_bytes > last:
            self._falling = False
        return at_bottom


class Spread:
    """Spread of the link's speed: the standard deviation of log(bandwidth).

    Pre-copy switches over at the first bitmap sync whose dirty set fits
    ``bandwidth x downtime``; on a noisy link a flat round a little above
    that fits on a fast moment (see
    :func:`nova_ext.core.policies.projection.lucky_sync_s`). Kept over the
    last ``window`` samples, so an old regime of the link ages out.
    """

    def __init__(self, window=64):
        self._logs = collections.deque(maxlen=window)

    def update(self, bandwidth_bps):
        if bandwidth_bps > 0:
            self._logs.append(math.log(bandwidth_bps))

    @property
    def sigma(self):
        """:returns: the standard deviation, 0.0 before 8 samples."""
        n = len(self._logs)
        if n < 8:
            return 0.0
        mean = sum(self._logs) / n
        return math.sqrt(sum((x - mean) ** 2 for x in self._logs) / (n - 1))
