"""Does a fast path train the same model? XLA on/off, cuDNN/generic and one backend against another.

A speedup is worth having only if the faster cells learn what the reference cells learn. For cells that
differ only in one of :data:`FAST_PATH_AXES` and share every other setting, seed included, this module
reports, per setting:

* **agreement**: the share of test examples on which the two cells of one seed predict the same class
  (mean over the shared seeds): 1.0 for a bit-identical computation, a little below for one that rounds
  differently (fused kernels, another framework), far below for one that learns something else;
* the **accuracy difference** with its paired interval and the equivalence verdict at the margin
  (bench/verdict/paired.py; seeds drawn as pairs, since a seed fixes the initial weights and data order);
* the **largest gap between the validation curves** of one seed, over the epochs both logged.

"trains the same model" is **yes** when the verdict is equivalent, **no** when it is better or worse
(the fast path changes what is learned), **not resolved** when these runs cannot tell, and **not
measured** where no such pair evaluated on its test split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rnnbench.reporting.intervals import is_missing
from rnnbench.storage.predictions import Predictions
from rnnbench.verdict import paired

#: The axes a fast path changes: the computation, not the model or its data.
FAST_PATH_AXES = ("jit_compile", "kernel", "backend")
#: Each axis's reference: the path a fast one is checked against.
REFERENCE = {"jit_compile": False, "kernel": "generic", "backend": "tensorflow"}
SAME, DIFFERENT, UNRESOLVED, NOT_MEASURED = "yes", "no", "not resolved", "not measured"
#: The settings a speedup table's row names (bench/reporting/report.py): a check at all of them is that row's.
SPEEDUP_SHAPE = ("model", "device", "maxlen", "batch_size")


@dataclass(frozen=True)
class FastPathCheck:
    """One setting's fast path (the pair's A) against its reference (B), over the seeds both ran."""

    axis: str
    pair: paired.Pair
    agreement: float  # mean share of test examples predicted alike, over shared seeds
    curve_gap: float | None  # largest |val acc difference| at one epoch of one seed; None without curves
    curve_gap_epoch: int | None

    @property
    def same_model(self) -> str:
        return {paired.EQUIVALENT: SAME, paired.BETTER: DIFFERENT, paired.WORSE: DIFFERENT}.get(self.pair.verdict, UNRESOLVED)


def _val_curves(epochs: Iterable[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    curves: dict[str, dict[int, float]] = {}
    for e in epochs:
        if not is_missing(e.get("val_acc")):
            curves.setdefault(e["cell_id"], {})[int(e["epoch"])] = float(e["val_acc"])
    return curves


def _curve_gap(a: paired.Side, b: paired.Side, curves: Mapping[str, Mapping[int, float]]) -> tuple[float | None, int | None]:
    gap, at = None, None
    for seed, a_id in zip(a.seeds, a.cell_ids, strict=True):
        if seed not in b.seeds:
            continue
        ca, cb = curves.get(a_id, {}), curves.get(b.cell_ids[b.seeds.index(seed)], {})
        for epoch in sorted(set(ca) & set(cb)):
            d = abs(ca[epoch] - cb[epoch])
            if gap is None or d > gap:
                gap, at = d, epoch
    return gap, at


def _agreement(a: paired.Side, b: paired.Side) -> float:
    shares = [float(np.mean(a.predicted[i] == b.predicted[b.seeds.index(s)])) for i, s in enumerate(a.seeds) if s in b.seeds]
    return float(np.mean(shares)) if shares else float("nan")


def checks(rows: Sequence[Mapping[str, Any]], predictions: Mapping[str, Predictions], epochs: Iterable[Mapping[str, Any]] = (),
           rope: float = paired.ROPE, alpha: float = paired.ALPHA, replicates: int = paired.REPLICATES
           ) -> tuple[list[FastPathCheck], list[str]]:
    """Every fast-path pair of the run's cells with predictions, per axis; and notes on what was left out.

    Only sides that share their seeds are checked (a fast path and its reference from one seed each);
    the intervals are Bonferroni-corrected over all checks shown.
    """
    curves = _val_curves(epochs)
    plan, notes = [], []
    for axis in FAST_PATH_AXES:
        groups, columns, _ = paired.sides(rows, predictions, by=axis)
        for key, members in groups.items():
            setting = dict(zip(columns, key, strict=True))
            # The fast path is A and its reference B, so that A - B is what taking the fast path changes.
            ranked = sorted(members, key=lambda s: (s.value == REFERENCE[axis], str(s.value)))
            for i, a in enumerate(ranked):
                for b in ranked[i + 1:]:
                    if not set(a.seeds) & set(b.seeds) - {None}:
                        notes.append(f"{axis} {a.value} vs {b.value}: no seed in common, not checked")
                        continue
                    plan.append((axis, setting, a, b))
    if not plan:
        return [], notes
    confidence = 1 - alpha / len(plan)
    rng = np.random.default_rng(0)
    found = []
    for axis, setting, a, b in plan:
        pair = paired.compare_pair(setting, a, b, confidence, rope, replicates, rng)
        gap, at = _curve_gap(a, b, curves)
        found.append(FastPathCheck(axis, pair, _agreement(a, b), gap, at))
    return found, notes


def same_model(found: Sequence[FastPathCheck], axis: str, setting: Mapping[str, Any]) -> str:
    """One word for a speedup table's row: does the fast path along ``axis`` train the same model at
    ``setting`` (the row's model, device, maxlen, batch size, ...)? A check at exactly that setting gives
    its word; otherwise the model's checks at other settings give theirs with where they were measured
    ("no (checked at maxlen 100, batch 128)"), since a speed grid's cells rarely train; several
    checks: yes only when every one is yes."""
    def matches(check: FastPathCheck, keys: Iterable[str]) -> bool:
        return all(check.pair.setting.get(k) in (None, setting[k]) for k in keys if setting.get(k) is not None)

    mine = [c for c in found if c.axis == axis and matches(c, ("model", "device"))]
    if not mine:
        return NOT_MEASURED
    exact = [c for c in mine if matches(c, SPEEDUP_SHAPE)]
    words = {c.same_model for c in exact or mine}
    word = DIFFERENT if DIFFERENT in words else UNRESOLVED if UNRESOLVED in words else SAME
    if exact:
        return word
    where = sorted({f"maxlen {c.pair.setting.get('maxlen')}, batch {c.pair.setting.get('batch_size')}" for c in mine})
    return f"{word} (checked at {'; '.join(where)})"


def describe(check: FastPathCheck) -> dict[str, Any]:
    """A check as a table record (REPORT.md and index.html)."""
    pair = check.pair
    value = paired.axis_value
    gap = ("no curves" if check.curve_gap is None else f"{check.curve_gap:.3f}" if check.curve_gap == 0
           else f"{check.curve_gap:.3f} (epoch {check.curve_gap_epoch})")
    return {
        "fast path": f"{value(check.axis, pair.a.value)} vs {value(check.axis, pair.b.value)}",
        "seeds": len(set(pair.a.seeds) & set(pair.b.seeds)),
        "predictions agree": f"{check.agreement:.1%}",
        "A - B": f"{pair.difference:+.4f}",
        f"{pair.confidence:.1%} interval": f"[{pair.low:+.4f}, {pair.high:+.4f}]",
        "largest val acc gap": gap,
        "trains the same model": check.same_model,
    }
