"""Change points in a series of runs: where a cell's figure steps to another level and stays there.

``rnnbench history`` asks this of every cell's throughput and test accuracy on each machine, in run
order. Where the gate and ``compare`` judge two runs, this judges the whole series, so a step that is
small next to one run's noise but persists over several runs is found, and one slow run is not.

The method, in two stages:

1. **PELT** (Killick, Fearnhead and Eckley 2012) from ``ruptures`` proposes the change points: the exact
   minimum of a penalised least-squares cost over all segmentations, each segment at least
   :data:`MIN_SEGMENT` runs long. Throughput is taken in logarithms, so a step is a ratio whatever the
   cell's speed; accuracy as it is. The penalty is :data:`PENALTY` x sigma^2 x log n, a BIC-like
   penalty with the noise's variance sigma^2 estimated robustly from the series itself (the median
   absolute deviation of consecutive differences, which a step barely moves), never below
   ``noise_floor``.
2. **A significance test**, as Otava (formerly Hunter) and MongoDB's E-divisive analysis do: each
   proposed point is kept only if the stretch from the change point before it to the one after it holds
   a step by a Monte Carlo test (``scipy.stats.monte_carlo_test``, :data:`RESAMPLES` series of Gaussian
   noise of the stretch's length; statistic: the largest two-sample t over every place a step could be)
   with p < ``alpha``, and the change is at least ``min_change``. The *largest* statistic, not a t-test
   at the chosen point, because the point was chosen for its contrast: a t-test there read noise as a
   step in about 5% of step-free series here. Gaussian noise, not shuffles of the run order, because a
   permutation test cannot reach p < 0.01 on a short history (2 runs after a step in 8 have at best
   p = 1/28); the t statistic does not depend on the noise's level or the series' scale, so the Gaussian
   null needs no estimate of either, and heavier tails (a slow spell) are what the measured false-point
   rate includes. The weakest point that fails is removed, its neighbours' segments merge, and the rest
   are tested again until all pass.

Why ruptures' PELT and not E-divisive: the maintained E-divisive implementations cannot be installed
beside TensorFlow 2.21 (``signal-processing-algorithms`` requires numpy < 2; ``apache-otava`` 0.8.0 pins
numpy 2.2.* and scipy < 1.17 and brings cloud database clients). ruptures is maintained, ships wheels,
needs only numpy and scipy. Its recall and false positives on series with this machine's noise are
measured by tests/test_change_points.py and stated in docs/regression-gate.md.

A step in the last :data:`MIN_SEGMENT` - 1 runs cannot be a change point yet (it has not persisted);
``history`` judges the latest run against the one before it by compare's rule for that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The fewest runs on each side of a change point. With 2, a slow spell of two runs beside a real step
#: was read as a second step in 7% of generated series with a step (4% with 3; tests/test_change_points.py).
MIN_SEGMENT = 3
#: PELT's penalty per change point, in units of sigma^2 x log n (chosen on generated series: see the tests).
PENALTY = 3.0
#: Gaussian series behind each p-value (the smallest p it can give is 1 / (RESAMPLES + 1)).
RESAMPLES = 999
#: Consistency constant: the MAD of normal data times this estimates its standard deviation.
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class ChangePoint:
    """A step at ``index`` (the first run of the new level) of a series."""

    index: int
    before: float  # the level before: the segment's mean (geometric mean for a relative series)
    after: float
    change: float  # relative (after / before - 1) for a relative series, else after - before
    p_value: float | None  # the Monte Carlo test's over the two segments; None when neither varies
    n_before: int
    n_after: int


def noise_scale(y: np.ndarray) -> float:
    """Robust standard deviation of a series' noise: the MAD of its consecutive differences over sqrt(2)."""
    if len(y) < 3:
        return 0.0
    d = np.diff(y)
    return float(MAD_TO_SD * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def _segments(n: int, points: list[int]) -> list[tuple[int, int, int]]:
    """(start, point, end) of the two segments around each point."""
    edges = [0, *points, n]
    return [(edges[i - 1], edges[i], edges[i + 1]) for i in range(1, len(edges) - 1)]


def largest_step_t(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """The largest pooled two-sample t statistic over every split of ``z`` (along ``axis``) that leaves
    :data:`MIN_SEGMENT` values on each side: how strongly the stretch holds one step, wherever it is."""
    z = np.moveaxis(np.asarray(z, dtype=float), axis, -1)
    m = z.shape[-1]
    k = np.arange(MIN_SEGMENT, m - MIN_SEGMENT + 1)
    s1, s2 = np.cumsum(z, axis=-1), np.cumsum(z * z, axis=-1)
    sum_a, sq_a = s1[..., k - 1], s2[..., k - 1]
    sum_b, sq_b = s1[..., -1:] - sum_a, s2[..., -1:] - sq_a
    mean_a, mean_b = sum_a / k, sum_b / (m - k)
    pooled = np.maximum((sq_a - k * mean_a ** 2 + sq_b - (m - k) * mean_b ** 2) / (m - 2), 1e-300)
    return np.max(np.abs(mean_a - mean_b) / np.sqrt(pooled * (1 / k + 1 / (m - k))), axis=-1)


def _judge(y: np.ndarray, start: int, point: int, end: int, relative: bool) -> ChangePoint:
    from scipy import stats

    a, b = y[start:point], y[point:end]
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        p = None  # constant on both sides (a deterministic figure): the step is exact, there is nothing to test
    else:
        noise = np.random.default_rng(0).standard_normal  # a fixed stream: the same history gives the same p
        p = float(stats.monte_carlo_test(y[start:end], noise, largest_step_t, vectorized=True, n_resamples=RESAMPLES,
                                         alternative="greater").pvalue)
    before, after = float(np.mean(a)), float(np.mean(b))
    if relative:
        before, after = math.exp(before), math.exp(after)
        change = after / before - 1
    else:
        change = after - before
    return ChangePoint(point, before, after, change, p, len(a), len(b))


def detect(values: Sequence[float], *, relative: bool, min_change: float, alpha: float,
           noise_floor: float) -> list[ChangePoint]:
    """The change points of ``values`` (one figure per run, in run order; no missing values).

    ``relative``: judge ratios (throughput) rather than differences (accuracy); ``min_change`` is then a
    fraction. ``noise_floor``: the smallest noise standard deviation assumed (in log units when relative),
    so that a series that happens to be very smooth, or is exactly constant, is not cut at every wiggle.
    """
    import ruptures

    y = np.asarray(values, dtype=float)
    if relative:
        if (y <= 0).any():
            raise ValueError("a relative series needs positive values")
        y = np.log(y)
    n = len(y)
    if n < 2 * MIN_SEGMENT:
        return []
    sigma = max(noise_scale(y), noise_floor)
    points = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(y.reshape(-1, 1)).predict(
        pen=PENALTY * sigma ** 2 * math.log(n))[:-1]  # ruptures ends the list with n
    while points:
        judged = [_judge(y, s, p, e, relative) for s, p, e in _segments(n, points)]
        failing = [c for c in judged if abs(c.change) < min_change or (c.p_value is not None and c.p_value >= alpha)]
        if not failing:
            return judged
        # Drop the weakest (largest p, then smallest change) and test the merged segments again.
        weakest = max(failing, key=lambda c: (c.p_value if c.p_value is not None else -1.0, -abs(c.change)))
        points.remove(weakest.index)
    return []
