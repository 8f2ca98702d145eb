"""The verdict on the harness's overhead: is its instrumented fit slower than a bare one, on evidence?

The benchmark (tests/benchmarks/bench_overhead.py) times PAIRS alternating pairs of the same fit, with
and without the harness's step timer, and hands the bare/harness wall-time ratios (harness throughput
over bare throughput) here. A fixed bar on their median (``>= 0.98``) failed on noise alone: on an
otherwise idle 2-core VM eleven pairs ranged 0.67-1.30 and their median came out 0.954 with nothing
wrong. So the verdict is a test, not a threshold:

* **fail** only when the harness is slower than bare by more than ``1 - bar`` (2%) with a one-sided
  Wilcoxon signed-rank test on ``log(ratio / bar)`` at ``alpha`` (1%): the ratios must sit below the bar
  consistently, not once;
* otherwise **pass**, printing the median ratio with its distribution-free 95% confidence interval (the
  order statistics a binomial(n, 1/2) puts around the median), so a reader sees how much the run can
  tell.

Bursts are screened out first. On this 2-core VM another process now and then takes a core for a
second or two, and the fit it lands on runs at about half speed: that pair's ratio is ~0.5 or ~2.0,
however the harness behaves. A rank test gives such pairs the largest ranks, so three of them carried
a run with the harness really 5% slower past the test (p = 0.06). A pair is therefore left out when
either of its fits took more than ``BURST`` (1.5) times the median of its own arm: a slowdown the
harness causes moves its whole arm, and with it that arm's median, so it is never screened away; a
burst moves one fit. What was left out is counted in the verdict. With fewer than ``MIN_PAIRS`` clean
pairs a one-sided test at 1% cannot reach significance at all (its smallest p-value is 2^-n), so the
verdict is then "too few clean pairs to judge", which passes and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rnnbench.verdict.thresholds import ALPHA
from scipy import stats

BAR = 0.98
#: a fit slower than this many times its arm's median was hit by a burst of other work
BURST = 1.5
#: fewest clean pairs for which a one-sided signed-rank test can reach ALPHA (2**-7 = 0.0078)
MIN_PAIRS = 7


@dataclass(frozen=True)
class RatioVerdict:
    """A one-sided Wilcoxon test of paired ratios against a bar (:func:`verdict`, :func:`figure_verdict`):
    the ratios' median and its 95% interval, the p-value, the pairs judged and those a burst screened out."""

    median: float
    ci_low: float
    ci_high: float
    #: one-sided p-value of "the ratios are beyond the bar" (below it for the overhead, above for the figure)
    p: float
    #: pairs judged (after the burst screen)
    pairs: int
    bar: float
    alpha: float = ALPHA
    #: pairs left out because one of their fits was hit by a burst
    screened: int = 0

    @property
    def judgeable(self) -> bool:
        """Enough clean pairs for the test to be able to reach ``alpha``."""
        return self.pairs >= MIN_PAIRS

    @property
    def significant(self) -> bool:
        """Beyond the bar, significantly (and judgeable at all)."""
        return self.judgeable and self.p < self.alpha


@dataclass(frozen=True)
class OverheadVerdict(RatioVerdict):
    """Is the harness's instrumented fit slower than a bare ``model.fit`` (ratios bare/harness time)?"""

    bar: float = BAR

    @property
    def p_below_bar(self) -> float:
        return self.p

    @property
    def slower(self) -> bool:
        """The harness is slower than bare by more than ``1 - bar``, significantly."""
        return self.significant

    def describe(self) -> str:
        ci = f"95% CI {self.ci_low:.4f}-{self.ci_high:.4f}"
        verdict = (f"slower than bare by more than {1 - self.bar:.0%} (one-sided Wilcoxon p = {self.p_below_bar:.2g} "
                   f"< {self.alpha:g})" if self.slower else
                   f"not shown slower than bare by more than {1 - self.bar:.0%} (one-sided Wilcoxon p = "
                   f"{self.p_below_bar:.2g}, needs < {self.alpha:g})")
        if not self.judgeable:
            verdict = (f"too few clean pairs to judge ({self.pairs} of {self.pairs + self.screened}; a one-sided test "
                       f"at {self.alpha:g} needs {MIN_PAIRS} or more): run more pairs, or on a quieter machine")
        left_out = f" ({self.screened} left out: a fit over {BURST:g}x its arm's median)" if self.screened else ""
        return (f"harness/bare throughput ratio: median {self.median:.4f} ({ci}) over {self.pairs} pairs{left_out}; "
                f"{verdict}")


