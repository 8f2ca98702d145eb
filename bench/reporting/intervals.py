"""Test accuracy over seeds: the mean, a 95% Student t-interval and the number of seeds per parameter set.

A sweep with several seeds for the same parameters measures the same configuration more than once; the
spread between seeds is what any difference between two models' accuracies has to exceed (on a small
real set SimpleRNN's test accuracy moved 0.70 -> 0.53 between two seeds, LSTM's by 0.005).

The interval is ``mean ± t(0.975, n-1) * s / sqrt(n)`` with ``s`` the sample standard deviation
(ddof=1): a t-interval, not a bootstrap, because a sweep has few seeds (2 to 5) and a bootstrap over
that few values says little. With fewer than two seeds there is no interval (None), never a zero width.

Rows are dicts of typed values (a run's rows from ``load_run``, or a typed frame's records). Only ``ok`` rows
with a finite test accuracy count; a failed or speed-only cell contributes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rnnbench.storage.schema import HEADERS

#: What makes two cells the same configuration apart from their seed (cell_id and the measured columns
#: aside): a cell's identity settings less ``seed`` and ``speed_target_s``, which only sets how long speed
#: is timed, on a model instance of its own (bench/cell/runner.py), so it cannot change an accuracy. Columns a
#: run's rows do not have are left out of the key.
GROUP_COLUMNS = ("model", "kernel", "units", "backend", "device", "jit_compile", "maxlen", "batch_size", "epochs", "dataset",
                 "train_samples", "test_samples")
CONFIDENCE = 0.95
#: Column header for an accuracy with its interval, the same in REPORT.md, index.html and the terminal.
ACC_HEADER = "test acc (mean ± 95% CI)"
#: Why a "±" can be missing, and what it is: one line under every table that shows one.
INTERVAL_NOTE = ("± is the half-width of the 95% Student t-interval over seeds (n-1 degrees of freedom, standard error = "
                 "sample standard deviation / sqrt(n)); a parameter set with fewer than 2 seeds has no interval.")


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values and its t-interval; ``low`` and ``high`` are None when ``n < 2``."""

    mean: float | None
    low: float | None
    high: float | None
    n: int

    @property
    def half_width(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2


def is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA alike (a typed frame's records carry any of the three)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN is the one value not equal to itself
    except TypeError:  # pandas.NA refuses a truth value
        return True


def t_interval(values: Iterable[Any], confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student t-interval of ``values`` (NaN and None not counted).

    ``n < 2``: no interval (low and high None); ``n = 0``: no mean either. Zero spread gives the
    zero-width interval ``[mean, mean]`` (scipy returns NaN for a zero scale; the limit is the mean).
    """
    from scipy import stats

    xs = [float(v) for v in values if not is_missing(v)]
    n = len(xs)
    if n == 0:
        return Interval(None, None, None, 0)
    mean = math.fsum(xs) / n
    if n < 2:
        return Interval(mean, None, None, n)
    sem = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) / math.sqrt(n)
    if sem == 0:
        return Interval(mean, mean, mean, n)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    return Interval(mean, float(low), float(high), n)


def format_interval(interval: Interval, digits: int = 3) -> str:
    """``0.712 ± 0.031``; the mean alone with one seed; empty with none."""
    if interval.mean is None:
        return ""
    if interval.half_width is None:
        return f"{interval.mean:.{digits}f}"
    return f"{interval.mean:.{digits}f} ± {interval.half_width:.{digits}f}"


@dataclass(frozen=True)
class SeedGroup:
    """The ok cells of one parameter set (``params``, in GROUP_COLUMNS order) over its seeds."""

    params: dict[str, Any]
    interval: Interval
    seeds: tuple = ()
    ceiling: float | None = None  # mean acc_ceiling of the group's cells, when stored
    cell_ids: tuple = field(default=(), compare=False)


def plain_key(value: Any) -> Any:
    """A key value that compares and hashes alike whatever its source (numpy scalar, NA, NaN)."""
    if is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value


def seed_groups(rows: Iterable[Mapping[str, Any]]) -> list[SeedGroup]:
    """The ok rows with a test accuracy, grouped by GROUP_COLUMNS (those present), one interval per group.

    A seed that appears in more than one cell of a group (cells that differ only in a setting outside the
    key, such as the speed target) counts once, with the mean of its cells: n is the number of seeds.
    Groups keep the order in which their first row came.
    """
    rows = [r for r in rows if r.get("status", "ok") == "ok" and not is_missing(r.get("test_acc"))]
    keys = [c for c in GROUP_COLUMNS if any(c in r for r in rows)]
    by_key: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_key.setdefault(tuple(plain_key(r.get(c)) for c in keys), []).append(r)
    groups = []
    for key, members in by_key.items():
        per_seed: dict[Any, list[float]] = {}
        for i, r in enumerate(members):
            seed = plain_key(r.get("seed"))
            # A row without a seed is its own replicate, never merged with another.
            per_seed.setdefault(("row", i) if seed is None else seed, []).append(float(r["test_acc"]))
        ceilings = [float(r["acc_ceiling"]) for r in members if not is_missing(r.get("acc_ceiling"))]
        groups.append(SeedGroup(
            params=dict(zip(keys, key, strict=True)),
            interval=t_interval(math.fsum(v) / len(v) for v in per_seed.values()),
            seeds=tuple(s for s in per_seed if not isinstance(s, tuple)),
            ceiling=math.fsum(ceilings) / len(ceilings) if ceilings else None,
            cell_ids=tuple(r.get("cell_id") for r in members),
        ))
    return groups


def has_seeds(groups: Iterable[SeedGroup]) -> bool:
    """Whether any group has an interval (two or more seeds)."""
    return any(g.interval.n >= 2 for g in groups)


def varying(groups: list[SeedGroup], exclude: Iterable[str] = ()) -> list[str]:
    """Parameter columns that differ between groups (the others say nothing in a table or a label)."""
    skip = set(exclude)
    keys = [c for c in GROUP_COLUMNS if any(c in g.params for g in groups) and c not in skip]
    return [c for c in keys if len({g.params.get(c) for g in groups}) > 1]


def label(params: Mapping[str, Any], columns: Iterable[str]) -> str:
    """``maxlen 100, batch 64, XLA off``: a parameter set in words, for chart labels."""
    parts = []
    for c in columns:
        v = params.get(c)
        if c == "jit_compile":
            parts.append(f"XLA {'on' if v else 'off'}")
        elif c in ("model", "kernel", "backend", "device", "dataset"):
            parts.append(str(v))
        else:
            parts.append(f"{HEADERS.get(c, c)} {'-' if v is None else v}")
    return ", ".join(parts)


def summary_records(groups: list[SeedGroup]) -> list[dict[str, Any]]:
    """One record per group for a table: model, the parameters that vary, the accuracy with its interval,
    the number of seeds and the ceiling (when any cell stored one). Sorted so that the models of one
    setting are adjacent, best first."""
    columns = ["model", *varying(groups, exclude=("model",))]
    ceiling = any(g.ceiling is not None for g in groups)

    def order(g: SeedGroup):
        # (0, value) before (1, 0): a missing value sorts last, and values of one column compare as their type.
        setting = tuple((1, 0) if g.params.get(c) is None else (0, g.params.get(c)) for c in columns[1:])
        return (*setting, -(g.interval.mean or 0.0), str(g.params.get("model")))

    records = []
    for g in sorted(groups, key=order):
        record = {HEADERS.get(c, c): g.params.get(c) for c in columns}
        if "XLA" in record:  # on/off, as the report's other tables and charts say it
            record["XLA"] = {True: "on", False: "off"}.get(record["XLA"], record["XLA"])
        record[ACC_HEADER] = format_interval(g.interval)
        record["seeds"] = g.interval.n
        if ceiling:
            record["ceiling"] = g.ceiling
        records.append(record)
    return records
