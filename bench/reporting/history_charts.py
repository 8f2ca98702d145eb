"""History's charts: throughput and accuracy over runs, a colour and marker per machine, regressions
against the previous run and change points marked (bench/reporting/history.py builds the frames they draw)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rnnbench.reporting import charts
from rnnbench.storage.environment import short_commit

if TYPE_CHECKING:
    from rnnbench.reporting.history import Entry

#: Up to this many cells the trend chart has a panel per cell; beyond it, one panel per model.
MAX_CELL_PANELS = 12


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
#: A change point's colour by direction.
STEP_COLOURS = {"regression": "tab:red", "improvement": "tab:green"}


def _change_marks(ax, changes: pd.DataFrame, annotate: bool, y: float = 0.97) -> None:
    """A dashed line between the last run at the old level and the first at the new, per change point, coloured
    by direction; with ``annotate``, its change written at height ``y`` (a fraction of the panel)."""
    from matplotlib.transforms import blended_transform_factory

    top = blended_transform_factory(ax.transData, ax.transAxes)
    for r in changes.drop_duplicates(["run", "direction", "change"]).itertuples():
        x = (r.good_run + r.run) / 2  # between the last run at the old level and the first at the new
        colour = STEP_COLOURS[r.direction]
        ax.axvline(x, color=colour, ls="--", lw=1.3, alpha=0.85, zorder=1)
        if annotate:
            ax.annotate(f"step {r.change}", (x, y), xycoords=top, xytext=(3, 0), textcoords="offset points", ha="left",
                        va="top" if y > 0.5 else "bottom", fontsize=7.5, color=colour, fontweight="bold",
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})


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
        name = short_commit(e.commit) or e.run.path.name[:10]
        labels.append(charts.chart_text(f"{name}\n{e.time:%m-%d}" if e.time else name))
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


def _legend(fig, styles: dict[str, tuple], frame: pd.DataFrame, bands: bool, steps: pd.DataFrame) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=c, marker=m, lw=1.6, label=charts.chart_text(name)) for name, (c, m) in styles.items()]
    if bands:
        handles += [Patch(color="0.5", alpha=0.3, label="middle half of the repeats (IQR)"),
                    Line2D([], [], color="0.5", lw=0.9, label="slowest to fastest repeat")]
    for direction, colour in STEP_COLOURS.items():
        if (steps.direction == direction).any():
            handles.append(Line2D([], [], color=colour, ls="--", lw=1.3, label=f"change point ({direction}): the series "
                                  "steps here and stays"))
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


def chart_trend(frame: pd.DataFrame, entries: list[Entry], out: Path, max_slowdown: float, alpha: float,
                changes: pd.DataFrame) -> str | None:
    """Training throughput over runs: a panel per cell (per model when the cells are many), a line and marker
    per machine, the spread of the repeats around each point, failed cells, regressions and change points marked."""
    if not (frame.status == "ok").any() or frame.train_samples_per_s.notna().sum() == 0:
        return None
    styles = _machine_styles(frame)
    steps = changes[changes.metric == "train_samples_per_s"]
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
        _change_marks(ax, steps[steps.cell_id.isin(set(g.cell_id))], annotate=per_cell)
        _bottom_marks(ax, g)
        _run_ticks(ax, entries)
        ax.set_title(charts.chart_text(str(title)), fontsize=9)
        ax.yaxis.set_major_formatter(charts.plain_number if per_cell else (lambda v, _p: f"{v:.2f}"))
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
    _legend(fig, styles, frame, bands=per_cell, steps=steps)
    fig.tight_layout()
    return charts.save_chart(fig, out / "trend.png")


def chart_accuracy(frame: pd.DataFrame, entries: list[Entry], out: Path, changes: pd.DataFrame) -> str | None:
    """Test accuracy over runs, one line per cell and machine (colour: model, marker: machine), change points marked."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    acc = frame[frame.test_acc.notna()]
    if acc.run.nunique() < 2:
        return None
    colours = charts.palette(list(dict.fromkeys(frame.model)))
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
            handles.append(Line2D([], [], color=colour, ls=ls, label=charts.chart_text(name)))
    if not named:
        handles = [Line2D([], [], color=colours[m], label=charts.chart_text(m)) for m in dict.fromkeys(acc.model)]
    handles += [Line2D([], [], color="0.3", marker=mk, ls="none", label=charts.chart_text(m)) for m, mk in markers.items()]
    steps = changes[changes.metric == "test_acc"]
    _change_marks(ax, steps, annotate=steps.cell_id.nunique() == 1, y=0.03)  # lines near the top: the foot is freer
    handles += [Line2D([], [], color=c, ls="--", lw=1.3, label=f"change point ({d})") for d, c in STEP_COLOURS.items()
                if (steps.direction == d).any()]
    _run_ticks(ax, entries)
    ax.set(ylabel="test accuracy", title="Test accuracy over runs (colour: model; marker: machine)")
    ax.title.set_fontsize(10)
    ax.grid(axis="y", color="0.92")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, fontsize=8)
    return charts.save_chart(fig, out / "accuracy.png")


# --- tables and assembly --------------------------------------------------------------------------
