"""``rnnbench report RUN_DIR``: tables and charts rebuilt from a run directory's stored files only.

Writes ``RUN_DIR/report/`` (or ``--out``): ``REPORT.md`` (GitHub-flavoured tabulate tables), one PNG per
chart, and a self-contained ``index.html`` with the same tables and the charts embedded. A table or chart
with no data in this run (no GPU facet on a CPU run, no curves in a speed-only run) is left out with a
one-line note, never drawn empty.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rnnbench import ownership
from rnnbench.intervals import (
    ACC_HEADER,
    INTERVAL_NOTE,
    SeedGroup,
    format_interval,
    has_seeds,
    label,
    overlaps,
    seed_groups,
    summary_records,
    varying,
)
from rnnbench.models import list_models
from rnnbench.schema import CELL_COLUMNS, EPOCH_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS
from rnnbench.store import atomic_write_text, load_run, typed
from rnnbench.table import md_text
from tabulate import tabulate

SHAPE = ["backend", "device", "maxlen", "batch_size", "seed"]


@dataclass
class Section:
    title: str
    markdown: str = ""
    image: str | None = None  # PNG file name inside the report directory
    note: str | None = None  # why the section is empty


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)


def _frame(rows: list[dict[str, str]], columns: tuple[str, ...], where: str) -> pd.DataFrame:
    """Stored rows as a frame, each column converted by its declared type (never guessed by pandas)."""
    typed_rows = [typed(r, f"{where}, cell {r.get('cell_id')!r}") for r in rows]
    frame = pd.DataFrame(typed_rows, columns=list(dict.fromkeys([*columns, *(k for r in rows for k in r)])))
    for column in frame.columns:
        if column in FLOAT_COLUMNS or column in INT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column]).astype(float if column in FLOAT_COLUMNS else "Int64")
    return frame


def load(run_dir: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """run.json, cells and epochs as frames; BadInput when the directory is not a readable run."""
    run = load_run(run_dir)
    cells = _frame(list(run.cells.values()), CELL_COLUMNS, str(run_dir / "cells.csv"))
    epochs = _frame(run.epochs, EPOCH_COLUMNS, str(run_dir / "epochs.csv"))
    return run.meta, cells, epochs


def palette(models) -> dict[str, tuple]:
    """One colour per registry model, the same in every chart and every report."""
    import seaborn as sns

    names = list_models()
    colours = sns.color_palette("tab10", n_colors=max(10, len(names)))
    known = {n: colours[i % len(colours)] for i, n in enumerate(names)}
    extra = [m for m in models if m not in known]
    return {**known, **{m: colours[(len(names) + i) % len(colours)] for i, m in enumerate(extra)}}


def _cell_text(v) -> str:
    """Sensible rounding: counts and throughputs as integers with separators, ratios to 3 digits."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}" if abs(v) >= 10_000 else str(int(v))
    if isinstance(v, (float, np.floating)):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) >= 10 else f"{v:.3f}"
    return md_text(v)


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a GitHub Markdown table, each value formatted as the reports show it."""
    text = frame.astype(object).map(_cell_text)
    return tabulate(text, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)


def _environment(meta: dict, cells: pd.DataFrame) -> str:
    env = meta.get("environment") or {}
    pk = env.get("packages") or {}
    cpu = env.get("cpu") or {}
    gpus = ", ".join(f"{g.get('name')} (driver {g.get('driver')})" for g in env.get("gpus") or []) or "none"
    calib = "; ".join(f"{c.get('backend')}/{c.get('device')}: {c['matmul_gflops']:.0f} GFLOP/s"
                      for c in meta.get("calibration") or [] if c.get("matmul_gflops")) or "not measured"
    counts = cells.status.value_counts()
    # How the cells' processes started: a forked cell's start-up and peak_rss_mb are not a spawned one's.
    ran = cells.status != "skipped"
    launches = cells[ran].launch.fillna("spawn").value_counts() if "launch" in cells else pd.Series({"spawn": int(ran.sum())})
    launch = ", ".join(f"{n} {how}" for how, n in launches.items() if n) or "none ran"
    lines = [
        f"- cells: {len(cells)} ({counts.get('ok', 0)} ok, {counts.get('skipped', 0)} skipped, {counts.get('failed', 0)} failed); "
        f"preset: {meta.get('preset') or 'custom'}; data set: {', '.join(sorted(cells.dataset.dropna().unique()))}",
        f"- software: Python {env.get('python', '?')}, TensorFlow {pk.get('tensorflow', '-')}, Keras {pk.get('keras', '-')}, "
        f"JAX {pk.get('jax', '-')}, PyTorch {pk.get('torch', '-')}",
        f"- machine: {cpu.get('model', '?')} ({cpu.get('usable_cores', '?')} usable cores; {', '.join(map(str, cpu.get('flags') or []))}); "
        f"GPUs: {gpus}; cuDNN: {env.get('cudnn', '?')}; host {env.get('host', '?')}",
        f"- calibration matmul: {calib}; started {meta.get('first_started_at', env.get('started_at', '?'))}; "
        f"commit {env.get('git_commit') or '?'}",
        f"- cell processes: {launch}" + ("; forked cells' peak_rss_mb is not comparable with a spawned cell's "
                                         "(docs/scale.md, Fork server)" if "fork" in launches else ""),
    ]
    # Every value above comes from the run's files: escaped, so none can carry markup into the page.
    return "\n".join(md_text(line) for line in lines)


BOARD_KEYS = ("model", "kernel", "backend", "device")
OVERLAP_NOTE = ("_overlaps leader_: yes = the model's 95% interval overlaps the leader's, so these seeds do not resolve "
                "the difference in accuracy; no = the intervals are apart; blank = fewer than 2 seeds on one side.")


def _groups(ok: pd.DataFrame) -> list[SeedGroup]:
    """The run's parameter sets over seeds (bench/intervals.py), from the typed frame of ok cells."""
    return seed_groups(ok.to_dict("records"))


