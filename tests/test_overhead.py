"""The harness-overhead verdict (bench/verdict/overhead.py): a test on the pairs after a burst screen, not a bar
on their median."""

from __future__ import annotations

import numpy as np
import pytest
from rnnbench.verdict.overhead import BURST, MIN_PAIRS, bursts, median_ci, verdict
from scipy import stats


def _walls(ratios, base=2.5):
    """Pairs with the given bare/harness ratios: the bare fit at ``base`` seconds, the harness's from it."""
    bare = np.full(len(ratios), base)
    return bare / np.asarray(ratios, dtype=float), bare


def test_p_value_is_scipy_s_one_sided_wilcoxon_on_log_ratio_over_bar():
    ratios = [0.97, 1.01, 0.93, 1.04, 0.99, 0.96, 1.02, 0.95, 1.00, 0.98, 0.94]
    expected = stats.wilcoxon(np.log(np.array(ratios) / 0.98), alternative="less").pvalue
    judged = verdict(*_walls(ratios))
    assert judged.p_below_bar == pytest.approx(expected)
    assert judged.pairs == 11 and judged.screened == 0


def test_noise_around_one_passes_even_with_a_median_under_the_bar():
    # the Intel VM's run that failed the old `median >= 0.98` bar: wide pairs, median 0.954
    ratios = [0.67, 0.82, 0.91, 0.93, 0.95, 0.954, 1.02, 1.05, 1.10, 1.18, 1.30]
    judged = verdict(*_walls(ratios))
    assert judged.median < 0.98 and not judged.slower
    assert "not shown slower" in judged.describe() and "95% CI" in judged.describe()


def test_a_consistent_five_percent_slowdown_fails():
    rng = np.random.default_rng(0)
    ratios = 0.95 * np.exp(rng.normal(0, 0.03, 21))
    judged = verdict(*_walls(ratios))
    assert judged.slower and "slower than bare by more than 2%" in judged.describe()


def test_a_burst_on_three_bare_fits_no_longer_hides_a_planted_slowdown():
    # This VM, RNNBENCH_PLANT_OVERHEAD=0.05, idle: three bare fits ran at half speed (ratios 1.83-2.08)
    # and carried the rank test to p = 0.06 over the 21 ratios. Those three fits were ~2x their arm's
    # median, so the screen leaves their pairs out, and the 5% is found.
    ratios = [0.98, 0.98, 0.98, 1.83, 1.91, 2.08, 1.0, 0.95, 0.95, 0.95, 0.96, 0.95, 0.94, 0.95, 0.95, 0.93,
              0.92, 0.94, 0.96, 0.92, 0.95]
    harness = np.full(21, 2.63)  # the harness's fits, steady at the planted 5% over bare
    bare = harness * np.array(ratios)  # so the burst is in the bare fits of pairs 4-6
    assert stats.wilcoxon(np.log(np.array(ratios) / 0.98), alternative="less").pvalue > 0.01  # unscreened: missed
    judged = verdict(harness, bare)
    assert judged.screened == 3 and judged.pairs == 18
    assert judged.slower and "3 left out" in judged.describe()


def test_bursts_on_harness_fits_do_not_fail_unchanged_code():
    # This VM, unchanged code, another job running: nine harness fits ran at half speed (ratios 0.5-0.57) and
    # two bare ones (~1.8); over all 21 ratios the rank test said p = 0.0097, a fail on noise alone (0.0102
    # with the ratios rounded as here).
    ratios = np.array([0.5, 0.5, 1.82, 0.5, 1.0, 1.02, 0.52, 0.95, 0.92, 0.5, 0.57, 0.96, 1.0, 0.52, 0.86, 0.5,
                       0.97, 1.85, 1.0, 1.0, 0.5])
    hit_harness, hit_bare = ratios < 0.6, ratios > 1.5
    harness = np.where(hit_harness, 5.0, 2.5)
    bare = harness * ratios
    assert stats.wilcoxon(np.log(ratios / 0.98), alternative="less").pvalue < 0.011  # unscreened: (about) a fail
    judged = verdict(harness, bare)
    assert judged.screened == int(hit_harness.sum() + hit_bare.sum()) == 11
    assert judged.pairs == 10 and not judged.slower and judged.median == pytest.approx(0.985)


def test_a_slowdown_of_the_whole_harness_arm_is_never_screened():
    # a harness 60% slower on every fit moves the arm's median with it: nothing is a burst, and it fails
    bare = np.full(15, 2.5)
    harness = bare * 1.6
    assert not bursts(harness, bare).any()
    assert verdict(harness, bare).slower


def test_the_screen_uses_each_arm_s_own_median():
    harness, bare = np.array([1.0, 1.0, 1.0, 1.0 * BURST + 0.01]), np.array([2.0, 2.0, 2.0 * BURST, 2.0])
    assert bursts(harness, bare).tolist() == [False, False, False, True]  # exactly BURST x is kept


def test_too_few_clean_pairs_pass_and_say_so():
    # a machine so busy that five harness fits and five bare fits of twelve were hit (3x): two clean pairs
    # are left, and a one-sided test at 1% cannot reach significance on two, however slow they look
    harness, bare = np.full(12, 2.7), np.full(12, 2.5)
    harness[:5] *= 3
    bare[5:10] *= 3
    judged = verdict(harness, bare)
    assert judged.screened == 10 and judged.pairs == 2 < MIN_PAIRS
    assert not judged.slower and "too few clean pairs to judge (2 of 12" in judged.describe()


def test_median_interval_is_the_binomial_order_statistics():
    x = np.arange(1.0, 12.0)  # 11 values: k = 2, so the 2nd smallest and the 2nd largest
    assert median_ci(x) == (2.0, 10.0)
    k = int(stats.binom.ppf(0.025, 21, 0.5))
    y = np.sort(np.random.default_rng(1).random(21))
    assert median_ci(y) == (y[k - 1], y[21 - k])
    assert median_ci([1.0, 2.0, 3.0]) == (1.0, 3.0)  # too few values: the range


@pytest.mark.parametrize("harness,bare", [([1.0], [1.0]), ([1.0, float("nan")], [1.0, 1.0]),
                                          ([1.0, -0.5], [1.0, 1.0]), ([1.0, 1.0], [1.0])])
def test_unusable_walls_are_refused(harness, bare):
    with pytest.raises(ValueError):
        verdict(harness, bare)


def test_the_figure_verdict_fails_an_inflated_figure_and_passes_an_equal_one():
    from rnnbench.verdict.overhead import figure_verdict

    rng = np.random.default_rng(0)
    bare = 2000 * (1 + 0.02 * rng.standard_normal(9))
    assert figure_verdict(bare * 1.15, bare).inflated  # the first run's failing configuration, 15% above
    assert not figure_verdict(bare * (1 + 0.01 * rng.standard_normal(9)), bare).inflated
    assert not figure_verdict(bare[:5] * 1.15, bare[:5]).judgeable  # five pairs cannot reach 1%
