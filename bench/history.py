"""``rnnbench history RUN_DIR...``: the same cells over many runs (commits, machines), and the gate's history folder.

The runs are put in order by the time of the commit each was measured at, as ``git show -s --format=%cI``
tells it in the repository the command runs in; a run whose commit git does not know (another clone, a
rebased branch, no git) is placed by its start time instead, and the table says which time placed it.
Cells are matched by ``cell_id`` (the hash of their parameters, the same on every machine).

Written to ``--out`` (default ``./history``):

* ``history.csv``: long form, one row per run and cell, in run order: the parameters that vary between
  cells, commit, time, machine (host and CPU model), status, training throughput (the stored median of
  the repeats) with its spread recomputed from the raw step times (quartiles, range and CV of the
  per-repeat samples/s), test accuracy, and the verdict against the previous run of the same cell on
  the same machine.
* ``trend.png`` (training throughput over runs; one panel per cell, or per model when the cells are
  many) and ``accuracy.png`` (test accuracy over runs, when two or more runs have one).
* ``HISTORY.md`` and one offline ``index.html`` with the charts embedded (bench/report.py's page).

A point is marked a regression by bench/compare.py's own rule and code (``compare_runs`` on the two
runs, that cell alone, speed only): slower than the previous run of the cell on the same machine by
more than ``max_slowdown`` *and* significantly by the one-sided Mann-Whitney U test on the raw steps.
No other statistic is computed here.

:func:`record_entry` copies a run directory into a history folder as a new entry
(``DIR/<UTC start>-<short commit>/``); ``rnnbench gate --history DIR`` calls it after the gate.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rnnbench import ownership, report
from rnnbench.compare import compare_runs
from rnnbench.errors import BadInput
from rnnbench.intervals import is_missing, label
from rnnbench.result import coefficient_of_variation
from rnnbench.schema import PARAM_COLUMNS
from rnnbench.store import CELLS, EPOCHS, RUN_JSON, STEPS, Run, atomic_write_text, format_value, load_run, typed
from rnnbench.table import md_text
from rnnbench.thresholds import ALPHA, MAX_SLOWDOWN, check_thresholds

DEFAULT_OUT = "history"
#: compare's own default threshold (``rnnbench compare``), read from its signature: one number, one place.
#: Up to this many cells the trend chart has a panel per cell; beyond it, one panel per model.
MAX_CELL_PANELS = 12
#: The cell's parameters (its cell_id is their hash); ``arch`` follows from the model and is left out.
CELL_PARAMS = tuple(c for c in PARAM_COLUMNS if c not in ("cell_id", "arch")) + ("speed_target_s", "units")
_HEX = re.compile(r"[0-9a-fA-F]{7,40}")
_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)
SPREAD = ("train_samples_per_s_q1", "train_samples_per_s_q3", "train_samples_per_s_min", "train_samples_per_s_max")


@dataclass
class Entry:
    """One run of the history, with the time that places it."""

    run: Run
    commit: str  # as run.json records it ("" when none); may end in "+dirty"
    time: dt.datetime | None
    time_source: str  # "commit" (git's committer time), "start" (the run's start time), "" (neither known)
    started: dt.datetime | None
    index: int  # position among the arguments: the last tie-break


@dataclass
class History:
    out: Path
    entries: list[Entry]
    frame: pd.DataFrame
    varying: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> pd.DataFrame:
        return self.frame[self.frame.vs_previous == "regression"]


def _parse_time(text) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def commit_time(commit: str, repo: str | Path | None = None) -> dt.datetime | None:
    """The committer time of ``commit`` (``+dirty`` ignored) in the git repository at ``repo`` (default: the
    current directory); None when it is not a commit id, git is missing, or the repository lacks it."""
    sha = commit.removesuffix("+dirty")
    if not _HEX.fullmatch(sha):  # never hand git an option or a revision expression from a file
        return None
    try:
        out = subprocess.run(["git", "show", "-s", "--format=%cI", f"{sha}^{{commit}}", "--"], cwd=repo, capture_output=True, text=True,
                             timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return _parse_time(out.stdout.strip().splitlines()[0]) if out.returncode == 0 and out.stdout.strip() else None


def run_dirs(paths) -> list[Path]:
    """The run directories named: a directory that is no run but holds run directories (a ``gate --history``
    folder) stands for them; a path given twice is bad input."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir() and not (p / CELLS).exists():
            inner = sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".") and (c / CELLS).is_file())
            if inner:
                found.extend(inner)
                continue
        found.append(p)  # a run, or not: load_run says which in one line
    seen: dict[Path, Path] = {}
    for p in found:
        key = p.resolve()
        if key in seen:
            raise BadInput(f"{str(p)!r} is given twice (also as {str(seen[key])!r}): each run is one point of the history")
        seen[key] = p
    return found


