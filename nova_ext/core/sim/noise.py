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
"""Seeded Gaussian noise for bandwidth and dirty rates, one draw per poll.

Own generator (splitmix64 and Box-Muller) rather than :mod:`random`: the
same seed gives the same numbers on every Python version, and the pure
packages never import ``random`` (tests/unit/test_purity.py).
"""

import math

_MASK = (1 << 64) - 1


class Noise:
    """Multiplicative factors ``1 + N(0, sigma)``, clipped to [0.5, 1.5].

    ``seed`` may be any string or int; ``key`` separates streams so that
    every matrix cell gets its own, identical for every policy run on it.
    """

    def __init__(self, seed, sigma=0.10, key=''):
        state = 0
        for ch in '%s/%s' % (seed, key):
            state = (state * 1099511628211 + ord(ch)) & _MASK
        self.state = state
        self.sigma = sigma
        self._spare = None

    def _next64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def _uniform(self):
        return ((self._next64() >> 11) + 0.5) / float(1 << 53)

    def gauss(self):
        """One standard normal draw."""
        if self._spare is not None:
            value, self._spare = self._spare, None
            return value
        r = math.sqrt(-2.0 * math.log(self._uniform()))
        theta = 2.0 * math.pi * self._uniform()
        self._spare = r * math.sin(theta)
        return r * math.cos(theta)

    def factor(self, polls=1.0):
        """:returns: one multiplicative factor around 1.

        ``polls`` > 1: the mean of that many independent per-poll factors
        (sigma / sqrt(polls)), for a step that stands for several polls.
        """
        sigma = self.sigma / max(1.0, polls) ** 0.5
        return min(1.5, max(0.5, 1.0 + sigma * self.gauss()))

    def draw(self, polls=1.0):
        """:returns: (bandwidth factor, dirty-rate factor) for one step.

        A simulator step of ``polls`` x the monitor's poll interval gets
        the mean of the factors the real polls would have drawn: holding
        one per-poll draw for the whole step would make a 10 s step as
        noisy as a 0.5 s poll, and rounds of minutes (slow links) far
        noisier than the real monitor ever sees them.

        Example: sigma 10 %, a 12.5 s step at 0.5 s polls: sigma 2 %.
        """
        return self.factor(polls), self.factor(polls)
