"""Tables of stored cells (tabulate) for the terminal."""

from __future__ import annotations

from collections.abc import Iterable

from rnnbench.reporting.intervals import INTERVAL_NOTE, has_seeds, seed_groups, summary_records
from rnnbench.reporting.text import column_display, display
from rnnbench.storage.schema import HEADERS
from rnnbench.storage.store import Row
from tabulate import tabulate

#: The terminal table's columns, each shown by its declared header (bench/storage/schema.py).
_PARAMS = ("model", "kernel", "backend", "device", "jit_compile", "maxlen", "batch_size", "seed")
_FIGURES = ("train_samples_per_s", "train_samples_per_s_cv", "infer_samples_per_s", "params", "val_acc", "test_acc",
            "acc_ceiling", "wall_s")


def _cv_text(r: Row) -> str:
    """CV in percent, marked ``!`` when the cell is unstable."""
    cv = r.get("train_samples_per_s_cv")
    return ("" if cv is None else f"{cv * 100:.1f}") + ("!" if r.get("unstable") else "")


def _val_acc_text(r: Row) -> str:
    """The last epoch's validation accuracy, with the best epoch's beside it."""
    best = display(r.get("val_acc_best"))
    return f"{display(r.get('val_acc'))} ({best})" if best else ""


#: The figure columns shown with a mark or a companion; the others each in one number format per column.
_MARKED = {"train_samples_per_s_cv": _cv_text, "val_acc": _val_acc_text}


def cells_table(rows: Iterable[Row], fmt: str = "simple") -> str:
    """One line per cell: its parameters, status, speed, accuracy and its ceiling."""
    headers = [*(HEADERS[c] for c in _PARAMS), "status", *(HEADERS[c] for c in _FIGURES)]
    headers[headers.index(HEADERS["val_acc"])] = f"{HEADERS['val_acc']} (best)"
    rows = list(rows)
    plain = {c: column_display([r.get(c) for r in rows]) for c in _FIGURES if c not in _MARKED}
    body = []
    for i, r in enumerate(rows):
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {' '.join((r['error'] or '').splitlines())[:60]}"
        body.append([*(r[c] for c in _PARAMS), status, *(_MARKED[c](r) if c in _MARKED else plain[c][i] for c in _FIGURES)])
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


def cells_overview(rows: Iterable[Row], show_skipped: bool = False, fmt: str = "simple") -> str:
    """The cells that ran (ok and failed, one line each), then the skipped ones once per reason; every
    skipped cell on its own line with ``show_skipped``. A first run on a machine without a GPU skips most of
    the default grid, and a table that lists them first hides what ran."""
    from rnnbench.config.plan import group_skips

    rows = list(rows)
    ran = [r for r in rows if r["status"] != "skipped"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    if show_skipped or not skipped:
        return cells_table([*ran, *skipped], fmt)
    lines = [cells_table(ran, fmt)] if ran else []
    lines.append(f"\nskipped {len(skipped)} cells (each in cells.csv and REPORT.md, or with --show-skipped):")
    lines.extend(f"  {g.line()}" for g in group_skips((r["cell_id"], r["model"], r["error"]) for r in skipped))
    return "\n".join(lines)


def accuracy_summary(rows: Iterable[Row], fmt: str = "simple") -> str:
    """Test accuracy per parameter set over its seeds: mean, 95% t-interval and number of seeds, beside the
    ceiling (bench/reporting/intervals.py, the same figures as REPORT.md). Empty when no parameter set has two or
    more seeds with an accuracy: with one seed there is no interval to show."""
    groups = seed_groups(rows)
    if not has_seeds(groups):
        return ""
    records = summary_records(groups)
    for record in records:
        if record.get("ceiling") is not None:
            record["ceiling"] = f"{record['ceiling']:.3f}"
    table = tabulate(records, headers="keys", tablefmt=fmt, disable_numparse=True)
    return f"test accuracy over seeds:\n{table}\n{INTERVAL_NOTE}"
