"""The leaderboard: one row per model, kernel, backend and device, ranked on evidence.

A row's accuracy is its best parameter set's mean test accuracy over seeds (one lucky seed does not win),
shown with its 95% t-interval clipped to [0, 1] from three seeds on, and as the per-seed values below
three (a t-interval over two seeds needs t = 12.7 and says nothing). Beside it: how many seeds converged
(bench/verdict/convergence.py: a seed that never cleared chance is shown, not silently averaged), the
median time to the target validation accuracy with how many seeds reached it, the verdict of the paired
comparison against the row ranked next (bench/verdict/paired.py, Bonferroni-corrected over the
comparisons shown), and the speed figures. The terminal, REPORT.md and index.html show the same records.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rnnbench.reporting.intervals import SeedGroup, is_missing, seed_groups
from rnnbench.storage.predictions import Predictions
from rnnbench.verdict import convergence, paired

BOARD_KEYS = ("model", "kernel", "backend", "device")
ACC_COLUMN = "test acc (mean; 95% CI, or each seed under 3)"
VERDICT_COLUMN = "vs next"


@dataclass
class Board:
    records: list[dict[str, Any]]
    target: convergence.Target | None
    notes: list[str] = field(default_factory=list)


def accuracy_text(group: SeedGroup, values: Sequence[float]) -> str:
    """``0.855 [0.801, 0.909]`` from three seeds on (the interval clipped to [0, 1]); ``0.857, 0.554`` below."""
    interval = group.interval
    if interval.mean is None:
        return ""
    if interval.n < 3 or interval.low is None:
        return ", ".join(f"{v:.3f}" for v in values)
    return f"{interval.mean:.3f} [{max(0.0, interval.low):.3f}, {min(1.0, interval.high):.3f}]"


def _median(values: Iterable[Any]) -> float | None:
    values = [float(v) for v in values if not is_missing(v)]
    return statistics.median(values) if values else None


def build(rows: Iterable[Mapping[str, Any]], predictions: Mapping[str, Predictions] | None = None,
          epochs: Iterable[Mapping[str, Any]] = (), target_acc: float | None = None, rope: float = paired.ROPE,
          alpha: float = paired.ALPHA, replicates: int = paired.REPLICATES) -> Board:
    """The leaderboard of a run's typed rows (ok ones count), its predictions and its epochs."""
    predictions = predictions or {}
    ok = [r for r in rows if r.get("status") == "ok"]
    by_id = {r["cell_id"]: r for r in ok}
    groups = seed_groups(ok)
    best: dict[tuple, SeedGroup] = {}
    for g in groups:
        key = tuple(g.params.get(c) for c in BOARD_KEYS)
        if key not in best or (g.interval.mean, g.interval.n) > (best[key].interval.mean, best[key].interval.n):
            best[key] = g
    accuracy_rows = [by_id[c] for g in best.values() for c in g.cell_ids]
    target = convergence.target(accuracy_rows, target_acc)
    epochs_of: dict[str, list[Mapping[str, Any]]] = {}
    for e in epochs:
        epochs_of.setdefault(e["cell_id"], []).append(e)
    keyed: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in ok:
        keyed.setdefault(tuple(r.get(c) for c in BOARD_KEYS), []).append(r)
    entries = []
    for key, members in keyed.items():
        g = best.get(key)
        cells = [by_id[c] for c in g.cell_ids] if g else []
        record: dict[str, Any] = dict(zip(BOARD_KEYS, key, strict=True))
        record[ACC_COLUMN] = accuracy_text(g, [c["test_acc"] for c in sorted(cells, key=lambda c: c.get("seed") or 0)]) if g else None
        judged = [v for v in (convergence.converged(c) for c in cells) if v is not None]
        record["converged"] = f"{sum(judged)} of {len(judged)}" if judged else None
        if target is not None:
            times = [convergence.time_to_target(epochs_of.get(c["cell_id"], []), target.accuracy) for c in cells]
            reached = [t.seconds for t in times if t.seconds is not None]
            record[f"time to val acc {target.accuracy:.3f}"] = (
                (f"{statistics.median(reached):.0f} s ({len(reached)} of {len(times)})" if reached else f"not reached (0 of {len(times)})")
                if times else None)
        record[VERDICT_COLUMN] = None
        record.update({
            "ceiling": None if g is None else g.ceiling,
            "at maxlen": None if g is None else g.params.get("maxlen"),
            "train samples/s (median)": _median(r.get("train_samples_per_s") for r in members),
            "infer samples/s (median)": _median(r.get("infer_samples_per_s") for r in members),
            "params": members[0].get("params"),
            "efficiency % (median)": None if (e := _median(r.get("efficiency") for r in members)) is None else 100 * e,
        })
        entries.append((g, cells, record))
    entries.sort(key=lambda e: (-(e[0].interval.mean if e[0] and e[0].interval.mean is not None else -1.0),
                                -(e[2]["train samples/s (median)"] or 0.0)))
    notes = _next_verdicts(entries, predictions, rope, alpha, replicates)
    if target is not None:
        notes.append(f"target validation accuracy {target.accuracy:.3f}: {target.basis}; time is the fit's wall clock "
                     "(validation passes included) until the first epoch at or above it, median over the seeds that reached it")
    if any(record["converged"] is not None for _, _, record in entries):  # runs from before chance_acc have none
        notes.append(f"converged: the seed's best validation accuracy cleared chance by {convergence.CONVERGED_MARGIN:.2f}")
    return Board([record for _, _, record in entries], target, notes)


