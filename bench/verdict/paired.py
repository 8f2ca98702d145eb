"""Paired model comparison: is A more accurate than B on this data, on the evidence of the same test examples?

Every cell that evaluated stores which test examples it got right (bench/storage/predictions.py). Two
parameter sets that differ in one axis (``model`` by default, any other with ``by``) and were evaluated
on the same examples are compared on:

* the difference in mean test accuracy over seeds, with a percentile interval from a **two-level
  bootstrap**: each replicate resamples the test examples (shared by both sides: they are the same
  examples) and the seeds (separate training runs): as pairs where both sides hold the same seeds (a
  seed fixes initial weights and data order), else each side's alone. With one seed a side
  has no seed-to-seed spread to resample, and the interval covers the test examples only: a verdict
  about these trained models, not about the architecture, and said so. Hand-written because neither
  scipy nor statsmodels has a hierarchical bootstrap; with one seed it is the paired bootstrap of
  ``scipy.stats.bootstrap``, which the tests check it against.
* **P(A > B)**, the probability that a run of A is more accurate than a run of B (Bouthillier et al.
  2021), over every pairing of A's seeds with B's (ties count half), with its interval from the same
  replicates;
* the **exact McNemar test** of each seed both sides share (statsmodels), on the examples the two
  disagree on (Dietterich 1998), Holm-adjusted across every test shown.

Verdicts, on the interval at a Bonferroni-corrected level (1 - alpha / the number of pairs shown):
**equivalent** when the whole interval lies inside the region of practical equivalence ``±rope``;
else **better** when it lies above zero, **worse** below; else **not resolved**: these runs cannot tell.

Only predictions on one test split are ever paired: sides whose fingerprints differ are bad input, never
a verdict (docs/model-comparison.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rnnbench.errors import BadInput
from rnnbench.reporting.intervals import GROUP_COLUMNS, label, plain_key
from rnnbench.storage.predictions import Predictions
from rnnbench.storage.schema import HEADERS

#: The region of practical equivalence: accuracies closer than this are the same for a practitioner.
ROPE = 0.01
ALPHA = 0.05
REPLICATES = 2000
BETTER, WORSE, EQUIVALENT, UNRESOLVED = "better", "worse", "equivalent", "not resolved"
VERDICTS = (BETTER, WORSE, EQUIVALENT, UNRESOLVED)
#: The axes a comparison can be by: a cell's identity settings that can change what it learns, and
#: ``run``, the run directory a cell came from (the same cells of two runs: two commits, two machines).
BY_AXES = (*GROUP_COLUMNS, "run")
#: What the verdicts promise, under every table of them.
VERDICT_NOTE = ("better / worse: the interval of A - B lies above / below 0; equivalent: it lies inside ±{rope:g} "
                "(the difference is smaller than that, at this confidence); not resolved: these runs cannot tell. Intervals "
                "are Bonferroni-corrected so that all verdicts shown hold together at {alpha:g} (docs/model-comparison.md).")


@dataclass(frozen=True)
class Side:
    """One parameter set over its seeds: which test examples each seed's model got right."""

    value: Any  # its value of the compared axis
    seeds: tuple
    correct: np.ndarray  # (seeds, examples) bool
    predicted: np.ndarray  # (seeds, examples) class
    cell_ids: tuple

    @property
    def accuracies(self) -> np.ndarray:
        return self.correct.mean(axis=1)

    @property
    def mean(self) -> float:
        return float(self.accuracies.mean())


@dataclass(frozen=True)
class Pair:
    """A compared with B at one setting of the other axes; A is the side with the higher mean."""

    setting: dict[str, Any]
    a: Side
    b: Side
    difference: float  # mean accuracy of A minus B's
    low: float
    high: float
    confidence: float
    p_better: float  # P(A > B) over seed pairings
    p_low: float
    p_high: float
    #: per shared seed: (seed, exact McNemar p, Holm-adjusted p)
    mcnemar: tuple[tuple[Any, float, float], ...] = ()
    verdict: str = UNRESOLVED
    notes: tuple[str, ...] = field(default=())


def mcnemar_exact(a_correct: np.ndarray, b_correct: np.ndarray) -> float:
    """The exact McNemar test's p-value on two models' correctness over the same examples (statsmodels)."""
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    return float(mcnemar(table, exact=True).pvalue)