def leaderboard(ok: pd.DataFrame) -> pd.DataFrame:
    """One row per model, kernel, backend and device, best accuracy first (then training throughput).

    A row's accuracy is its best parameter set's mean test accuracy over seeds, not its best single cell:
    one lucky seed does not win. Where any set has two or more seeds the accuracy carries its 95%
    t-interval, with the number of seeds and whether the interval overlaps the leader's; a run with one
    seed per set keeps the plain "best test acc" column (the mean of one cell is that cell).
    """
    groups = _groups(ok)
    seeded = has_seeds(groups)
    best: dict[tuple, SeedGroup] = {}
    for g in groups:
        key = tuple(g.params.get(c) for c in BOARD_KEYS)
        # Ties on the mean go to the set with more seeds: its figure is the better measured one.
        if key not in best or (g.interval.mean, g.interval.n) > (best[key].interval.mean, best[key].interval.n):
            best[key] = g
    rows = []
    for key, g in ok.groupby(list(BOARD_KEYS), sort=False):
        b = best.get(tuple(key))
        row = dict(zip(BOARD_KEYS, key, strict=True))
        if seeded:
            row[ACC_HEADER] = None if b is None else format_interval(b.interval)
            row["seeds"] = None if b is None else b.interval.n
            row["overlaps leader"] = None
        else:
            row["best test acc"] = None if b is None else b.interval.mean
        row.update({
            "ceiling": None if b is None else b.ceiling,
            "at maxlen": None if b is None else b.params.get("maxlen"),
            "train samples/s (median)": g.train_samples_per_s.median(),
            "infer samples/s (median)": g.infer_samples_per_s.median(),
            "params": None if pd.isna(g.params.iloc[0]) else int(g.params.iloc[0]),
            "efficiency % (median)": 100 * g.efficiency.median(),
            "_mean": np.nan if b is None else b.interval.mean,
            "_interval": None if b is None else b.interval,
        })
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values(["_mean", "train samples/s (median)"], ascending=False, na_position="last")
    if seeded:
        leader = frame._interval.iloc[0]
        marks = []
        for i, interval in enumerate(frame._interval):
            same = None if interval is None or leader is None else overlaps(interval, leader)
            marks.append("leader" if i == 0 and leader is not None else "" if same is None else "yes" if same else "no")
        frame["overlaps leader"] = marks
    return frame.drop(columns=["_mean", "_interval"])