def load_entries(paths, repo: str | Path | None = None) -> list[Entry]:
    """The runs, read by load_run, in history order: commit time where git knows the commit, else the
    run's start time; then start time, then the order given."""
    entries, times = [], {}
    for i, path in enumerate(run_dirs(paths)):
        run = load_run(path)
        env = run.meta.get("environment") or {}
        commit = str(env.get("git_commit") or "")
        if commit not in times:
            times[commit] = commit_time(commit, repo) if commit else None
        started = _parse_time(run.meta.get("first_started_at")) or _parse_time(env.get("started_at"))
        when, source = (times[commit], "commit") if times[commit] else (started, "start" if started else "")
        entries.append(Entry(run, commit, when, source, started, i))
    entries.sort(key=lambda e: (e.time is None, e.time or _NEVER, e.started or _NEVER, e.index))
    return entries


def machine(row: dict, env: dict) -> str:
    """Host and CPU model: the row's own where it records them (a resumed run may span machines), else run.json's."""
    host = row.get("host") or env.get("host") or "?"
    cpu = row.get("cpu_model") or (env.get("cpu") or {}).get("model") or "?"
    return f"{host} ({cpu})"


def repeat_throughputs(run: Run, cell_id: str, batch_size: int | None) -> np.ndarray:
    """Samples/s of each timed repeat, from the raw steps (as bench/measure.py computes them: the
    repeat's samples over its wall, the sum of its steps' cycles); empty without raw steps."""
    steps, repeats = run.steps.get(cell_id), run.step_repeats.get(cell_id)
    if steps is None or repeats is None or not batch_size or len(repeats) != len(steps) or any(r is None for r in repeats):
        return np.array([])
    repeats = repeats.astype(int)
    return np.array([np.sum(repeats == r) * batch_size / steps[repeats == r].sum() for r in np.unique(repeats)])


def _short(commit: str) -> str:
    return (commit[:7] + ("*" if commit.endswith("+dirty") else "")) if commit else ""


def _speed_verdict(prev: Run, new: Run, cell_id: str, max_slowdown: float, alpha: float) -> dict:
    """compare's verdict on one cell's speed between two runs (its threshold, its test, its notes)."""
    try:
        result = compare_runs(prev, new, max_slowdown=max_slowdown, alpha=alpha, only={cell_id}, checks=("speed",))
    except BadInput as exc:
        return {"vs_previous": "", "note": f"not compared: {exc}"}
    finding = next((f for f in result.findings if f.check == "speed"), None)
    if finding is None:
        return {}
    return {"vs_previous": finding.verdict, "change": finding.change, "p_value": finding.p_value, "note": finding.note}


