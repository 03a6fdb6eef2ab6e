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
"""When would pre-copy end? Projections from the rounds seen so far.

Pure arithmetic for the adaptive policy: a trend fitted to the round
sizes, the geometric series it implies, and what auto-converge's
throttle can still do to a guest whose rounds no longer shrink.
"""

import dataclasses
import math

#: spread of one round's log size step assumed before two steps are seen
DEFAULT_STEP_SIGMA = 0.1


@dataclasses.dataclass(frozen=True)
class Projection:
    """Seconds of pre-copy left, three ways, and what they rest on."""

    best: float
    pessimistic: float
    optimistic: float
    rho: float | None
    size: int
    steps: int
    floor: float | None = None


#: what a predicted pause adds: the round it sends may be a little larger
#: than the last one measured, and QEMU's switch-over
PAUSE_MARGIN = 1.2
SWITCHOVER_S = 0.3
#: standard deviations of the link's slow side a pause allows for, and
#: the slowest it plans for (a quarter of the measured bandwidth)
PAUSE_Z = 3.0
PAUSE_SLOWEST = 0.25


def pause_margin(sigma, samples=1.0):
    """What a predicted pause multiplies one round at the bandwidth by.

    A pause ends when its bytes are sent at whatever the link gives
    meanwhile: the mean of the ``samples`` polls it spans, each with
    ``sigma`` (the spread of the bandwidth's per-sample log). That mean
    ``PAUSE_Z`` standard errors slow must still fit: 1.2 / (1 - 3 sigma
    / sqrt(samples)), at most 1.2 / 0.25.

    Example: sigma 0 -> 1.2; 0.1 -> 1.71; 0.198 (the simulator's 20 %
    noise) -> 2.96, over 4 samples 1.71; 0.326 (its 40 %) -> 4.8.
    """
    slow = PAUSE_Z * sigma / math.sqrt(max(1.0, samples))
    return PAUSE_MARGIN / max(PAUSE_SLOWEST, 1.0 - slow)


def pause_ms(size_bytes, bandwidth_bps, sigma=0.0, sample_s=None):
    """The downtime of a pause that sends ``size_bytes`` (about one round).

    :param sigma: see :func:`pause_margin`
    :param sample_s: seconds between samples; None: count the pause as
        one sample (the most cautious)

    Example: a 64 MiB round at 20 MiB/s on a steady link: 3.2 s x 1.2 +
    0.3 s = 4140 ms; with sigma 0.1 and one sample: 3.2 s x 1.71 + 0.3 s
    = 5786 ms. The benchmark's pause claims predict with this function.
    """
    send_s = size_bytes / bandwidth_bps
    samples = send_s / sample_s if sample_s else 1.0
    return (send_s * pause_margin(sigma, samples) + SWITCHOVER_S) * 1000.0


def project(
    rounds,
    bandwidth_bps,
    downtime_ms,
    doubt=1.0,
    throttle_pct=None,
    link_sigma=0.0,
    ram_bytes=0,
):
    """Seconds of pre-copy left, judged on the rounds given (not the first).

    Four estimates, the least of each kind taken: the fitted trend of the
    rounds, ``doubt`` standard errors of its ``log rho`` either way (0.99
    +- 0.01 may be "never"); a floor the rounds level off at above what
    the downtime can send (then the pessimistic one is "never"); with
    auto-converge (``throttle_pct`` not None), what the throttle can
    still do; and on a noisy link (``link_sigma``) a sync that happens to
    fit (:func:`lucky_sync_s`; its mean, three times it at 95 %).

    :returns: a :class:`Projection`
    """
    fitted = trend(rounds)
    if fitted is None:
        size = rounds[-1].size_bytes if rounds else ram_bytes
        return Projection(math.inf, math.inf, math.inf, None, size, 0)
    log_rho, error, size, steps = fitted
    spread = doubt * error

    def left(log_r):
        return precopy_time_left(
            size, math.exp(log_r), bandwidth_bps, downtime_ms
        )

    best, optimistic = left(log_rho), left(log_rho - spread)
    pessimistic = left(log_rho + spread)
    level = floor(rounds[-12:])
    if level is not None and level <= bandwidth_bps * downtime_ms / 1000.0:
        level = None
    if level is not None:
        pessimistic = math.inf
    # rounds about this size already had the chance, and it did not come
    tried = sum(1 for r in rounds if r.size_bytes <= 1.1 * size)
    lucky = lucky_sync_s(
        size,
        bandwidth_bps,
        downtime_ms,
        link_sigma,
        size / bandwidth_bps,
        tried,
    )
    ends = [(best, pessimistic, optimistic), (lucky, 3.0 * lucky, lucky)]
    if throttle_pct is not None:
        tamed = throttled_time_left(
            size, throttle_pct, bandwidth_bps, downtime_ms
        )
        ends.append((tamed, tamed, tamed))
    best, pessimistic, optimistic = (min(kind) for kind in zip(*ends))
    return Projection(
        best, pessimistic, optimistic, math.exp(log_rho), size, steps, level
    )