def accuracy_over_seeds(ok: pd.DataFrame) -> str:
    """Markdown table of every parameter set's mean test accuracy, 95% t-interval and seeds, beside the
    accuracy ceiling; empty when no set has two or more seeds (there is no interval to show)."""
    groups = _groups(ok)
    if not has_seeds(groups):
        return ""
    return f"{markdown_table(pd.DataFrame(summary_records(groups)))}\n\n{INTERVAL_NOTE}"


def _pivot(ok: pd.DataFrame, value: str, column: str, agg: str) -> str:
    parts = []
    for (device, kernel, jit), g in ok.groupby(["device", "kernel", "jit_compile"], sort=True):
        if g[value].notna().sum() == 0:
            continue
        table = g.pivot_table(index="model", columns=column, values=value, aggfunc=agg).reset_index()
        table.columns = [str(c) for c in table.columns]
        parts.append(f"*{device}, {kernel} kernel, XLA {'on' if jit else 'off'}* ({agg} over seeds)\n\n{markdown_table(table)}")
    return "\n\n".join(parts)


def speedups(ok: pd.DataFrame, factor: str, numerator, denominator) -> pd.DataFrame:
    """Ratio of train samples/s (wall clock) between cells that differ only in ``factor``.

    Where the steps alone speed up by another factor (more than 2% apart for some pair: time outside the
    steps, such as the input pipeline or the epoch boundary, ate or hid part of it), the step-only
    ratio stands beside it as ``steps alone``; runs from before the step-only figure have none.
    """
    keys = [c for c in ["model", "arch", "kernel", "jit_compile", *SHAPE] if c != factor]
    figures = [c for c in ("train_samples_per_s", "train_step_samples_per_s") if c in ok and ok[c].notna().any()]
    a = ok[ok[factor] == numerator].set_index(keys)[figures]
    b = ok[ok[factor] == denominator].set_index(keys)[figures]
    ratio = (a / b).dropna(subset=["train_samples_per_s"]).rename(
        columns={"train_samples_per_s": "speedup", "train_step_samples_per_s": "steps alone"}).reset_index()
    if ratio.empty:
        return ratio[["model", "arch", "device", "maxlen", "batch_size", "speedup"]]
    shape = ["model", "arch", "device", "maxlen", "batch_size"]
    if "steps alone" not in ratio or not (abs(ratio["steps alone"] / ratio.speedup - 1) > 0.02).any():
        return ratio.groupby(shape, as_index=False).speedup.median()
    return ratio.groupby(shape, as_index=False)[["speedup", "steps alone"]].median()


# --- charts ---------------------------------------------------------------------------------------

def save_chart(fig, path: Path) -> str:
    """Save ``fig`` as the PNG ``path`` (the reports' resolution), close it, and return the file's name."""
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def plain_number(value: float, _pos=None) -> str:
    """A tick label as a plain number (1,500 rather than 1.5x10^3)."""
    return f"{value:,.0f}"


def _plain_log_labels(axis) -> None:
    """A log axis labelled with plain numbers, majors and minors alike, every label one size."""
    axis.set_major_formatter(plain_number)
    axis.set_minor_formatter(plain_number)
    axis.set_tick_params(which="both", labelsize=8)


def _plain_log_ticks(axes, xticks) -> None:
    """Log-log facets: x ticks at the given values only (the batch sizes), y labelled with plain numbers."""
    from matplotlib.ticker import NullFormatter

    for ax in axes:
        ax.set_xticks(xticks)
        ax.xaxis.set_major_formatter(plain_number)
        ax.xaxis.set_minor_formatter(NullFormatter())
        _plain_log_labels(ax.yaxis)