def table(entries: list[Entry], max_slowdown: float = MAX_SLOWDOWN, alpha: float = ALPHA) -> tuple[pd.DataFrame, list[str]]:
    """The long-form history (one row per run and cell, in run order) and the parameters that vary."""
    rows = []
    last: dict[tuple[str, str], tuple[int, Entry]] = {}  # (cell, machine) -> its previous ok run
    for order, e in enumerate(entries, start=1):
        env = e.run.meta.get("environment") or {}
        for cid, stored in e.run.cells.items():
            cell = typed(stored, f"{e.run.path / CELLS}, cell {cid!r}")
            where = machine(cell, env)
            row = {"cell_id": cid, **{c: cell.get(c) for c in CELL_PARAMS}, "run": order, "run_dir": e.run.path.name,
                   "commit": cell.get("git_commit") or e.commit, "time": e.time.isoformat() if e.time else "",
                   "time_source": e.time_source, "machine": where, "status": cell["status"],
                   "train_samples_per_s": cell.get("train_samples_per_s") if cell["status"] == "ok" else None,
                   "test_acc": cell.get("test_acc") if cell["status"] == "ok" else None,
                   "error": " ".join(str(cell.get("error") or "").splitlines())}
            if cell["status"] == "ok":
                per = repeat_throughputs(e.run, cid, cell.get("batch_size"))
                if len(per):
                    row.update(dict(zip(SPREAD, (*np.percentile(per, [25, 75]), per.min(), per.max()), strict=True)))
                    row.update(repeats=len(per), train_samples_per_s_cv=coefficient_of_variation(per))
                previous = last.get((cid, where))
                if previous is not None:
                    row.update(previous_run=previous[0], **_speed_verdict(previous[1].run, e.run, cid, max_slowdown, alpha))
                last[(cid, where)] = (order, e)
            rows.append(row)
    columns = ["cell_id", *CELL_PARAMS, "run", "run_dir", "commit", "time", "time_source", "machine", "status",
               "train_samples_per_s", *SPREAD, "repeats", "train_samples_per_s_cv", "test_acc", "vs_previous", "change",
               "p_value", "previous_run", "note", "error"]
    frame = pd.DataFrame(rows, columns=columns)
    # One set of parameters per cell, whatever run it comes from: a file older than a column (units, say)
    # leaves it empty where a newer one writes the value that the cell's id stands for.
    params = frame.groupby("cell_id", sort=False)[list(CELL_PARAMS)].first().astype(object)
    params = params.map(lambda v: int(v) if isinstance(v, float) and v.is_integer() else None if is_missing(v) else v)
    for c in CELL_PARAMS:
        frame[c] = frame.cell_id.map(params[c])
    varying = ["model", *(c for c in CELL_PARAMS[1:] if params[c].astype(str).nunique() > 1)]
    labels = {cid: label(r, varying) for cid, r in params[varying].to_dict("index").items()}
    frame["label"] = frame.cell_id.map(labels)
    # Run order, then the cells in one fixed order (by their label) inside each run.
    frame = frame.sort_values(["run", "label", "cell_id"], kind="stable").reset_index(drop=True)
    frame = frame.drop(columns=[c for c in CELL_PARAMS if c not in varying])
    for column in ("vs_previous", "change", "note"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "")
    return frame, varying


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = [c for c in frame.columns if c != "label"]
    writer.writerow(columns)
    for record in frame[columns].to_dict("records"):
        writer.writerow([format_value(None if is_missing(v) else v.item() if isinstance(v, np.generic) else v)
                         for v in record.values()])
    atomic_write_text(path, buf.getvalue())


# --- charts ---------------------------------------------------------------------------------------

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def _machine_styles(frame: pd.DataFrame) -> dict[str, tuple]:
    """A colour and a marker per machine, in order of first appearance."""
    import seaborn as sns

    names = list(dict.fromkeys(frame.machine))
    colours = sns.color_palette("colorblind", n_colors=max(3, len(names)))
    return {m: (colours[i % len(colours)], MARKERS[i % len(MARKERS)]) for i, m in enumerate(names)}


