"""History's change points: each cell's throughput and test accuracy series per machine, cut where it
steps to another level (bench/verdict/change_points.py), listed in ``HISTORY.md``, in ``regressions.csv``
and in an Atom feed, ``regressions.xml``, that a CI page can serve (as asv's ``publish`` does).

A change point is named by the first run at the new level (its commit: where a bisection's BAD starts)
and the last run at the old level (its GOOD).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pandas as pd
from rnnbench.reporting.text import display
from rnnbench.storage.environment import short_commit
from rnnbench.storage.store import atomic_write_text, format_value
from rnnbench.verdict import change_points


@dataclass(frozen=True)
class Series:
    """A figure judged over runs, and how."""

    column: str  # history.csv's column
    name: str  # as a reader says it
    relative: bool  # a ratio (throughput) or a difference (accuracy)
    higher_is_better: bool
    noise_floor: float  # the least noise assumed: log units when relative, else the figure's own


#: Throughput's floor: 1% (this VM's quietest cells vary by 3-10% between runs). Accuracy on one machine
#: is deterministic, so its series are steps of exact values; its floor only keeps PELT from zero noise.
THROUGHPUT = Series("train_samples_per_s", "train samples/s", True, True, 0.01)
ACCURACY = Series("test_acc", "test accuracy", False, True, 0.002)
COLUMNS = ("metric", "cell_id", "cell", "machine", "direction", "change", "before", "after", "p_value", "run", "commit",
           "good_run", "good_commit", "runs_before", "runs_after", "time")
FEED = "regressions.xml"
CSV = "regressions.csv"


def _change_text(series: Series, change: float) -> str:
    return f"{change:+.1%}" if series.relative else f"{change:+.4f}"


def find(frame: pd.DataFrame, max_slowdown: float, max_accuracy_drop: float, alpha: float) -> pd.DataFrame:
    """Every change point of every cell's series on each machine, in run order (a row per point, COLUMNS)."""
    rows = []
    for series, min_change in ((THROUGHPUT, max_slowdown), (ACCURACY, max_accuracy_drop)):
        for (cid, where), g in frame.groupby(["cell_id", "machine"], sort=True):
            ok = g[(g.status == "ok") & g[series.column].notna()]
            if series.relative:
                ok = ok[ok[series.column] > 0]
            found = change_points.detect(ok[series.column].astype(float).to_numpy(), relative=series.relative,
                                         min_change=min_change, alpha=alpha, noise_floor=series.noise_floor)
            for c in found:
                first, last = ok.iloc[c.index], ok.iloc[c.index - 1]
                better = (c.change > 0) == series.higher_is_better
                rows.append({"metric": series.column, "cell_id": cid, "cell": first.label, "machine": where,
                             "direction": "improvement" if better else "regression", "change": _change_text(series, c.change),
                             "before": c.before, "after": c.after, "p_value": c.p_value, "run": int(first.run),
                             "commit": first.commit, "good_run": int(last.run), "good_commit": last.commit,
                             "runs_before": c.n_before, "runs_after": c.n_after, "time": first.time})
    return pd.DataFrame(rows, columns=list(COLUMNS)).sort_values(["run", "metric", "cell"], kind="stable").reset_index(drop=True)


def _name(metric: str) -> str:
    return next(s.name for s in (THROUGHPUT, ACCURACY) if s.column == metric)


def sentence(r) -> str:
    """"lstm maxlen 100 batch 32 on host (CPU): -18% (train samples/s) from commit abc1234, p = 0.001"."""
    p = "p not computed (each side constant: an exact step)" if pd.isna(r.p_value) else f"p = {r.p_value:.2g}"
    return (f"{r.cell} on {r.machine}: {r.change} ({_name(r.metric)}) from commit {short_commit(r.commit) or '?'} "
            f"(run {r.run}; the last run before it: {short_commit(r.good_commit) or '?'}), {p}")


def markdown_table(changes: pd.DataFrame) -> pd.DataFrame:
    """The change points as HISTORY.md shows them."""
    return pd.DataFrame({
        "direction": changes.direction, "figure": changes.metric.map(_name), "cell": changes.cell, "machine": changes.machine,
        "change": changes.change, "before": changes.before, "after": changes.after,
        "p": ["exact step" if pd.isna(p) else f"{p:.2g}" for p in changes.p_value],
        "from commit (run)": [f"{short_commit(c) or '?'} ({r})" for c, r in zip(changes.commit, changes.run, strict=True)],
        "last before (run)": [f"{short_commit(c) or '?'} ({r})" for c, r in zip(changes.good_commit, changes.good_run, strict=True)],
        "runs before / after": [f"{b} / {a}" for b, a in zip(changes.runs_before, changes.runs_after, strict=True)]})


def write_csv(changes: pd.DataFrame, path) -> None:
    """``regressions.csv``: the change points that are regressions, one per row, COLUMNS."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for record in changes[changes.direction == "regression"].to_dict("records"):
        writer.writerow([format_value(None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for v in record.values()])
    atomic_write_text(path, buf.getvalue())


def write_feed(changes: pd.DataFrame, path, title: str) -> None:
    """``regressions.xml``: an Atom 1.0 feed with an entry per regression; an entry's id is fixed by the
    cell, machine, figure and commit, so a feed reader shows each regression once however often the
    history is rebuilt."""
    atom = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", atom)

    def sub(parent, tag, text=None, **attrs):
        element = ET.SubElement(parent, f"{{{atom}}}{tag}", attrs)
        if text is not None:
            element.text = text
        return element

    feed = ET.Element(f"{{{atom}}}feed")
    sub(feed, "title", title)
    sub(feed, "id", "tag:rnnbench,2026:history-regressions")
    regressions = changes[changes.direction == "regression"]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    times = [dt.datetime.fromisoformat(t).astimezone(dt.UTC) for t in regressions.time if t]
    sub(feed, "updated", max(times).isoformat() if times else now)
    sub(sub(feed, "author"), "name", "rnnbench history")
    for r in regressions.itertuples():
        entry = sub(feed, "entry")
        sub(entry, "title", f"{r.cell}: {r.change} {_name(r.metric)} at {short_commit(r.commit) or '?'}")
        where = hashlib.sha256(r.machine.encode()).hexdigest()[:12]
        # The commit, else the run's time: never the run's position, which shifts as runs are added.
        sub(entry, "id", f"tag:rnnbench,2026:{r.cell_id}:{r.metric}:{r.commit or r.time}:{where}")
        sub(entry, "updated", dt.datetime.fromisoformat(r.time).astimezone(dt.UTC).isoformat() if r.time else now)
        sub(entry, "summary", sentence(r) + f"; before {display(r.before)}, after {display(r.after)}")
        sub(entry, "link", rel="alternate", href="HISTORY.md")
    ET.indent(feed)
    atomic_write_text(path, ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n")