def chart_throughput_vs_batch(ok, colours, out: Path) -> str | None:
    import seaborn as sns

    data = ok.dropna(subset=["train_samples_per_s"])
    if data.batch_size.nunique() < 2:
        return None
    data = data.assign(facet=data.device + ", " + data.kernel + ", XLA " + data.jit_compile.map({True: "on", False: "off"}),
                       length="maxlen " + data.maxlen.astype(str))
    rows = "length" if data.maxlen.nunique() > 1 else None
    grid = sns.relplot(data=data, x="batch_size", y="train_samples_per_s", hue="model", col="facet", row=rows, kind="line",
                       marker="o", palette=colours, errorbar=("pi", 100), col_wrap=None if rows else min(4, data.facet.nunique()),
                       height=3.0, aspect=1.25, facet_kws={"sharey": False})
    grid.set(xscale="log", yscale="log")
    _plain_log_ticks(grid.axes.flat, sorted(data.batch_size.unique()))
    grid.set_axis_labels("batch size (samples)", "training throughput (samples/s)")
    grid.set_titles("{col_name}, {row_name}" if rows else "{col_name}")
    grid.figure.suptitle("Training throughput vs batch size (band: range over seeds)", y=1.02)
    return save_chart(grid.figure, out / "throughput_vs_batch.png")


def _settings(groups: list[SeedGroup], columns: list[str]) -> dict[tuple, list[SeedGroup]]:
    """Groups by their values of ``columns``, in sorted order (a missing value last)."""
    by: dict[tuple, list[SeedGroup]] = {}
    for g in groups:
        by.setdefault(tuple(g.params.get(c) for c in columns), []).append(g)
    return dict(sorted(by.items(), key=lambda kv: tuple((1, 0) if v is None else (0, v) for v in kv[0])))


def chart_text(text: str) -> str:
    """Text from data as literal chart text: a ``$`` would start matplotlib's math mode (and a malformed
    formula fails the whole report)."""
    return text.replace("$", r"\$")


def _accuracy_limits(groups: list[SeedGroup]) -> tuple[float, float]:
    """Axis limits around means, intervals and ceilings, inside [0, 1] plus a margin: with two seeds a
    t-interval can reach past 0 or 1 (t = 12.7), and an axis stretched to it would flatten every mean."""
    values = [v for g in groups for v in (g.interval.mean, g.interval.low, g.interval.high, g.ceiling) if v is not None]
    return max(min(values) - 0.02, 0.0), min(max(values) + 0.02, 1.02)


def chart_accuracy_vs_maxlen(ok, colours, out: Path) -> str | None:
    """Mean test accuracy over seeds against maxlen, one line per model, with the 95% t-interval as error
    bars where a point has 2+ seeds. One panel per setting of the other parameters that vary (batch size,
    XLA, ...): a point is one parameter set over its seeds, never a mix of settings."""
    import matplotlib.pyplot as plt
    from matplotlib.transforms import offset_copy

    groups = _groups(ok)
    if len({g.params.get("maxlen") for g in groups}) < 2:
        return None
    facet_columns = varying(groups, exclude=("model", "maxlen"))
    facets = _settings(groups, facet_columns)
    ncols = min(3, len(facets))
    nrows = -(-len(facets) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(7, 4.2) if len(facets) == 1 else (4.2 * ncols, 3.3 * nrows),
                             sharey=True, squeeze=False)
    low, high = _accuracy_limits(groups)
    handles: dict[str, object] = {}
    for ax, (setting, members) in zip(axes.flat, facets.items(), strict=False):
        models = [m for m in colours if any(g.params.get("model") == m for g in members)]
        for i, model in enumerate(models):
            # Models side by side at each maxlen (a few points apart), so their error bars do not hide each other.
            shifted = offset_copy(ax.transData, fig=fig, x=(i - (len(models) - 1) / 2) * 5, y=0, units="points")
            mine = sorted((g for g in members if g.params.get("model") == model), key=lambda g: g.params.get("maxlen"))
            xs = [g.params.get("maxlen") for g in mine]
            (line,) = ax.plot(xs, [g.interval.mean for g in mine], marker="o", color=colours[model], transform=shifted)
            handles.setdefault(chart_text(str(model)), line)
            bars = [g for g in mine if g.interval.low is not None]
            if bars:
                ax.errorbar([g.params.get("maxlen") for g in bars], [g.interval.mean for g in bars],
                            yerr=[[g.interval.mean - g.interval.low for g in bars], [g.interval.high - g.interval.mean for g in bars]],
                            fmt="none", ecolor=colours[model], capsize=3, lw=1.2, transform=shifted)
        ceiling = {}
        for g in members:
            if g.ceiling is not None:
                ceiling[g.params.get("maxlen")] = max(g.ceiling, ceiling.get(g.params.get("maxlen"), 0.0))
        if ceiling:
            xs = sorted(ceiling)
            (line,) = ax.plot(xs, [ceiling[x] for x in xs], "k--")
            handles.setdefault("ceiling (Bayes-optimal reader)", line)
        ax.set_xticks(sorted({g.params.get("maxlen") for g in members}))
        ax.set(xlabel="maxlen (tokens kept)", ylim=(low, high), title=chart_text(label(dict(zip(facet_columns, setting, strict=True)), facet_columns)))
        ax.title.set_fontsize(9)
    for ax in axes.flat[len(facets):]:
        ax.set_visible(False)
    seeded = has_seeds(groups)
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (mean over seeds)" if seeded else "test accuracy")
    fig.suptitle("Accuracy vs sequence length" + (" (bars: 95% t-interval over seeds, where 2+ seeds)" if seeded else
                                                  " (one seed per point: no interval)"), y=1.0 if len(facets) > 1 else 0.98)
    fig.legend(list(handles.values()), list(handles), loc="upper left", bbox_to_anchor=(1.0, 0.92), frameon=False)
    fig.tight_layout()
    return save_chart(fig, out / "accuracy_vs_maxlen.png")