def precopy_time_left(
    size_bytes, rho, bandwidth_bps, downtime_ms, max_rounds=100000
):
    """Seconds of pre-copy left if rounds keep shrinking by ``rho``.

    The next rounds hold ``size * rho**k`` bytes; pre-copy ends at the
    first round that fits ``bandwidth * downtime``.

    :returns: float seconds, or ``math.inf`` if it never fits

    Example: 2 GiB, rho 0.5, 1 GiB/s, 300 ms -> rounds of 1 and 0.5 GiB
    are sent (1.5 s), then 0.25 GiB fits 0.3 GiB and pre-copy ends.
    """
    threshold = bandwidth_bps * downtime_ms / 1000.0
    if size_bytes * rho <= threshold:
        return 0.0
    if rho >= 1:
        return math.inf
    rounds = math.ceil(math.log(threshold / (size_bytes * rho), rho))
    if rounds > max_rounds:
        return math.inf
    sent = size_bytes * rho * (1 - rho**rounds) / (1 - rho)
    return sent / bandwidth_bps


#: a lucky sync that this many should have come but none did is not
#: coming: the link's spread is not what its samples suggest (clipped).
#: 3 gave up on a 10 % link whose sync came later (1 GiB/s, 32 GiB, a
#: 2 % set at rho 3: paused for 1,028 ms where nova's pre-copy ended
#: at 722 ms); at 10 a 40 % link's hopeless 41 MiB rounds over a 20 MiB
#: threshold are given up at 398 s (T_obs 274 s; 703 s without).
LUCKY_OVERDUE = 10.0


def lucky_sync_s(
    size_bytes, bandwidth_bps, downtime_ms, sigma, round_s, tried=0
):
    """Mean seconds until a bitmap sync fits on a fast moment of the link.

    Rounds that stay at ``size`` a little above ``bandwidth x downtime``
    never get there by the trend, but the bandwidth QEMU measures at each
    sync varies (log-normal, ``sigma`` from the samples): a sync fits
    with chance ``p = P(log factor > log(size / threshold))``, and the
    wait for the first that does is geometric, ``round_s / p`` on average
    and three times that at the 95th percentile.

    :returns: float seconds, ``math.inf`` if the chance is nil

    Example: 655 MiB rounds at 1 GiB/s, 500 ms (512 MiB), sigma 0.1:
    margin log(1.28) = 2.5 sigma, p = 0.7 %, rounds of 0.64 s: about
    90 s; with sigma 0.05, p = 5e-7: about 18 days. After 1,500 such
    rounds without one (10 expected), never.

    :param tried: syncs at about this size already seen, none of which fit
    """
    threshold = bandwidth_bps * downtime_ms / 1000.0
    if size_bytes <= threshold:
        return 0.0
    if sigma <= 0 or threshold <= 0:
        return math.inf
    margin = math.log(size_bytes / threshold)
    chance = 0.5 * math.erfc(margin / (sigma * math.sqrt(2.0)))
    if chance < 1e-9 or chance * tried >= LUCKY_OVERDUE:
        return math.inf
    return round_s / chance


def trend(rounds, memory=1.0):
    """Per-round shrink factor of the round sizes, with its uncertainty.

    Noise in bandwidth and dirtying makes round sizes a random walk in
    log space: each round is the last times ``rho`` times noise, so the
    estimate of ``log rho`` is the mean of the steps between rounds, and
    their spread gives its standard error, which shrinks as 1/sqrt(n):
    every step counts. Recent steps weigh a little more (a weight halves
    every ``memory`` x the number of steps, at least 3): several working
    sets make the shrinking slow down as the small ones fill up (1467,
    1109, 915, 749, 679, 636 MiB...); sharper slowdowns are
    :func:`_since_slowdown`'s and :func:`floor`'s. Weighing only the last
    third (``memory`` 1/3) left 1 GiB/s rounds that shrink 1 % with an
    error as large as the trend: a guest pre-copy completes looked
    possibly stalled at T_obs and was aborted. Rounds several
    iterations apart (sparse samples) count as that many steps.

    :param rounds: :class:`~nova_ext.core.policies.signals.Round`, oldest first
    :returns: (log rho per round, its standard error, last round bytes,
        number of steps), or None with fewer than two usable rounds

    Example: sizes 4, 2, 1 GiB at iterations 2, 3, 4 -> (log 0.5, 0.0,
    1 GiB, 2).
    """
    points = [
        (r.iteration, math.log(r.size_bytes))
        for r in rounds
        if r.size_bytes > 0
    ]
    steps = [
        ((y2 - y1) / (x2 - x1), x2 - x1)
        for (x1, y1), (x2, y2) in zip(points, points[1:])
        if x2 > x1
    ]
    if not steps:
        return None
    steps = _since_slowdown(steps)
    half_life = max(3.0, memory * len(steps))
    weights = [
        dx * 0.5 ** ((len(steps) - 1 - i) / half_life)
        for i, (_, dx) in enumerate(steps)
    ]
    total = sum(weights)
    slope = sum(w * s for w, (s, _) in zip(weights, steps)) / total
    effective = total**2 / sum(w * w for w in weights)
    if len(steps) >= 2:
        var = sum(w * (s - slope) ** 2 for w, (s, _) in zip(weights, steps))
        var /= total * (1 - 1 / effective) if effective > 1 else total
    else:
        var = DEFAULT_STEP_SIGMA**2
    error = math.sqrt(var / effective)
    return slope, error, rounds[-1].size_bytes, len(steps)


