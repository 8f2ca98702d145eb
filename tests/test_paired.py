"""Paired model comparison (issue 25, item 2): McNemar and the bootstrap against statsmodels and scipy on
fixed data, and the verdicts on planted differences."""

from __future__ import annotations

import numpy as np
import pytest
from rnnbench.errors import BadInput
from rnnbench.storage.predictions import Predictions
from rnnbench.verdict import paired
from scipy import stats

N = 2000


def _correct(accuracy: float, seed: int, n: int = N) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < accuracy


def _cells(accuracies: dict[str, list[float]], n: int = N, fingerprint: str = "split", base_seed: int = 0):
    """Rows and predictions of models evaluated on one test split, one cell per (model, seed). As with real
    models, errors are correlated: an example's difficulty is shared, and each run flips 3% at random."""
    rows, predictions = [], {}
    difficulty = np.random.default_rng(99).random(n)
    for m, (model, accs) in enumerate(accuracies.items()):
        for seed, acc in enumerate(accs):
            cid = f"{model}-{seed}"
            correct = (difficulty < acc) ^ _correct(0.03, base_seed + 100 * m + seed, n)
            predictions[cid] = Predictions(fingerprint, correct.astype(np.uint8), correct)
            rows.append({"cell_id": cid, "status": "ok", "model": model, "seed": seed, "maxlen": 100,
                         "test_acc": float(correct.mean())})
    return rows, predictions


def test_exact_mcnemar_is_the_binomial_test_on_the_disagreements():
    a, b = _correct(0.8, 1), _correct(0.75, 2)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    assert paired.mcnemar_exact(a, b) == pytest.approx(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue, rel=1e-9)


def test_with_one_seed_the_bootstrap_is_scipy_s_paired_percentile_bootstrap():
    a, b = _correct(0.8, 3), _correct(0.77, 4)
    (low, high), _ = paired.bootstrap(a[None], b[None], 0.95, replicates=4000, rng=np.random.default_rng(1))
    ref = stats.bootstrap((a.astype(float), b.astype(float)), lambda x, y, axis: x.mean(axis) - y.mean(axis), paired=True,
                          vectorized=True, method="percentile", n_resamples=4000, confidence_level=0.95,
                          rng=np.random.default_rng(2)).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.004) and high == pytest.approx(ref.high, abs=0.004)


def test_seeds_widen_the_interval_and_p_better_counts_pairings():
    same = np.stack([_correct(0.8, 5)] * 3)
    spread = np.stack([_correct(acc, 10 + k) for k, acc in enumerate((0.70, 0.80, 0.90))])
    (narrow_low, narrow_high), _ = paired.bootstrap(same, np.stack([_correct(0.8, 6)] * 3), 0.95, 1000)
    (wide_low, wide_high), _ = paired.bootstrap(spread, np.stack([_correct(0.8, 6)] * 3), 0.95, 1000)
    assert wide_high - wide_low > 3 * (narrow_high - narrow_low)
    assert paired.p_better(np.array([0.9, 0.8]), np.array([0.85, 0.8])) == pytest.approx((1 + 0.5 + 0 + 0.0) / 4 + 0.25 / 1)


def test_a_model_three_points_worse_over_three_seeds_is_worse():
    rows, predictions = _cells({"lstm": [0.85, 0.86, 0.84], "noisy": [0.82, 0.83, 0.81]})
    (pair,), _ = paired.compare(rows, predictions, replicates=1000)
    assert (pair.a.value, pair.b.value, pair.verdict) == ("lstm", "noisy", paired.BETTER)
    assert pair.low > 0 and pair.p_better == 1.0 and all(q < 0.05 for _, _, q in pair.mcnemar)


def test_two_runs_of_the_same_cells_are_equivalent():
    rows, predictions = _cells({"lstm": [0.85, 0.86, 0.84]})
    again = [{**r, "cell_id": r["cell_id"] + "-again", "run": "b"} for r in rows]
    predictions.update({f"{cid}-again": p for cid, p in predictions.items()})
    (pair,), _ = paired.compare([*({**r, "run": "a"} for r in rows), *again], predictions, by="run", replicates=500)
    assert pair.verdict == paired.EQUIVALENT and pair.low == pair.high == 0.0 and pair.p_better == 0.5


def test_a_small_difference_on_few_examples_is_not_resolved_and_a_tiny_one_on_many_is_equivalent():
    rows, predictions = _cells({"a": [0.80, 0.80], "b": [0.79, 0.79]}, n=300)
    (pair,), _ = paired.compare(rows, predictions, replicates=1000)
    assert pair.verdict == paired.UNRESOLVED
    shared = _correct(0.8, 7, 40000)
    flip = np.random.default_rng(8).random(40000) < 0.002
    predictions = {"a-0": Predictions("s", shared.astype(np.uint8), shared),
                   "b-0": Predictions("s", (shared ^ flip).astype(np.uint8), shared ^ flip)}
    rows = [{"cell_id": c, "status": "ok", "model": c[0], "seed": 0, "test_acc": float(p.accuracy)} for c, p in predictions.items()]
    (pair,), _ = paired.compare(rows, predictions, replicates=1000)
    assert pair.verdict == paired.EQUIVALENT and "one seed on a side" in pair.notes[0]


def test_intervals_are_bonferroni_corrected_across_the_pairs_shown():
    rows, predictions = _cells({"a": [0.85, 0.86], "b": [0.80, 0.81], "c": [0.70, 0.71], "d": [0.5, 0.52]})
    pairs, _ = paired.compare(rows, predictions, replicates=500)
    assert len(pairs) == 6 and {p.confidence for p in pairs} == {1 - 0.05 / 6}
    assert [(p.a.value, p.b.value) for p in pairs][:3] == [("a", "b"), ("a", "c"), ("a", "d")]


def test_predictions_on_other_examples_are_never_paired():
    rows, predictions = _cells({"a": [0.85], "b": [0.8]})
    predictions["b-0"] = Predictions("other split", predictions["b-0"].predicted, predictions["b-0"].correct)
    with pytest.raises(BadInput, match="different test examples"):
        paired.compare(rows, predictions)


def test_cells_without_predictions_are_left_out_and_said():
    rows, predictions = _cells({"a": [0.85], "b": [0.8]})
    del predictions["b-0"]
    pairs, notes = paired.compare(rows, predictions)
    assert pairs == [] and "1 cells with a test accuracy have no stored predictions" in notes[0]


def test_an_unknown_axis_is_bad_input():
    with pytest.raises(BadInput, match="unknown --by axis 'colour'"):
        paired.compare([], {}, by="colour")