def chart_accuracy_over_seeds(ok, colours, out: Path) -> str | None:
    """Each parameter set with 2+ seeds as a dot (mean test accuracy) with its 95% t-interval as a bar, the
    models of one setting next to each other, best first; the ceiling as a tick. Two models differ by more
    than the seeds' spread where their bars do not overlap."""
    import matplotlib.pyplot as plt

    groups = [g for g in _groups(ok) if g.interval.n >= 2]
    if not groups:
        return None
    setting_columns = varying(groups, exclude=("model",))
    blocks = _settings(groups, setting_columns)
    # Top to bottom: blocks of one setting, best mean first inside each, a gap between blocks.
    placed, y = [], 0.0
    for setting, members in blocks.items():
        for g in sorted(members, key=lambda g: -g.interval.mean):
            placed.append((y, setting, g))
            y -= 1.0
        y -= 0.6
    fig, ax = plt.subplots(figsize=(7.5, 1.3 + 0.36 * len(placed) + 0.2 * len(blocks)))
    ceiling_shown = False
    for y, _setting, g in placed:
        iv, colour = g.interval, colours.get(g.params.get("model"), "k")
        ax.errorbar([iv.mean], [y], xerr=[[iv.mean - iv.low], [iv.high - iv.mean]], fmt="o", color=colour, capsize=3, lw=1.5)
        if g.ceiling is not None:
            ax.plot([g.ceiling], [y], marker="|", linestyle="none", color="k", markersize=12, mew=1.5)
            ceiling_shown = True
        # The numbers beside each bar: an interval clipped by the axis still reads exactly.
        ax.annotate(f"{format_interval(iv)}  (n={iv.n})", xy=(1.01, y), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8)
    names = [str(g.params.get("model")) + (f"  ({label(dict(zip(setting_columns, s, strict=True)), setting_columns)})"
                                           if setting_columns else "") for _, s, g in placed]
    ax.set_yticks([p[0] for p in placed], [chart_text(n) for n in names], fontsize=8)
    for (y0, *_), (y1, *_) in zip(placed, placed[1:], strict=False):
        if y0 - y1 > 1.0:  # a gap: the next setting begins
            ax.axhline((y0 + y1) / 2, color="0.85", lw=0.8)
    ax.set_xlim(*_accuracy_limits(groups))
    ax.set_ylim(placed[-1][0] - 0.7, 0.7)
    ax.grid(axis="x", color="0.92")
    ax.set(xlabel="test accuracy", title="Test accuracy over seeds (dot: mean; bar: 95% t-interval"
                                         + ("; |: ceiling, Bayes-optimal reader)" if ceiling_shown else ")"))
    ax.title.set_fontsize(10)
    return save_chart(fig, out / "accuracy_over_seeds.png")


