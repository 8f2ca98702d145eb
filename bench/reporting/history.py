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
* ``HISTORY.md`` and one offline ``index.html`` with the charts embedded (bench/reporting/document.py's page).
* ``regressions.csv`` and ``regressions.xml`` (an Atom feed): the change points that are regressions
  (bench/reporting/history_changes.py).

Two judgements, each its own question. **Change points** (bench/verdict/change_points.py): where a cell's
throughput or test accuracy on one machine steps to another level and stays there, over the whole
series; marked on the charts and listed with the commits on both sides. **Against the previous run**: a point is marked a regression by bench/verdict/compare.py's own rule and code (``compare_runs`` on the two
runs, that cell alone, speed only): slower than the previous run of the cell on the same machine by
more than ``max_slowdown`` *and* significantly by the one-sided Mann-Whitney U test on the raw steps:
this judges the latest run, which no change point can yet (it has not persisted).

:func:`~rnnbench.reporting.history_store.record_entry` copies a run directory into a history folder as a new entry
(``DIR/<UTC start>-<short commit>/``); ``rnnbench gate --history DIR`` calls it after the gate.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rnnbench.errors import BadInput
from rnnbench.reporting import document, history_changes
from rnnbench.reporting.history_charts import chart_accuracy, chart_trend
from rnnbench.reporting.intervals import is_missing, label
from rnnbench.reporting.text import md_text
from rnnbench.storage import ownership
from rnnbench.storage.environment import short_commit
from rnnbench.storage.result import coefficient_of_variation
from rnnbench.storage.schema import CELL_PARAMS
from rnnbench.storage.store import CELLS, Run, atomic_write_text, format_value, load_run
from rnnbench.verdict import change_points
from rnnbench.verdict.compare import compare_runs
from rnnbench.verdict.thresholds import ALPHA, MAX_ACCURACY_DROP, MAX_SLOWDOWN, check_thresholds

DEFAULT_OUT = "history"
#: What a commit id from a file must look like before git is asked about it.
COMMIT_HEX = re.compile(r"[0-9a-fA-F]{7,40}")
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
    changes: pd.DataFrame  # change points, history_changes.COLUMNS
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> pd.DataFrame:
        return self.frame[self.frame.vs_previous == "regression"]


