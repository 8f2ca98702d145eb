"""Tables of stored cells (tabulate) for the terminal, and the escaping every Markdown table of data needs."""

from __future__ import annotations

from collections.abc import Iterable

from rnnbench.intervals import INTERVAL_NOTE, has_seeds, seed_groups, summary_records
from rnnbench.store import typed
from tabulate import tabulate


def md_text(value: object) -> str:
    """Text from data, safe in Markdown and in the HTML rendered from it: ``&``, ``<`` and ``>`` become
    entities (no tag from a host name or an error message can reach a browser), and ``|`` and line breaks,
    which would split a table's columns and rows and hide the end of an error, are escaped or flattened;
    so are ``[`` and ``]``, so no link or image syntax survives."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Brackets escaped too: a link or image written into an error message stays text (the page opens offline).
    text = text.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
    return " ".join(text.splitlines())


def _num(text: str, digits: int) -> str:
    if text in ("", None):
        return ""
    try:
        return f"{float(text):,.{digits}f}"
    except ValueError:
        return text


def cells_table(rows: Iterable[dict[str, str]], fmt: str = "simple") -> str:
    """One line per cell: parameters that vary, status, speed, accuracy and its ceiling."""
    rows = list(rows)
    headers = ["model", "kernel", "backend", "device", "jit", "maxlen", "batch", "seed", "status",
               "train samples/s", "cv %", "infer samples/s", "params", "val acc (best)", "test acc",
               "ceiling", "wall s"]
    body = []
    for r in rows:
        cv = f"{float(r['train_samples_per_s_cv']) * 100:.1f}" if r.get("train_samples_per_s_cv") else ""
        if r.get("unstable") == "True":
            cv += "!"
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {' '.join(r['error'].splitlines())[:60]}"
        best = _num(r.get("val_acc_best", ""), 3)
        body.append([
            r["model"], r["kernel"], r["backend"], r["device"], r["jit_compile"], r["maxlen"], r["batch_size"],
            r["seed"], status, _num(r.get("train_samples_per_s", ""), 0), cv, _num(r.get("infer_samples_per_s", ""), 0),
            _num(r.get("params", ""), 0), f"{_num(r.get('val_acc', ''), 3)} ({best})" if best else "",
            _num(r.get("test_acc", ""), 3), _num(r.get("acc_ceiling", ""), 3), _num(r.get("wall_s", ""), 0),
        ])
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


def accuracy_summary(rows: Iterable[dict[str, str]], fmt: str = "simple") -> str:
    """Test accuracy per parameter set over its seeds: mean, 95% t-interval and number of seeds, beside the
    ceiling (bench/intervals.py, the same figures as REPORT.md). Empty when no parameter set has two or
    more seeds with an accuracy: with one seed there is no interval to show."""
    groups = seed_groups(typed(r, f"cells.csv, cell {r.get('cell_id')!r}") for r in rows)
    if not has_seeds(groups):
        return ""
    records = summary_records(groups)
    for record in records:
        if record.get("ceiling") is not None:
            record["ceiling"] = f"{record['ceiling']:.3f}"
    table = tabulate(records, headers="keys", tablefmt=fmt, disable_numparse=True)
    return f"test accuracy over seeds:\n{table}\n{INTERVAL_NOTE}"