def chart_training_curves(ok, epochs, colours, out: Path) -> str | None:
    import seaborn as sns

    e = epochs.merge(ok[["cell_id", "model", "maxlen", "batch_size"]], on="cell_id")
    if e.empty or e.epoch.nunique() < 2:
        return None
    long = pd.concat([
        e.assign(metric="accuracy", split="training", value=e.acc), e.assign(metric="accuracy", split="validation", value=e.val_acc),
        e.assign(metric="loss", split="training", value=e.loss), e.assign(metric="loss", split="validation", value=e.val_loss),
    ]).dropna(subset=["value"])
    grid = sns.relplot(data=long, x="epoch", y="value", hue="model", style="split", col="metric", kind="line", palette=colours,
                       errorbar=("pi", 100), height=3.6, aspect=1.25, facet_kws={"sharey": False})
    grid.set_titles("{col_name}")
    grid.set_axis_labels("epoch", "")
    # The band is drawn only where a model has several cells (seeds, shapes); say so only then.
    band = "; band: range over cells" if e.groupby("model").cell_id.nunique().max() > 1 else ""
    grid.figure.suptitle(f"Training curves (solid: training, dashed: validation{band})", y=1.04)
    return save_chart(grid.figure, out / "training_curves.png")


def chart_speedups(frames: dict[str, pd.DataFrame], out: Path) -> str | None:
    import seaborn as sns

    data = pd.concat([f.assign(comparison=name) for name, f in frames.items() if not f.empty], ignore_index=True) if any(
        not f.empty for f in frames.values()) else pd.DataFrame()
    if data.empty:
        return None
    data = data.assign(shape="L" + data.maxlen.astype(str) + " B" + data.batch_size.astype(str))
    grid = sns.catplot(data=data, x="model", y="speedup", hue="shape", col="comparison", kind="bar", height=3.6, aspect=1.3,
                       errorbar=None, palette="crest")
    for ax in grid.axes.flat:
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.tick_params(axis="x", rotation=20)
    grid.set_axis_labels("", "speedup (x, train samples/s)")
    grid.set_titles("{col_name}")
    grid.figure.suptitle("Speedups (1.0 = no change)", y=1.04)
    return save_chart(grid.figure, out / "speedups.png")


def chart_accuracy_vs_throughput(ok, colours, out: Path) -> str | None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = ok.dropna(subset=["test_acc", "train_samples_per_s", "params"])
    if data.empty:
        return None
    data = data.assign(params=data.params.astype(int))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    # Point area from zero parameters up, so 2% more parameters look 2% bigger, not several times.
    sns.scatterplot(data=data, x="train_samples_per_s", y="test_acc", hue="model", size="params", sizes=(10, 240),
                    size_norm=(0, data.params.max()), palette=colours, alpha=0.8, ax=ax)
    # A log axis only where throughputs span more than a decade; within one, its crowded minor labels
    # say less than a plain linear axis.
    log = data.train_samples_per_s.max() > 10 * data.train_samples_per_s.min()
    ax.set(xscale="log" if log else "linear", ylabel="test accuracy",
           xlabel="training throughput (samples/s" + (", log scale)" if log else ")"),
           title="Which model is worth its cost (point size: parameters)")
    if log:
        _plain_log_labels(ax.xaxis)
    else:
        ax.xaxis.set_major_formatter(plain_number)
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    for text in legend.get_texts():  # parameter counts with thousands separators, like the tables
        if text.get_text().isdigit():
            text.set_text(f"{int(text.get_text()):,}")
    return save_chart(fig, out / "accuracy_vs_throughput.png")


# --- assembly -------------------------------------------------------------------------------------

