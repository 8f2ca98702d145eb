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


def _md(frame: pd.DataFrame) -> str:
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
    lines = [
        f"- cells: {len(cells)} ({counts.get('ok', 0)} ok, {counts.get('skipped', 0)} skipped, {counts.get('failed', 0)} failed); "
        f"preset: {meta.get('preset') or 'custom'}; data set: {', '.join(sorted(cells.dataset.dropna().unique()))}",
        f"- software: Python {env.get('python', '?')}, TensorFlow {pk.get('tensorflow', '-')}, Keras {pk.get('keras', '-')}, "
        f"JAX {pk.get('jax', '-')}, PyTorch {pk.get('torch', '-')}",
        f"- machine: {cpu.get('model', '?')} ({cpu.get('usable_cores', '?')} usable cores; {', '.join(map(str, cpu.get('flags') or []))}); "
        f"GPUs: {gpus}; cuDNN: {env.get('cudnn', '?')}; host {env.get('host', '?')}",
        f"- calibration matmul: {calib}; started {meta.get('first_started_at', env.get('started_at', '?'))}; "
        f"commit {env.get('git_commit') or '?'}",
    ]
    # Every value above comes from the run's files: escaped, so none can carry markup into the page.
    return "\n".join(md_text(line) for line in lines)


def leaderboard(ok: pd.DataFrame) -> pd.DataFrame:
    has_acc = ok.test_acc.notna()
    groups = []
    for (model, kernel, backend, device), g in ok.groupby(["model", "kernel", "backend", "device"], sort=False):
        acc = g[has_acc.loc[g.index]]
        best = acc.loc[acc.test_acc.idxmax()] if len(acc) else None
        groups.append({
            "model": model, "kernel": kernel, "backend": backend, "device": device,
            "best test acc": None if best is None else best.test_acc,
            "ceiling": None if best is None else best.acc_ceiling,
            "at maxlen": None if best is None or pd.isna(best.maxlen) else int(best.maxlen),
            "train samples/s (median)": g.train_samples_per_s.median(),
            "infer samples/s (median)": g.infer_samples_per_s.median(),
            "params": None if pd.isna(g.params.iloc[0]) else int(g.params.iloc[0]),
            "efficiency % (median)": 100 * g.efficiency.median(),
        })
    frame = pd.DataFrame(groups)
    return frame.sort_values(["best test acc", "train samples/s (median)"], ascending=False, na_position="last")


def _pivot(ok: pd.DataFrame, value: str, column: str, agg: str) -> str:
    parts = []
    for (device, kernel, jit), g in ok.groupby(["device", "kernel", "jit_compile"], sort=True):
        if g[value].notna().sum() == 0:
            continue
        table = g.pivot_table(index="model", columns=column, values=value, aggfunc=agg).reset_index()
        table.columns = [str(c) for c in table.columns]
        parts.append(f"*{device}, {kernel} kernel, XLA {'on' if jit else 'off'}* ({agg} over seeds)\n\n{_md(table)}")
    return "\n\n".join(parts)


def speedups(ok: pd.DataFrame, factor: str, numerator, denominator) -> pd.DataFrame:
    """Ratio of train samples/s between cells that differ only in ``factor``."""
    keys = [c for c in ["model", "arch", "kernel", "jit_compile", *SHAPE] if c != factor]
    a = ok[ok[factor] == numerator].set_index(keys).train_samples_per_s
    b = ok[ok[factor] == denominator].set_index(keys).train_samples_per_s
    ratio = (a / b).dropna().rename("speedup").reset_index()
    if ratio.empty:
        return ratio
    return ratio.groupby(["model", "arch", "device", "maxlen", "batch_size"], as_index=False).speedup.median()


# --- charts ---------------------------------------------------------------------------------------

def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def _plain_number(value: float, _pos=None) -> str:
    """A tick label as a plain number (1,500 rather than 1.5x10^3)."""
    return f"{value:,.0f}"


def _plain_log_labels(axis) -> None:
    """A log axis labelled with plain numbers, majors and minors alike, every label one size."""
    axis.set_major_formatter(_plain_number)
    axis.set_minor_formatter(_plain_number)
    axis.set_tick_params(which="both", labelsize=8)


def _plain_log_ticks(axes, xticks) -> None:
    """Log-log facets: x ticks at the given values only (the batch sizes), y labelled with plain numbers."""
    from matplotlib.ticker import NullFormatter

    for ax in axes:
        ax.set_xticks(xticks)
        ax.xaxis.set_major_formatter(_plain_number)
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
    return _save(grid.figure, out / "throughput_vs_batch.png")


def chart_accuracy_vs_maxlen(ok, colours, out: Path) -> str | None:
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = ok.dropna(subset=["test_acc"])
    if data.maxlen.nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.lineplot(data=data, x="maxlen", y="test_acc", hue="model", marker="o", palette=colours, errorbar=("pi", 100), ax=ax)
    ceiling = data.dropna(subset=["acc_ceiling"]).groupby("maxlen").acc_ceiling.max()
    if len(ceiling):
        ax.plot(ceiling.index, ceiling.values, "k--", label="ceiling (Bayes-optimal reader)")
    ax.set(xlabel="maxlen (tokens kept)", ylabel="test accuracy", title="Accuracy vs sequence length")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return _save(fig, out / "accuracy_vs_maxlen.png")


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
    return _save(grid.figure, out / "training_curves.png")


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
    return _save(grid.figure, out / "speedups.png")


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
        ax.xaxis.set_major_formatter(_plain_number)
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    for text in legend.get_texts():  # parameter counts with thousands separators, like the tables
        if text.get_text().isdigit():
            text.set_text(f"{int(text.get_text()):,}")
    return _save(fig, out / "accuracy_vs_throughput.png")


# --- assembly -------------------------------------------------------------------------------------

def build(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report for ``run_dir`` and return its directory."""
    import matplotlib

    matplotlib.use("Agg")
    run_dir = Path(run_dir)
    meta, cells, epochs = load(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    ok = cells[cells.status == "ok"].copy()
    colours = palette(cells.model.unique())
    report = Report(f"rnnbench report: {md_text(run_dir.name)}")

    report.sections.append(Section("Run", _environment(meta, cells)))
    if ok.empty:
        report.sections.append(Section("Leaderboard", note="no cell finished ok in this run"))
    else:
        report.sections.append(Section("Leaderboard", _md(leaderboard(ok))))
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
                report.sections.append(Section(title, _md(frame)))
        charts = [
            ("Throughput vs batch size", chart_throughput_vs_batch(ok, colours, out), "fewer than two batch sizes"),
            ("Accuracy vs maxlen", chart_accuracy_vs_maxlen(ok, colours, out), "fewer than two maxlens with accuracy"),
            ("Training curves", chart_training_curves(ok, epochs, colours, out), "no cell trained for two or more epochs"),
            ("Speedups", chart_speedups(frames, out), "no speedup pair in this run"),
            ("Accuracy vs throughput", chart_accuracy_vs_throughput(ok, colours, out), "no cell with both accuracy and speed"),
        ]
        for title, image, why in charts:
            report.sections.append(Section(f"Chart: {title}", image=image) if image else Section(f"Chart: {title}", note=why))
    bad = cells[cells.status != "ok"]
    if len(bad):
        table = bad[["status", "model", "kernel", "backend", "device", "jit_compile", "maxlen", "batch_size", "seed", "error"]]
        report.sections.append(Section("Skipped and failed cells", _md(table.assign(error=table.error.str.slice(0, 140)))))
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