def median_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median: the ``k``-th smallest and ``k``-th largest
    values, ``k`` the largest rank with ``P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2``."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    k = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))  # P(B <= k) >= tail: ranks 1..k are outside
    if k < 1:  # too few values for this confidence: the whole range is all one can say
        return float(x[0]), float(x[-1])
    return float(x[k - 1]), float(x[n - k])


def bursts(harness_walls, bare_walls, burst: float = BURST) -> np.ndarray:
    """Which pairs a burst hit: either fit took more than ``burst`` times its own arm's median."""
    harness, bare = np.asarray(harness_walls, dtype=float), np.asarray(bare_walls, dtype=float)
    if harness.shape != bare.shape or not np.all(np.isfinite(harness) & np.isfinite(bare)) or np.any(harness <= 0) \
            or np.any(bare <= 0):
        raise ValueError("need positive, finite wall times, as many harness fits as bare ones")
    return (harness > burst * np.median(harness)) | (bare > burst * np.median(bare))


def verdict(harness_walls, bare_walls, bar: float = BAR, alpha: float = ALPHA) -> OverheadVerdict:
    """Judge the pairs' wall times (seconds per fit, the instrumented and the bare fit of each pair):
    screen out the pairs a burst hit, then test the bare/harness ratios (harness throughput over bare)
    of the rest against ``bar``."""
    harness, bare = np.asarray(harness_walls, dtype=float), np.asarray(bare_walls, dtype=float)
    if len(harness) < 2:
        raise ValueError(f"need two or more pairs, got {len(harness)}")
    hit = bursts(harness, bare)
    return OverheadVerdict(*_ratio_test(bare[~hit] / harness[~hit], bar, "less"), bar, alpha, int(hit.sum()))


def _ratio_test(r: np.ndarray, bar: float, alternative: str) -> tuple[float, float, float, float, int]:
    """Median of the ratios, its 95% interval, the one-sided Wilcoxon p-value of ``log(r / bar)`` in the
    ``alternative`` direction, and the count; NaNs and p = 1 when no ratio is left to judge."""
    if len(r) == 0:  # every pair hit: nothing to judge, and nothing to show
        return float("nan"), float("nan"), float("nan"), 1.0, 0
    diffs = np.log(r / bar)
    p = 1.0 if len(r) < 2 or np.all(diffs == 0) else float(stats.wilcoxon(diffs, alternative=alternative).pvalue)
    low, high = median_ci(r)
    return float(np.median(r)), low, high, p, len(r)


#: The reported figure may exceed the bare loop's wall-clock throughput by at most this factor.
FIGURE_BAR = 1.02


@dataclass(frozen=True)
class FigureVerdict(RatioVerdict):
    """Is the harness's *reported* throughput above what a bare ``model.fit`` gets on the same cell?"""

    bar: float = FIGURE_BAR

    @property
    def p_above_bar(self) -> float:
        return self.p

    @property
    def inflated(self) -> bool:
        """The reported figure is above the bare loop's by more than ``bar - 1``, significantly."""
        return self.significant

    def describe(self) -> str:
        left_out = f" ({self.screened} left out: a fit over {BURST:g}x its arm's median)" if self.screened else ""
        head = (f"reported/bare-fit throughput: median {self.median:.4f} (95% CI {self.ci_low:.4f}-{self.ci_high:.4f}) "
                f"over {self.pairs} pairs{left_out}; ")
        if not self.judgeable:
            return head + f"too few clean pairs to judge (a one-sided test at {self.alpha:g} needs {MIN_PAIRS} or more)"
        word = "above" if self.inflated else "not shown above"
        need = "<" if self.inflated else "needs <"
        return head + (f"{word} the bare loop by more than {self.bar - 1:.0%} (one-sided Wilcoxon p = {self.p_above_bar:.2g} "
                       f"{need} {self.alpha:g})")


def figure_verdict(reported, bare, bar: float = FIGURE_BAR, alpha: float = ALPHA) -> FigureVerdict:
    """Judge pairs of throughputs (samples/s): the harness's reported figure and a bare fit's wall-clock
    figure on the same cell, measured side by side. Pairs a burst hit (either figure under
    1/``BURST`` of its arm's median) are screened out first, as in :func:`verdict`."""
    reported, bare = np.asarray(reported, dtype=float), np.asarray(bare, dtype=float)
    if len(reported) < 2:
        raise ValueError(f"need two or more pairs, got {len(reported)}")
    hit = bursts(1 / reported, 1 / bare)
    return FigureVerdict(*_ratio_test(reported[~hit] / bare[~hit], bar, "greater"), bar, alpha, int(hit.sum()))
