"""Terminal tables of stored cells (tabulate), shared by ``run`` and ``report``."""

from __future__ import annotations

from collections.abc import Iterable

from tabulate import tabulate


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
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['error'][:60]}"
        best = _num(r.get("val_acc_best", ""), 3)
        body.append([
            r["model"], r["kernel"], r["backend"], r["device"], r["jit_compile"], r["maxlen"], r["batch_size"],
            r["seed"], status, _num(r.get("train_samples_per_s", ""), 0), cv, _num(r.get("infer_samples_per_s", ""), 0),
            _num(r.get("params", ""), 0), f"{_num(r.get('val_acc', ''), 3)} ({best})" if best else "",
            _num(r.get("test_acc", ""), 3), _num(r.get("acc_ceiling", ""), 3), _num(r.get("wall_s", ""), 0),
        ])
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)