def parse_time(text) -> dt.datetime | None:
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
    if not COMMIT_HEX.fullmatch(sha):  # never hand git an option or a revision expression from a file
        return None
    try:
        out = subprocess.run(["git", "show", "-s", "--format=%cI", f"{sha}^{{commit}}", "--"], cwd=repo, capture_output=True, text=True,
                             timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_time(out.stdout.strip().splitlines()[0]) if out.returncode == 0 and out.stdout.strip() else None


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
        env = run.meta.environment
        commit = str(env.get("git_commit") or "")
        if commit not in times:
            times[commit] = commit_time(commit, repo) if commit else None
        started = parse_time(run.meta.first_started_at) or parse_time(env.get("started_at"))
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
    """Samples/s of each timed repeat, from the raw steps (as bench/cell/measure.py computes them: the
    repeat's samples over its wall, the sum of its steps' cycles); empty without raw steps."""
    steps, repeats = run.steps.get(cell_id), run.step_repeats.get(cell_id)
    if steps is None or repeats is None or not batch_size or len(repeats) != len(steps) or any(r is None for r in repeats):
        return np.array([])
    repeats = repeats.astype(int)
    return np.array([np.sum(repeats == r) * batch_size / steps[repeats == r].sum() for r in np.unique(repeats)])


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
        env = e.run.meta.environment
        for cid, cell in e.run.cells.items():
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

def _runs_table(entries: list[Entry], frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for order, e in enumerate(entries, start=1):
        g = frame[frame.run == order]
        counts = g.status.value_counts()
        rows.append({"run": order, "commit": short_commit(e.commit) or "?", "time": f"{e.time:%Y-%m-%d %H:%M}" if e.time else "?",
                     "placed by": {"commit": "commit time", "start": "start time"}.get(e.time_source, "argument order"),
                     "machine": ", ".join(dict.fromkeys(g.machine)), "directory": str(e.run.path),
                     "cells": f"{counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, {counts.get('skipped', 0)} skipped"})
    return pd.DataFrame(rows)


def _changes_table(frame: pd.DataFrame) -> pd.DataFrame:
    changed = frame[frame.vs_previous.isin(["regression", "improvement"])]
    rows = []
    for r in changed.itertuples():
        before = frame[(frame.run == r.previous_run) & (frame.cell_id == r.cell_id)].iloc[0]
        rows.append({"verdict": r.vs_previous, "run": r.run, "commit": short_commit(r.commit), "cell": r.label, "machine": r.machine,
                     "previous run": f"{int(r.previous_run)} ({short_commit(before.commit)})",
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
    return pd.DataFrame({"run": bad.run, "commit": bad.commit.map(short_commit), "cell": bad.label, "machine": bad.machine,
                         "status": bad.status, "error": bad.error.str.slice(0, 140)})


def _change_points_section(changes: pd.DataFrame, max_slowdown: float, max_accuracy_drop: float,
                           alpha: float) -> document.Section:
    how = (f"Where a cell's series on one machine steps to another level and stays there at least "
           f"{change_points.MIN_SEGMENT} runs: PELT (ruptures) proposes the points, a Monte Carlo test of the step "
           f"keeps those with p < {alpha:g} and a change of at least {max_slowdown:.0%} in training throughput or "
           f"{max_accuracy_drop:g} in test accuracy (method: bench/verdict/change_points.py). Each is named by the first "
           f"run at the new level and the last run before it: the BAD and GOOD of a bisection. The regressions are also in "
           f"{history_changes.CSV} and the Atom feed {history_changes.FEED}.")
    if changes.empty:
        return document.Section("Change points", how + "\n\n_None found._")
    lines = "\n".join(f"- {md_text(history_changes.sentence(r))}" for r in changes.itertuples() if r.direction == "regression")
    return document.Section("Change points", "\n\n".join(
        [how, *([lines] if lines else []), document.markdown_table(history_changes.markdown_table(changes))]))


def build(paths, out_dir: str | Path = DEFAULT_OUT, max_slowdown: float = MAX_SLOWDOWN, alpha: float = ALPHA,
          repo: str | Path | None = None, max_accuracy_drop: float = MAX_ACCURACY_DROP) -> History:
    """Write the history of the runs at ``paths`` into ``out_dir`` and return what was found."""
    import matplotlib

    matplotlib.use("Agg")
    check_thresholds(max_slowdown, max_accuracy_drop, alpha)
    entries = load_entries(paths, repo)
    frame, varying = table(entries, max_slowdown, alpha)
    changes = history_changes.find(frame, max_slowdown, max_accuracy_drop, alpha)
    out = Path(out_dir)
    # Never into one of the runs read, nor into a folder of the user's (bench/storage/ownership.py).
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
    history_changes.write_csv(changes, out / history_changes.CSV)
    history_changes.write_feed(changes, out / history_changes.FEED,
                               f"rnnbench history: regressions in {frame.cell_id.nunique()} cell(s) over {len(entries)} run(s)")

    doc = document.Report(f"rnnbench history: {len(entries)} run(s), {frame.cell_id.nunique()} cell(s)")
    order = ("Runs in order of their commit's time (git, in the repository this ran in), else of their start time. "
             "Cells are matched by cell_id; a machine is its host and CPU model.")
    doc.sections.append(document.Section("Runs", "\n\n".join([order, *(f"_Note: {md_text(n)}._" for n in notes),
                                                            document.markdown_table(_runs_table(entries, frame))])))
    doc.sections.append(_change_points_section(changes, max_slowdown, max_accuracy_drop, alpha))
    trend = chart_trend(frame, entries, out, max_slowdown, alpha, changes)
    doc.sections.append(document.Section("Chart: Training throughput over runs", image=trend) if trend else
                        document.Section("Chart: Training throughput over runs", note="no cell finished ok in any run"))
    accuracy = chart_accuracy(frame, entries, out, changes)
    doc.sections.append(document.Section("Chart: Test accuracy over runs", image=accuracy) if accuracy else
                        document.Section("Chart: Test accuracy over runs", note="fewer than two runs with a test accuracy"))
    rule = (f"The latest word on each run: each ok point against the previous ok run of the same cell on the same machine, by rnnbench compare's rule: "
            f"a change beyond {max_slowdown:.0%} that the one-sided Mann-Whitney U test on the raw step times finds "
            f"significant (p < {alpha:g}).")
    speed_changes = _changes_table(frame)
    doc.sections.append(document.Section("Speed changes between consecutive runs",
                                       rule + ("\n\n" + document.markdown_table(speed_changes) if len(speed_changes) else
                                                        "\n\n_None: no point crossed the threshold significantly._")))
    doc.sections.append(document.Section("Cells: first and latest run", document.markdown_table(_cells_table(frame))))
    bad = _bad_table(frame)
    doc.sections.append(document.Section("Skipped and failed cells", document.markdown_table(bad)) if len(bad) else
                        document.Section("Skipped and failed cells", note="none"))
    atomic_write_text(out / "HISTORY.md", document.to_markdown(doc))
    atomic_write_text(out / "index.html", document.to_html(doc, out))
    return History(out, entries, frame, varying, changes, notes)