def bootstrap(a_correct: np.ndarray, b_correct: np.ndarray, confidence: float, replicates: int = REPLICATES,
              rng: np.random.Generator | None = None, paired_seeds: bool = False
              ) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile intervals of the mean accuracy difference and of P(A > B) from a two-level bootstrap.

    ``a_correct`` and ``b_correct`` are (seeds, examples) correctness of each side on the same examples.
    A replicate draws the examples with replacement (once, for both sides) and each side's seeds with
    replacement (with ``paired_seeds``, both sides hold the same seeds in one order and draw them as
    pairs); P(A > B) is the share of (A seed, B seed) pairings in which A's accuracy is higher,
    ties counting half.
    """
    rng = rng or np.random.default_rng(0)
    a, b = np.asarray(a_correct, np.float64), np.asarray(b_correct, np.float64)
    n = a.shape[1]
    diffs, probs = np.empty(replicates), np.empty(replicates)
    chunk = max(1, min(replicates, 2_000_000 // n))
    for start in range(0, replicates, chunk):
        size = min(chunk, replicates - start)
        # Example weights: how often each example was drawn in each replicate.
        weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)]) / n
        acc_a, acc_b = weights @ a.T, weights @ b.T  # (size, seeds) accuracies on the drawn examples
        pick_a = rng.integers(0, a.shape[0], (size, a.shape[0]))
        # The same seeds on both sides are drawn as pairs: a seed fixes the initial weights and the data
        # order, so a fast path's run pairs with the reference's of its seed. For independent runs drawing
        # pairs has the same variance as drawing each side alone.
        pick_b = pick_a if paired_seeds else rng.integers(0, b.shape[0], (size, b.shape[0]))
        runs_a = np.take_along_axis(acc_a, pick_a, axis=1)
        runs_b = np.take_along_axis(acc_b, pick_b, axis=1)
        diffs[start:start + size] = runs_a.mean(axis=1) - runs_b.mean(axis=1)
        probs[start:start + size] = p_better(runs_a, runs_b)
    tail = (1 - confidence) / 2 * 100
    return (tuple(float(v) for v in np.percentile(diffs, [tail, 100 - tail])),
            tuple(float(v) for v in np.percentile(probs, [tail, 100 - tail])))


def p_better(acc_a: np.ndarray, acc_b: np.ndarray) -> np.ndarray | float:
    """P(A > B): the share of pairings of A's runs with B's in which A is more accurate, ties half.
    The last axis holds the runs; leading axes (replicates) are kept."""
    a, b = np.asarray(acc_a)[..., :, None], np.asarray(acc_b)[..., None, :]
    share = ((a > b) + 0.5 * (a == b)).mean(axis=(-2, -1))
    return float(share) if np.ndim(share) == 0 else share


def decide(low: float, high: float, rope: float = ROPE) -> str:
    """The verdict of an interval of A - B: equivalent inside ±rope, better above 0, worse below, else not resolved."""
    if -rope < low and high < rope:
        return EQUIVALENT
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    return UNRESOLVED


def _key(row: Mapping[str, Any], columns: Sequence[str]) -> tuple:
    return tuple(plain_key(row.get(c)) for c in columns)


def sides(rows: Iterable[Mapping[str, Any]], predictions: Mapping[str, Predictions], by: str = "model"
          ) -> tuple[dict[tuple, list[Side]], list[str], list[str]]:
    """The ok cells with predictions grouped by setting (every axis but ``by`` and the seed), each
    setting's sides by their value of ``by``; the setting's columns; and notes on what was left out.

    BadInput when the sides of one setting were evaluated on different test examples, or a side holds a
    seed twice (two runs of one cell: compare them with ``by="run"``).
    """
    if by not in BY_AXES:
        raise BadInput(f"unknown --by axis {by!r}; known: {', '.join(BY_AXES)}")
    rows = [r for r in rows if r.get("status") == "ok" and r.get("test_acc") is not None]
    notes = []
    missing = [r["cell_id"] for r in rows if r["cell_id"] not in predictions]
    if missing:
        notes.append(f"{len(missing)} cells with a test accuracy have no stored predictions (a run from before "
                     "predictions.csv): left out; rerun them with --force to compare them")
    rows = [r for r in rows if r["cell_id"] in predictions]
    columns = [c for c in BY_AXES if c != by and any(r.get(c) is not None for r in rows)]
    grouped: dict[tuple, dict[Any, list[Mapping[str, Any]]]] = {}
    for r in rows:
        grouped.setdefault(_key(r, columns), {}).setdefault(plain_key(r.get(by)), []).append(r)
    result: dict[tuple, list[Side]] = {}
    for key, by_value in grouped.items():
        if len(by_value) < 2:
            continue
        members = [r for rs in by_value.values() for r in rs]
        prints = {predictions[r["cell_id"]].test_fingerprint for r in members}
        if len(prints) > 1:
            raise BadInput(f"cells {', '.join(r['cell_id'] for r in members)} ({label(dict(zip(columns, key, strict=True)), columns)}) "
                           f"were evaluated on different test examples (fingerprints {', '.join(sorted(prints))}): "
                           "their predictions cannot be paired")
        result[key] = [make_side(value, rs, predictions, by) for value, rs in by_value.items()]
    return result, columns, notes


def make_side(value: Any, rows: Sequence[Mapping[str, Any]], predictions: Mapping[str, Predictions], by: str = "model") -> Side:
    """One side from its cells (one per seed); BadInput when a seed appears twice."""
    seeds = [r.get("seed") for r in rows]
    if len(set(seeds)) != len(seeds):
        raise BadInput(f"{by} {value}: a seed appears in more than one cell of one setting; "
                       "compare runs of the same cells with --by run")
    order = sorted(range(len(rows)), key=lambda i: (seeds[i] is None, seeds[i]))
    preds = [predictions[rows[i]["cell_id"]] for i in order]
    return Side(value, tuple(seeds[i] for i in order), np.stack([p.correct for p in preds]),
                np.stack([p.predicted for p in preds]), tuple(rows[i]["cell_id"] for i in order))


def compare_pair(setting: dict[str, Any], a: Side, b: Side, confidence: float, rope: float = ROPE,
                 replicates: int = REPLICATES, rng: np.random.Generator | None = None) -> Pair:
    """A against B: the interval, P(A > B), the raw McNemar p of each shared seed (Holm-adjusted by
    :func:`adjust`, here equal to the raw ones) and the verdict."""
    (low, high), (p_low, p_high) = bootstrap(a.correct, b.correct, confidence, replicates, rng,
                                             paired_seeds=a.seeds == b.seeds and None not in a.seeds)
    shared = [s for s in a.seeds if s in b.seeds and s is not None]
    tests = tuple((s, p, p) for s in shared
                  for p in [mcnemar_exact(a.correct[a.seeds.index(s)], b.correct[b.seeds.index(s)])])
    notes = ()
    if min(len(a.seeds), len(b.seeds)) < 2:
        notes = ("one seed on a side: the interval covers the test examples only (these trained models, not the architecture)",)
    return Pair(setting, a, b, a.mean - b.mean, low, high, confidence, p_better(a.accuracies, b.accuracies),
                p_low, p_high, tests, decide(low, high, rope), notes)


def adjust(pairs: Sequence[Pair]) -> list[Pair]:
    """The pairs with their McNemar p-values Holm-adjusted across every seed of every pair (statsmodels)."""
    from statsmodels.stats.multitest import multipletests

    raw = [p for pair in pairs for _, p, _ in pair.mcnemar]
    if not raw:
        return list(pairs)
    adjusted = iter(multipletests(raw, method="holm")[1])
    return [dataclasses.replace(pair, mcnemar=tuple((s, p, float(next(adjusted))) for s, p, _ in pair.mcnemar))
            for pair in pairs]


def compare(rows: Iterable[Mapping[str, Any]], predictions: Mapping[str, Predictions], by: str = "model",
            rope: float = ROPE, alpha: float = ALPHA, replicates: int = REPLICATES, seed: int = 0
            ) -> tuple[list[Pair], list[str]]:
    """Every pair of sides at each setting, best mean first, with its verdict; and notes on what was left out.

    The intervals are at 1 - alpha / m for the m pairs (Bonferroni), so that all verdicts hold together at
    1 - alpha; the McNemar p-values are Holm-adjusted across every seed of every pair.
    """
    groups, columns, notes = sides(rows, predictions, by)
    plan = []
    for key, members in groups.items():
        ranked = sorted(members, key=lambda s: -s.mean)
        plan.extend((dict(zip(columns, key, strict=True)), a, b) for i, a in enumerate(ranked) for b in ranked[i + 1:])
    if not plan:
        return [], notes
    rng = np.random.default_rng(seed)
    confidence = 1 - alpha / len(plan)
    return adjust([compare_pair(setting, a, b, confidence, rope, replicates, rng) for setting, a, b in plan]), notes


def describe(pair: Pair, by: str) -> dict[str, Any]:
    """A pair as a table record (the terminal, REPORT.md and index.html show the same)."""
    # A p-value that underflowed to 0 is below the smallest double, not zero.
    mcnemar = ", ".join(f"{s}: {q:.2g}" if q > 0 else f"{s}: < 1e-300" for s, _, q in pair.mcnemar) or "no shared seed"
    return {
        "A": axis_value(by, pair.a.value), "B": axis_value(by, pair.b.value),
        "seeds": f"{len(pair.a.seeds)} / {len(pair.b.seeds)}",
        "A - B": f"{pair.difference:+.3f}",
        f"{pair.confidence:.1%} interval": f"[{pair.low:+.3f}, {pair.high:+.3f}]",
        "P(A > B)": f"{pair.p_better:.2f} [{pair.p_low:.2f}, {pair.p_high:.2f}]",
        "McNemar p by seed (Holm)": mcnemar,
        "verdict": pair.verdict,
    }


def axis_value(by: str, value: Any) -> str:
    """A value of the compared axis in words: XLA on / off for jit_compile, else as stored."""
    if by == "jit_compile":
        return f"XLA {'on' if value else 'off'}"
    return str(value)


def setting_record(setting: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """A pair's settings in ``columns`` as table columns: the stored headers, XLA as on / off."""
    return {HEADERS.get(c, c): ({True: "on", False: "off"}.get(setting.get(c), setting.get(c)) if c == "jit_compile"
                                else setting.get(c)) for c in columns}


def varying_settings(pairs: Sequence[Pair]) -> list[str]:
    """The setting columns that differ between pairs (what a table needs to tell them apart)."""
    columns = list(dict.fromkeys(c for p in pairs for c in p.setting))
    return [c for c in columns if len({plain_key(p.setting.get(c)) for p in pairs}) > 1]