def _since_slowdown(steps):
    """The newer half of the steps if they shrink clearly slower.

    Working sets that fill up one after the other make the rounds
    approach a floor: the steps flatten (-0.28, -0.19, -0.20, -0.10,
    -0.07) and any average over the old ones promises too much. "Clearly"
    is more than 3 standard errors of the difference of the halves.
    """
    if len(steps) < 4:
        return steps
    half = len(steps) // 2
    older, newer = steps[:half], steps[half:]

    def mean_var(part):
        total = sum(dx for _, dx in part)
        mean = sum(s * dx for s, dx in part) / total
        var = sum(dx * (s - mean) ** 2 for s, dx in part) / total
        return mean, var / max(1, len(part) - 1)

    (m_old, v_old), (m_new, v_new) = mean_var(older), mean_var(newer)
    if m_new - m_old > 3 * math.sqrt(v_old + v_new):
        return newer
    return steps


def throttled_time_left(
    size_bytes,
    throttle_pct,
    bandwidth_bps,
    downtime_ms,
    step_pct=10,
    max_pct=99,
    syncs_per_step=2,
):
    """Least time pre-copy needs while auto-converge keeps throttling.

    Rounds that stay at ``size`` under a throttle ``t`` mean the guest
    dirties at least ``bandwidth / (1 - t)``; the optimistic case is
    exactly that. QEMU raises the throttle by ``step_pct`` every
    ``syncs_per_step`` syncs, so rounds shrink by ``(1 - t') / (1 - t)``
    once it has. Used to tell "still being tamed" from "hopeless": a
    guest this cannot finish within a budget cannot finish at all.

    :returns: float seconds (``math.inf`` if even 99 % does not do it)

    Example: 1 GiB rounds at 1 GiB/s, throttle 40 %, 500 ms: 50 % gives
    rounds x0.83, 60 % x0.67, ...; about 8 s.
    """
    threshold = bandwidth_bps * downtime_ms / 1000.0
    start = 1.0 - throttle_pct / 100.0
    pct, size, total, syncs = throttle_pct, float(size_bytes), 0.0, 0
    for _ in range(10000):
        if size <= threshold:
            return total
        total += size / bandwidth_bps
        syncs += 1
        if syncs % syncs_per_step == 0 and pct < max_pct:
            pct = min(max_pct, pct + step_pct)
        size = min(float(size_bytes), size * (1.0 - pct / 100.0) / start)
        if pct >= max_pct and size >= size_bytes:
            return math.inf
    return math.inf


def floor(rounds, min_pairs=4, significance=200.0):
    """The size the rounds level off at, if they clearly do.

    Several working sets that fill one after the other (or one set
    dirtied faster than it can be sent once small) make each round the
    last times ``b`` plus a constant ``a``: the rounds approach
    ``a / (1 - b)``, not zero, and a geometric trend fitted to the early,
    steep steps promises an end that never comes. The affine fit of each
    round on the one before is kept only if it explains the sizes
    clearly better than a pure ratio (an F statistic above
    ``significance``): on a steady guest the two fit alike. The bar is
    high because every new round tests a new window: at 20 a noisy walk
    of 300 rounds x0.99 showed a level somewhere; the three sets below
    score about 500.

    :param rounds: rounds with ``size_bytes``, oldest first, consecutive
    :returns: the floor in bytes, or None

    Example: 5863, 4420, 3509, 3008, 2704, 2505 MiB (a 40 MiB/s link,
    three working sets): each round is about 0.61 x the last + 866 MiB,
    the floor about 2.2 GiB, far above what 500 ms can send.
    """
    pairs = [
        (float(a.size_bytes), float(b.size_bytes))
        for a, b in zip(rounds, rounds[1:])
        if b.iteration == a.iteration + 1 and a.size_bytes > 0
    ]
    n = len(pairs)
    if n < min_pairs:
        return None
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    if sxx <= 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in pairs) / sxx
    a = my - b * mx
    if a <= 0 or not 0 <= b < 1:
        return None
    sse_affine = sum((y - a - b * x) ** 2 for x, y in pairs)
    ratio = sum(x * y for x, y in pairs) / sum(x * x for x, _ in pairs)
    sse_ratio = sum((y - ratio * x) ** 2 for x, y in pairs)
    scale = max(sse_affine / (n - 2), 1e-12 * my * my)
    if (sse_ratio - sse_affine) / scale < significance:
        return None
    return a / (1 - b)
