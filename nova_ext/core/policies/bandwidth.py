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
"""The bandwidth a migration gets, measured from its own samples.

On a shared link the bandwidth is not a constant: it halves when another
migration starts, doubles when one ends, and background traffic moves it
around, all under per-poll noise. A mean since the start lags every such
step by as long as the migration has run; one sample is as noisy as the
link. :class:`Bandwidth` keeps the bytes sent per second between
consecutive samples, answers the median of a recent window (robust to a
noisy sample), and starts the window afresh when the latest few samples
clearly left it (a step): the median of the newest ``recent`` rates is
further from the older ones' than the noise explains (``z`` standard
errors of the difference of two medians, at least ``min_step``).
Below that, the window's median follows a step once half the window
has seen it.

Example: 1 GiB/s with 10 % noise for 40 samples, then another migration
starts and 512 MiB/s are left: after 5 samples the newest five sit
log 2 = 0.69 below the other eleven, beyond 4 x 1.25 x 0.1 x sqrt(1/5 +
1/11) = 0.27; the window restarts from them and the estimate is
512 MiB/s. A mean since the start would still say 900 MiB/s.
"""

import collections
import math
import statistics

#: a median's standard error over a mean's, for normal noise
_MEDIAN_SE = 1.25
#: the MAD of a normal sample over its standard deviation
_MAD_SIGMA = 1.4826


class Bandwidth:
    """Robust running estimate of a migration's bytes per second."""

    def __init__(self, window=16, recent=5, z=4.0, min_step=0.2):
        self._logs = collections.deque(maxlen=window)
        self._recent = recent
        self._z = z
        self._min_step = min_step
        self._prev = None
        self.steps = 0
        #: when the last step was seen (seconds since the start)
        self.stepped_at_s = 0.0
        #: the estimate when the window first filled: the link at the start
        self.first_bps = None

    def update(self, elapsed_s, sent_bytes):
        """Feed one sample: seconds since the start, bytes sent so far.

        The first sample counts from the start (0 s, 0 bytes).
        """
        prev_s, prev_sent = self._prev or (0.0, 0)
        self._prev = (elapsed_s, sent_bytes)
        dt, sent = elapsed_s - prev_s, sent_bytes - prev_sent
        if dt <= 0 or sent <= 0:
            return
        self._logs.append(math.log(sent / dt))
        if self.first_bps is None and len(self._logs) == self._logs.maxlen:
            self.first_bps = self.bps
        if self._stepped():
            recent = list(self._logs)[-self._recent :]
            self._logs.clear()
            self._logs.extend(recent)
            self.steps += 1
            self.stepped_at_s = elapsed_s

    def _stepped(self):
        # NOTE: only on a full window: the spread of a few samples after
        # a restart is too uncertain to tell a step from noise
        if len(self._logs) < self._logs.maxlen:
            return False
        logs = list(self._logs)
        older, newer = logs[: -self._recent], logs[-self._recent :]
        # the standard error of the difference of the two medians
        error = (
            _MEDIAN_SE
            * _mad_sigma(logs)
            * math.sqrt(1.0 / len(newer) + 1.0 / len(older))
        )
        gap = abs(statistics.median(newer) - statistics.median(older))
        return gap > max(self._min_step, self._z * error)

    @property
    def bps(self):
        """The median rate of the window; 0.0 before the first sample."""
        if not self._logs:
            return 0.0
        return math.exp(statistics.median(self._logs))

    @property
    def sigma(self):
        """Robust spread of log(rate) in the window (MAD); 0.0 if < 3."""
        return _mad_sigma(self._logs)


def _mad_sigma(logs):
    if len(logs) < 3:
        return 0.0
    mid = statistics.median(logs)
    return _MAD_SIGMA * statistics.median(abs(x - mid) for x in logs)