def _run_ticks(ax, entries: list[Entry]) -> None:
    """x = run order, labelled by short commit (a * marks uncommitted changes) and date; thinned when many."""
    n = len(entries)
    every = max(1, -(-n // 14))
    ticks = list(range(1, n + 1, every))
    labels = []
    for i in ticks:
        e = entries[i - 1]
        name = _short(e.commit) or e.run.path.name[:10]
        labels.append(report.chart_text(f"{name}\n{e.time:%m-%d}" if e.time else name))
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_xlim(0.5, n + 0.5)


def _bottom_marks(ax, frame: pd.DataFrame) -> None:
    """Failed (red x) and skipped (grey x) cells at the panel's foot: they have no figure to plot."""
    from matplotlib.transforms import blended_transform_factory

    foot = blended_transform_factory(ax.transData, ax.transAxes)
    for status, colour in (("failed", "tab:red"), ("skipped", "0.55")):
        bad = frame[frame.status == status].drop_duplicates("run")
        if len(bad):
            ax.scatter(bad.run, [0.05] * len(bad), transform=foot, marker="x", s=45, color=colour, lw=2, zorder=6,
                       clip_on=False)
            for run in bad.run:
                ax.annotate(status, (run, 0.05), xycoords=foot, xytext=(0, 7), textcoords="offset points", ha="center",
                            fontsize=7, color=colour)


def _plot_series(ax, g: pd.DataFrame, colour, marker, scale: float = 1.0, bands: bool = True, lw: float = 1.6) -> None:
    ok = g[(g.status == "ok") & g.train_samples_per_s.notna()]
    if ok.empty:
        return
    y = ok.train_samples_per_s / scale
    if bands:
        ax.fill_between(ok.run, ok.train_samples_per_s_q1 / scale, ok.train_samples_per_s_q3 / scale, color=colour,
                        alpha=0.22, lw=0)
        ax.vlines(ok.run, ok.train_samples_per_s_min / scale, ok.train_samples_per_s_max / scale, color=colour, lw=0.9,
                  alpha=0.7)
    ax.plot(ok.run, y, color=colour, marker=marker, lw=lw, ms=5)
    reg = ok[ok.vs_previous == "regression"]
    if len(reg):
        ax.scatter(reg.run, reg.train_samples_per_s / scale, s=170, facecolors="none", edgecolors="tab:red", lw=2, zorder=7)
        for r in reg.itertuples():
            ax.annotate(r.change, (r.run, r.train_samples_per_s / scale), xytext=(7, -13), textcoords="offset points",
                        color="tab:red", fontsize=8, fontweight="bold")


def _legend(fig, styles: dict[str, tuple], frame: pd.DataFrame, bands: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=c, marker=m, lw=1.6, label=report.chart_text(name)) for name, (c, m) in styles.items()]
    if bands:
        handles += [Patch(color="0.5", alpha=0.3, label="middle half of the repeats (IQR)"),
                    Line2D([], [], color="0.5", lw=0.9, label="slowest to fastest repeat")]
    if (frame.vs_previous == "regression").any():
        handles.append(Line2D([], [], ls="none", marker="o", ms=11, mfc="none", mec="tab:red", mew=2,
                              label="regression vs the previous run on that machine"))
    for status, colour in (("failed", "tab:red"), ("skipped", "0.55")):
        if (frame.status == status).any():
            handles.append(Line2D([], [], ls="none", marker="x", ms=7, mew=2, color=colour, label=f"cell {status} (no figure)"))
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=False, fontsize=8,
               title="machine (host, CPU)", title_fontsize=8, alignment="left")


def _grid(n: int, width: float = 4.4, height: float = 3.0):
    import matplotlib.pyplot as plt

    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows + 0.5), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def chart_trend(frame: pd.DataFrame, entries: list[Entry], out: Path, max_slowdown: float, alpha: float) -> str | None:
    """Training throughput over runs: a panel per cell (per model when the cells are many), a line and marker
    per machine, the spread of the repeats around each point, failed cells and regressions marked."""
    if not (frame.status == "ok").any() or frame.train_samples_per_s.notna().sum() == 0:
        return None
    styles = _machine_styles(frame)
    per_cell = frame.cell_id.nunique() <= MAX_CELL_PANELS
    groups = list(frame.groupby("label" if per_cell else "model", sort=True))
    fig, axes = _grid(len(groups))
    for ax, (name, g) in zip(axes.flat, groups, strict=False):
        if per_cell:
            for m, mg in g.groupby("machine", sort=False):
                _plot_series(ax, mg, *styles[m])
            ax.set_ylim(bottom=0)
            title = name
        else:
            # Many cells: each as a thin line relative to its own first figure on that machine, so cells of
            # any speed share one axis; 1.0 is where the cell started.
            for (_, m), cg in g.groupby(["cell_id", "machine"], sort=False):
                first = cg[cg.status == "ok"].train_samples_per_s.dropna()
                if len(first):
                    _plot_series(ax, cg, styles[m][0], styles[m][1], scale=float(first.iloc[0]), bands=False, lw=0.9)
            ax.axhline(1.0, color="0.6", lw=0.8, ls="--")
            low, high = ax.get_ylim()
            ax.set_ylim(min(0.85, low - 0.03), max(1.15, high + 0.03))  # flat lines stay flat, not magnified noise
            n = g.cell_id.nunique()
            title = f"{name} ({n} cell{'s' if n != 1 else ''})"
        _bottom_marks(ax, g)
        _run_ticks(ax, entries)
        ax.set_title(report.chart_text(str(title)), fontsize=9)
        ax.yaxis.set_major_formatter(report.plain_number if per_cell else (lambda v, _p: f"{v:.2f}"))
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", color="0.92")
    for ax in axes[:, 0]:
        ax.set_ylabel("train samples/s (median of repeats)" if per_cell else
                      "train samples/s, relative to\nthe cell's first run on that machine", fontsize=8)
    how = (f"red ring: slower than the previous run of the cell on the same machine by more than {max_slowdown:.0%} "
           f"and significantly (Mann-Whitney U, p < {alpha:g})")
    what = "" if per_cell else "; one line per cell, relative to its first run on the machine (too many cells for a panel each)"
    fig.suptitle(f"Training throughput over runs (x: runs in commit order, short commit and date{what})\n{how}", fontsize=10,
                 y=1.0)
    _legend(fig, styles, frame, bands=per_cell)
    fig.tight_layout()
    return report.save_chart(fig, out / "trend.png")


