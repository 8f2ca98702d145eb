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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

BAR = 0.98
ALPHA = 0.01


@dataclass(frozen=True)
class OverheadVerdict:
    median: float
    ci_low: float
    ci_high: float
    #: one-sided p-value of "the ratios are below the bar"
    p_below_bar: float
    pairs: int
    bar: float = BAR
    alpha: float = ALPHA

    @property
    def slower(self) -> bool:
        """The harness is slower than bare by more than ``1 - bar``, significantly."""
        return self.p_below_bar < self.alpha

    def describe(self) -> str:
        ci = f"95% CI {self.ci_low:.4f}-{self.ci_high:.4f}"
        verdict = (f"slower than bare by more than {1 - self.bar:.0%} (one-sided Wilcoxon p = {self.p_below_bar:.2g} "
                   f"< {self.alpha:g})" if self.slower else
                   f"not shown slower than bare by more than {1 - self.bar:.0%} (one-sided Wilcoxon p = "
                   f"{self.p_below_bar:.2g}, needs < {self.alpha:g})")
        return f"harness/bare throughput ratio: median {self.median:.4f} ({ci}) over {self.pairs} pairs; {verdict}"


def median_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median: the ``k``-th smallest and ``k``-th largest
    values, ``k`` the largest rank with ``P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2``."""
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    k = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))  # P(B <= k) >= tail: ranks 1..k are outside
    if k < 1:  # too few values for this confidence: the whole range is all one can say
        return float(x[0]), float(x[-1])
    return float(x[k - 1]), float(x[n - k])


def verdict(ratios, bar: float = BAR, alpha: float = ALPHA) -> OverheadVerdict:
    """Judge bare/harness throughput ``ratios`` (one per pair) against ``bar``."""
    r = np.asarray(ratios, dtype=float)
    if len(r) < 2 or not np.all(np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"need two or more positive, finite ratios, got {list(ratios)}")
    diffs = np.log(r / bar)
    p = 1.0 if np.all(diffs == 0) else float(stats.wilcoxon(diffs, alternative="less").pvalue)
    low, high = median_ci(r)
    return OverheadVerdict(float(np.median(r)), low, high, p, len(r), bar, alpha)