def build(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report for ``run_dir`` and return its directory."""
    import matplotlib

    matplotlib.use("Agg")
    run_dir = Path(run_dir)
    meta, cells, epochs = load(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "report"
    # A report folder inside the run directory is the default; elsewhere it may not hold the run, and a
    # folder of the user's is refused either way (bench/ownership.py).
    inside = out.resolve().is_relative_to(run_dir.resolve()) and out.resolve() != run_dir.resolve()
    ownership.claim(out, "report", inputs=[] if inside else [run_dir])
    ok = cells[cells.status == "ok"].copy()
    colours = palette(cells.model.unique())
    report = Report(f"rnnbench report: {md_text(run_dir.name)}")

    report.sections.append(Section("Run", _environment(meta, cells)))
    if ok.empty:
        report.sections.append(Section("Leaderboard", note="no cell finished ok in this run"))
    else:
        board = leaderboard(ok)
        notes = f"\n\n{OVERLAP_NOTE}\n\n{INTERVAL_NOTE}" if "overlaps leader" in board else ""
        report.sections.append(Section("Leaderboard", markdown_table(board) + notes))
        seeds = accuracy_over_seeds(ok)
        report.sections.append(Section("Test accuracy over seeds (mean, 95% t-interval)", seeds) if seeds else
                               Section("Test accuracy over seeds (mean, 95% t-interval)",
                                       note="no parameter set has 2 or more seeds with an accuracy: no interval"))
        acc = _pivot(ok, "test_acc", "maxlen", "mean")
        report.sections.append(Section("Test accuracy by model and maxlen", acc) if acc else
                               Section("Test accuracy by model and maxlen", note="speed-only run (epochs = 0): no accuracy"))
        report.sections.append(Section("Training throughput (samples/s) by model and batch size",
                                        _pivot(ok, "train_samples_per_s", "batch_size", "median")))
        frames = {"cuDNN / generic": speedups(ok, "kernel", "cudnn", "generic"),
                  "XLA / no XLA": speedups(ok, "jit_compile", True, False)}
        for name, frame in frames.items():
            title = f"Speedup {name}"
            if frame.empty:
                why = "no cuDNN cell ran (they need a GPU)" if "cuDNN" in name else "the run has no XLA on/off pair"
                report.sections.append(Section(title, note=why))
            else:
                report.sections.append(Section(title, markdown_table(frame)))
        charts = [
            ("Throughput vs batch size", chart_throughput_vs_batch(ok, colours, out), "fewer than two batch sizes"),
            ("Accuracy vs maxlen", chart_accuracy_vs_maxlen(ok, colours, out), "fewer than two maxlens with accuracy"),
            ("Accuracy over seeds", chart_accuracy_over_seeds(ok, colours, out),
             "no parameter set has 2 or more seeds with an accuracy"),
            ("Training curves", chart_training_curves(ok, epochs, colours, out), "no cell trained for two or more epochs"),
            ("Speedups", chart_speedups(frames, out), "no speedup pair in this run"),
            ("Accuracy vs throughput", chart_accuracy_vs_throughput(ok, colours, out), "no cell with both accuracy and speed"),
        ]
        for title, image, why in charts:
            report.sections.append(Section(f"Chart: {title}", image=image) if image else Section(f"Chart: {title}", note=why))
    bad = cells[cells.status != "ok"]
    if len(bad):
        table = bad[["status", "model", "kernel", "backend", "device", "jit_compile", "maxlen", "batch_size", "seed", "error"]]
        report.sections.append(Section("Skipped and failed cells", markdown_table(table.assign(error=table.error.str.slice(0, 140)))))
    else:
        report.sections.append(Section("Skipped and failed cells", note="none"))

    atomic_write_text(out / "REPORT.md", to_markdown(report))
    atomic_write_text(out / "index.html", to_html(report, out))
    return out


def to_markdown(report: Report) -> str:
    parts = [f"# {report.title}\n"]
    for s in report.sections:
        parts.append(f"## {s.title}\n")
        if s.note:
            parts.append(f"_Left out: {s.note}._\n")
        if s.markdown:
            parts.append(s.markdown + "\n")
        if s.image:
            parts.append(f"![{s.title}]({s.image})\n")
    return "\n".join(parts)


def to_html(report: Report, out: Path) -> str:
    import markdown_it

    # Raw HTML off: Markdown from stored data renders as text, never as markup (data is escaped too).
    md = markdown_it.MarkdownIt("commonmark", {"html": False}).enable("table")
    body = []
    for s in report.sections:
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.note:
            body.append(f"<p><em>Left out: {html.escape(s.note)}.</em></p>")
        if s.markdown:
            body.append(md.render(s.markdown))
        if s.image:
            data = base64.b64encode((out / s.image).read_bytes()).decode()
            body.append(f'<img alt="{html.escape(s.title)}" src="data:image/png;base64,{data}">')
    style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:1em 0}")
    title = html.escape(html.unescape(report.title))  # the title is Markdown-escaped text: entities once, not twice
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{style}</style></head><body><h1>{title}</h1>{''.join(body)}</body></html>\n")