def _next_verdicts(entries, predictions, rope: float, alpha: float, replicates: int) -> list[str]:
    """Fill each record's verdict against the row ranked next, where both have predictions on one split."""
    plan = []
    for (g, cells, record), (g2, cells2, _) in zip(entries, entries[1:], strict=False):
        if not g or not g2:
            continue
        if not all(c["cell_id"] in predictions for c in (*cells, *cells2)):
            record[VERDICT_COLUMN] = "no predictions"
            continue
        if len({predictions[c["cell_id"]].test_fingerprint for c in (*cells, *cells2)}) > 1:
            record[VERDICT_COLUMN] = "other test examples"
            continue
        plan.append((record, paired.make_side(record["model"], cells, predictions), paired.make_side("next", cells2, predictions)))
    if not plan:
        return []
    confidence = 1 - alpha / len(plan)
    rng = np.random.default_rng(0)
    for record, a, b in plan:
        pair = paired.compare_pair({}, a, b, confidence, rope, replicates, rng)
        record[VERDICT_COLUMN] = f"{pair.verdict} ({pair.difference:+.3f} [{pair.low:+.3f}, {pair.high:+.3f}])"
    return [f"vs next: the paired comparison with the row below (difference in mean test accuracy with its "
            f"{confidence:.1%} bootstrap interval, Bonferroni over the {len(plan)} shown; equivalent within ±{rope})"]


def shown_columns(board: Board) -> list[str]:
    """The board's columns that hold a value in some row (a speed-only run has no accuracy columns)."""
    return [c for c in board.records[0] if any(r.get(c) is not None for r in board.records)] if board.records else []


def table(board: Board, fmt: str = "simple") -> str:
    """The board as a tabulate table with its notes under it (empty columns left out), for the terminal."""
    from rnnbench.reporting.text import column_display
    from tabulate import tabulate

    columns = shown_columns(board)
    shown = [column_display([r.get(c) for r in board.records]) for c in columns]
    body = [list(row) for row in zip(*shown, strict=True)]
    text = tabulate(body, headers=columns, tablefmt=fmt, disable_numparse=True)
    return "\n".join([text, *board.notes])


def markdown(board: Board) -> str:
    """The board as REPORT.md shows it: the same records, escaped, with its notes as a list under it."""
    import pandas as pd
    from rnnbench.reporting.document import markdown_table
    from rnnbench.reporting.text import md_text

    frame = pd.DataFrame(board.records)[shown_columns(board)]
    return "\n".join([markdown_table(frame), "", *(f"- {md_text(n)}" for n in board.notes)])


def terminal_text(rows: Iterable[Mapping[str, Any]], predictions: Mapping[str, Predictions], epochs: Iterable[Mapping[str, Any]]) -> str:
    """``leaderboard:`` and the board, for the end of ``rnnbench run`` and ``report``; empty when no cell
    finished ok with a test accuracy (a speed-only run's figures are in the cells table above it)."""
    rows = list(rows)
    if not any(r.get("status") == "ok" and not is_missing(r.get("test_acc")) for r in rows):
        return ""
    return f"leaderboard:\n{table(build(rows, predictions, epochs))}"