def chart_accuracy(frame: pd.DataFrame, entries: list[Entry], out: Path) -> str | None:
    """Test accuracy over runs, one line per cell and machine (colour: model, marker: machine)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    acc = frame[frame.test_acc.notna()]
    if acc.run.nunique() < 2:
        return None
    colours = report.palette(list(dict.fromkeys(frame.model)))
    markers = {m: s[1] for m, s in _machine_styles(frame).items()}
    fig, ax = plt.subplots(figsize=(8, 4.2))
    styles = ("-", "--", ":", "-.")
    cells = sorted(acc.groupby("label"), key=lambda kv: kv[0])
    named = len(cells) <= 10  # a legend entry per cell; beyond that, per model
    handles = []
    for i, (name, g) in enumerate(cells):
        colour, ls = colours[g.model.iloc[0]], styles[i % len(styles)] if named else "-"
        for m, mg in g.groupby("machine", sort=False):
            ax.plot(mg.run, mg.test_acc, color=colour, marker=markers[m], ls=ls, lw=1.4 if named else 0.8, ms=5)
        if named:
            handles.append(Line2D([], [], color=colour, ls=ls, label=report.chart_text(name)))
    if not named:
        handles = [Line2D([], [], color=colours[m], label=report.chart_text(m)) for m in dict.fromkeys(acc.model)]
    handles += [Line2D([], [], color="0.3", marker=mk, ls="none", label=report.chart_text(m)) for m, mk in markers.items()]
    _run_ticks(ax, entries)
    ax.set(ylabel="test accuracy", title="Test accuracy over runs (colour: model; marker: machine)")
    ax.title.set_fontsize(10)
    ax.grid(axis="y", color="0.92")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    return report.save_chart(fig, out / "accuracy.png")


# --- tables and assembly --------------------------------------------------------------------------

def _runs_table(entries: list[Entry], frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for order, e in enumerate(entries, start=1):
        g = frame[frame.run == order]
        counts = g.status.value_counts()
        rows.append({"run": order, "commit": _short(e.commit) or "?", "time": f"{e.time:%Y-%m-%d %H:%M}" if e.time else "?",
                     "placed by": {"commit": "commit time", "start": "start time"}.get(e.time_source, "argument order"),
                     "machine": ", ".join(dict.fromkeys(g.machine)), "directory": str(e.run.path),
                     "cells": f"{counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, {counts.get('skipped', 0)} skipped"})
    return pd.DataFrame(rows)


def _changes_table(frame: pd.DataFrame) -> pd.DataFrame:
    changed = frame[frame.vs_previous.isin(["regression", "improvement"])]
    rows = []
    for r in changed.itertuples():
        before = frame[(frame.run == r.previous_run) & (frame.cell_id == r.cell_id)].iloc[0]
        rows.append({"verdict": r.vs_previous, "run": r.run, "commit": _short(r.commit), "cell": r.label, "machine": r.machine,
                     "previous run": f"{int(r.previous_run)} ({_short(before.commit)})",
                     "before (samples/s)": before.train_samples_per_s, "now (samples/s)": r.train_samples_per_s,
                     "change": r.change, "p": "" if is_missing(r.p_value) else f"{r.p_value:.2g}", "note": r.note})
    return pd.DataFrame(rows)


def _cells_table(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (name, where), g in frame.groupby(["label", "machine"], sort=True):
        ok = g[(g.status == "ok") & g.train_samples_per_s.notna()]
        first = ok.iloc[0] if len(ok) else None
        latest = g.iloc[-1]
        rows.append({"cell": name, "machine": where, "runs": len(g), "ok": len(ok),
                     "first (samples/s)": None if first is None else first.train_samples_per_s,
                     "latest ok (samples/s)": None if first is None else ok.iloc[-1].train_samples_per_s,
                     "change": "" if first is None else f"{ok.iloc[-1].train_samples_per_s / first.train_samples_per_s - 1:+.1%}",
                     "regressions": int((g.vs_previous == "regression").sum()),
                     "latest test acc": None if first is None else ok.iloc[-1].test_acc,
                     "latest status": latest.status})
    return pd.DataFrame(rows)


def _bad_table(frame: pd.DataFrame) -> pd.DataFrame:
    bad = frame[frame.status != "ok"]
    return pd.DataFrame({"run": bad.run, "commit": bad.commit.map(_short), "cell": bad.label, "machine": bad.machine,
                         "status": bad.status, "error": bad.error.str.slice(0, 140)})


def build(paths, out_dir: str | Path = DEFAULT_OUT, max_slowdown: float = MAX_SLOWDOWN, alpha: float = ALPHA,
          repo: str | Path | None = None) -> History:
    """Write the history of the runs at ``paths`` into ``out_dir`` and return what was found."""
    import matplotlib

    matplotlib.use("Agg")
    check_thresholds(max_slowdown, 0.0, alpha)
    entries = load_entries(paths, repo)
    frame, varying = table(entries, max_slowdown, alpha)
    out = Path(out_dir)
    # Never into one of the runs read, nor into a folder of the user's (bench/ownership.py).
    ownership.claim(out, "history report", inputs=[e.run.path for e in entries])
    notes = []
    if len(entries) < 2:
        notes.append("one run only: each cell is a single point, with nothing before it to compare with; "
                     "give two or more runs for a trend")
    by_start = [e.run.path.name for e in entries if e.time_source != "commit"]
    if by_start:
        more = f" and {len(by_start) - 5} more" if len(by_start) > 5 else ""
        notes.append(f"{len(by_start)} of {len(entries)} run(s) placed by their start time, as git here does not know "
                     f"their commit: {', '.join(by_start[:5])}{more}")
    write_csv(frame, out / "history.csv")

    doc = report.Report(f"rnnbench history: {len(entries)} run(s), {frame.cell_id.nunique()} cell(s)")
    order = ("Runs in order of their commit's time (git, in the repository this ran in), else of their start time. "
             "Cells are matched by cell_id; a machine is its host and CPU model.")
    doc.sections.append(report.Section("Runs", "\n\n".join([order, *(f"_Note: {md_text(n)}._" for n in notes),
                                                            report.markdown_table(_runs_table(entries, frame))])))
    trend = chart_trend(frame, entries, out, max_slowdown, alpha)
    doc.sections.append(report.Section("Chart: Training throughput over runs", image=trend) if trend else
                        report.Section("Chart: Training throughput over runs", note="no cell finished ok in any run"))
    accuracy = chart_accuracy(frame, entries, out)
    doc.sections.append(report.Section("Chart: Test accuracy over runs", image=accuracy) if accuracy else
                        report.Section("Chart: Test accuracy over runs", note="fewer than two runs with a test accuracy"))
    rule = (f"Each ok point against the previous ok run of the same cell on the same machine, by rnnbench compare's rule: "
            f"a change beyond {max_slowdown:.0%} that the one-sided Mann-Whitney U test on the raw step times finds "
            f"significant (p < {alpha:g}).")
    changes = _changes_table(frame)
    doc.sections.append(report.Section("Speed changes between consecutive runs",
                                       rule + ("\n\n" + report.markdown_table(changes) if len(changes) else
                                                        "\n\n_None: no point crossed the threshold significantly._")))
    doc.sections.append(report.Section("Cells: first and latest run", report.markdown_table(_cells_table(frame))))
    bad = _bad_table(frame)
    doc.sections.append(report.Section("Skipped and failed cells", report.markdown_table(bad)) if len(bad) else
                        report.Section("Skipped and failed cells", note="none"))
    atomic_write_text(out / "HISTORY.md", report.to_markdown(doc))
    atomic_write_text(out / "index.html", report.to_html(doc, out))
    return History(out, entries, frame, varying, notes)


# --- the gate's history folder --------------------------------------------------------------------

def check_history_dir(history_dir: str | Path, out: str | Path) -> None:
    """Before the gate runs: BadInput for a ``--history`` that cannot hold entries beside its ``--out``."""
    history, out = Path(history_dir), Path(out)
    if history.exists() and not history.is_dir():
        raise BadInput(f"--history {str(history)!r} exists and is not a directory")
    h, o = history.resolve(), out.resolve()
    if h == o or o.is_relative_to(h):
        raise BadInput(f"--out {str(out)!r} is, or lies inside, --history {str(history)!r}: the gate's working directory "
                       "would read as one more entry of the history; choose them apart")
    if (history / CELLS).exists():
        raise BadInput(f"--history {str(history)!r} is a run directory; name a folder to hold one entry per gate")
    if history.is_dir() and not _history_store(history):
        _refuse_foreign_store(history)


def _refuse_foreign_store(history: Path) -> None:
    raise BadInput(f"--history {str(history)!r} is a non-empty folder that rnnbench did not make (no "
                   f"{ownership.MARKER} marker, and not only run directories in it); nothing was written there: "
                   "name a new or empty folder")


def _history_store(folder: Path) -> bool:
    """Whether ``folder`` may take history entries: empty, marked as rnnbench's, or (written before
    markers) holding nothing but run directories."""
    children = [c for c in folder.iterdir() if c.name != ownership.MARKER]
    return ownership.is_ours(folder) or all(c.is_dir() and ownership.is_ours(c) for c in children)


def record_entry(run_dir: str | Path, history_dir: str | Path) -> Path:
    """Copy ``run_dir``'s run.json, cells.csv, steps.csv and epochs.csv into a new entry of ``history_dir``,
    ``<UTC start time>-<short commit>/``, and return it. The entry appears whole or not at all (copied
    into a hidden folder, checked with load_run, then renamed); an entry of the same name gets a suffix."""
    run = load_run(run_dir)
    env = run.meta.get("environment") or {}
    started = _parse_time(env.get("started_at")) or _parse_time(run.meta.get("first_started_at")) or dt.datetime.now(dt.UTC)
    commit = str(env.get("git_commit") or "")
    sha = commit.removesuffix("+dirty")
    short = (sha[:7] if _HEX.fullmatch(sha) else "nocommit") + ("-dirty" if commit.endswith("+dirty") else "")
    name = f"{started.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{short}"
    history = Path(history_dir)
    if history.exists() and not history.is_dir():
        raise BadInput(f"--history {str(history)!r} exists and is not a directory")
    if history.is_dir() and any(history.iterdir()):
        if not _history_store(history):
            _refuse_foreign_store(history)
        ownership.mark(history, "history store")  # a store from before markers is marked on first use
    else:
        ownership.claim(history, "history store", flag="--history")
    partial = ownership.fresh_subdir(history / f".{name}.partial-{os.getpid()}", "history entry in the making")
    try:
        for file in (RUN_JSON, CELLS, STEPS, EPOCHS):
            if (run.path / file).is_file():
                shutil.copy2(run.path / file, partial / file)
        load_run(partial)  # what was copied reads back as a run
        for n in range(1, 1000):
            dest = history / (name if n == 1 else f"{name}-{n}")
            if not dest.exists():
                try:
                    partial.rename(dest)
                except OSError:
                    if dest.exists():
                        continue  # another gate took the name in between
                    raise
                return dest
        raise BadInput(f"{str(history)!r} already holds 999 entries named {name}*")
    finally:
        ownership.remove_own(partial)
