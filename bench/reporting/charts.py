"""The run report's seaborn charts, and the chart helpers history's charts share: one colour per model,
plain-number axes, text safe for Matplotlib, and PNG files written atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rnnbench.models import list_models
from rnnbench.reporting.intervals import SeedGroup, format_interval, has_seeds, label, seed_groups, varying


def palette(models) -> dict[str, tuple]:
    """One colour per registry model, the same in every chart and every report."""
    import seaborn as sns

    names = list_models()
    colours = sns.color_palette("tab10", n_colors=max(10, len(names)))
    known = {n: colours[i % len(colours)] for i, n in enumerate(names)}
    extra = [m for m in models if m not in known]
    return {**known, **{m: colours[(len(names) + i) % len(colours)] for i, m in enumerate(extra)}}


def seed_frame_groups(ok: pd.DataFrame) -> list[SeedGroup]:
    """The run's parameter sets over seeds (bench/reporting/intervals.py), from the typed frame of ok cells."""
    return seed_groups(ok.to_dict("records"))


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

    groups = seed_frame_groups(ok)
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

    groups = [g for g in seed_frame_groups(ok) if g.interval.n >= 2]
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
    # Shapes in order of size (maxlen, then batch), so the sequential palette darkens with the work per step.
    shapes = list(data.sort_values(["maxlen", "batch_size"])["shape"].unique())
    grid = sns.catplot(data=data, x="model", y="speedup", hue="shape", hue_order=shapes, col="comparison", kind="bar",
                       height=3.6, aspect=1.3, errorbar=None, palette="crest")
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
