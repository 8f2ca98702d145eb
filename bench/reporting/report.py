"""``rnnbench report RUN_DIR``: tables and charts rebuilt from a run directory's stored files only.

Writes ``RUN_DIR/report/`` (or ``--out``): ``REPORT.md`` (GitHub-flavoured tabulate tables), one PNG per
chart, and a self-contained ``index.html`` with the same tables and the charts embedded. A table or chart
with no data in this run (no GPU facet on a CPU run, no curves in a speed-only run) is left out with a
one-line note, never drawn empty.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rnnbench.reporting import comparison, leaderboard
from rnnbench.reporting.charts import (
    chart_accuracy_over_seeds,
    chart_accuracy_vs_maxlen,
    chart_accuracy_vs_throughput,
    chart_speedups,
    chart_throughput_vs_batch,
    chart_training_curves,
    palette,
    seed_frame_groups,
)
from rnnbench.reporting.document import Report, Section, markdown_table, to_html, to_markdown
from rnnbench.reporting.intervals import (
    INTERVAL_NOTE,
    has_seeds,
    summary_records,
)
from rnnbench.reporting.text import md_text
from rnnbench.storage import ownership
from rnnbench.storage.run_meta import RunMeta
from rnnbench.storage.schema import CELL_COLUMNS, EPOCH_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS
from rnnbench.storage.store import Row, Run, atomic_write_text, load_run
from rnnbench.verdict import fast_path

SHAPE = ["backend", "device", "maxlen", "batch_size", "seed"]


def _frame(rows: list[Row], columns: tuple[str, ...]) -> pd.DataFrame:
    """Typed stored rows as a frame, numeric columns with pandas dtypes from their declared types."""
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys([*columns, *(k for r in rows for k in r)])))
    for column in frame.columns:
        if column in FLOAT_COLUMNS or column in INT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column]).astype(float if column in FLOAT_COLUMNS else "Int64")
    return frame


def load(run_dir: Path) -> tuple[RunMeta, pd.DataFrame, pd.DataFrame]:
    """run.json, cells and epochs as frames; BadInput when the directory is not a readable run."""
    run = load_run(run_dir)
    return (run.meta, *frames(run))


def frames(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A loaded run's cells and epochs as typed frames."""
    return _frame(list(run.cells.values()), CELL_COLUMNS), _frame(run.epochs, EPOCH_COLUMNS)


def _environment(meta: RunMeta, cells: pd.DataFrame) -> str:
    env = meta.environment
    pk = env.get("packages") or {}
    cpu = env.get("cpu") or {}
    gpus = ", ".join(f"{g.get('name')} (driver {g.get('driver')})" for g in env.get("gpus") or []) or "none"
    calib = "; ".join(f"{c.get('backend')}/{c.get('device')}: {c['matmul_gflops']:.0f} GFLOP/s"
                      for c in meta.calibration if c.get("matmul_gflops")) or "not measured"
    counts = cells.status.value_counts()
    # How the cells' processes started. Forked rows recorded before the fork server re-read its library pages
    # (their notes say so) have a peak_rss_mb that is not a spawned one's.
    ran = cells.status != "skipped"
    launches = cells[ran].launch.fillna("spawn").value_counts() if "launch" in cells else pd.Series({"spawn": int(ran.sum())})
    launch = ", ".join(f"{n} {how}" for how, n in launches.items() if n) or "none ran"
    lines = [
        f"- cells: {len(cells)} ({counts.get('ok', 0)} ok, {counts.get('skipped', 0)} skipped, {counts.get('failed', 0)} failed); "
        f"preset: {meta.preset or 'custom'}; data set: {', '.join(sorted(cells.dataset.dropna().unique()))}",
        f"- software: Python {env.get('python', '?')}, TensorFlow {pk.get('tensorflow', '-')}, Keras {pk.get('keras', '-')}, "
        f"JAX {pk.get('jax', '-')}, PyTorch {pk.get('torch', '-')}",
        f"- machine: {cpu.get('model', '?')} ({cpu.get('usable_cores', '?')} usable cores; {', '.join(map(str, cpu.get('flags') or []))}); "
        f"GPUs: {gpus}; cuDNN: {env.get('cudnn', '?')}; host {env.get('host', '?')}",
        f"- calibration matmul: {calib}; started {meta.first_started_at or env.get('started_at', '?')}; "
        f"commit {env.get('git_commit') or '?'}",
        f"- cell processes: {launch}" + ("; these forked cells' peak_rss_mb is not comparable with a spawned cell's "
                                         "(recorded before the fork server counted its library pages; docs/scale.md)"
                                         if cells.notes.fillna("").str.contains("peak_rss_mb: forked").any() else ""),
    ]
    # Every value above comes from the run's files: escaped, so none can carry markup into the page.
    return "\n".join(md_text(line) for line in lines)


def accuracy_over_seeds(ok: pd.DataFrame) -> str:
    """Markdown table of every parameter set's mean test accuracy, 95% t-interval and seeds, beside the
    accuracy ceiling; empty when no set has two or more seeds (there is no interval to show)."""
    groups = seed_frame_groups(ok)
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
    if "train_samples_per_s" not in figures:  # no cell timed its speed (say, every one only trained)
        return pd.DataFrame(columns=["model", "arch", "device", "maxlen", "batch_size", "speedup"])
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


def build(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report for ``run_dir`` and return its directory."""
    import matplotlib

    matplotlib.use("Agg")
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    meta, (cells, epochs) = run.meta, frames(run)
    out = Path(out_dir) if out_dir else run_dir / "report"
    # A report folder inside the run directory is the default; elsewhere it may not hold the run, and a
    # folder of the user's is refused either way (bench/storage/ownership.py).
    inside = out.resolve().is_relative_to(run_dir.resolve()) and out.resolve() != run_dir.resolve()
    ownership.claim(out, "report", inputs=[] if inside else [run_dir])
    ok = cells[cells.status == "ok"].copy()
    colours = palette(cells.model.unique())
    report = Report(f"rnnbench report: {md_text(run_dir.name)}")

    report.sections.append(Section("Run", _environment(meta, cells)))
    if ok.empty:
        report.sections.append(Section("Leaderboard", note="no cell finished ok in this run"))
    else:
        rows = [r for r in run.cells.values() if r["status"] == "ok"]
        board = leaderboard.build(rows, run.predictions, run.epochs)
        report.sections.append(Section("Leaderboard", leaderboard.markdown(board)))
        report.sections.extend(comparison.paired_sections(rows, run.predictions, out))
        checks, check_notes = fast_path.checks(rows, run.predictions, run.epochs)
        seeds = accuracy_over_seeds(ok)
        report.sections.append(Section("Test accuracy over seeds (mean, 95% t-interval)", seeds) if seeds else
                               Section("Test accuracy over seeds (mean, 95% t-interval)",
                                       note="no parameter set has 2 or more seeds with an accuracy: no interval"))
        acc = _pivot(ok, "test_acc", "maxlen", "mean")
        report.sections.append(Section("Test accuracy by model and maxlen", acc) if acc else
                               Section("Test accuracy by model and maxlen", note="speed-only run (epochs = 0): no accuracy"))
        report.sections.append(Section("Training throughput (samples/s) by model and batch size",
                                        _pivot(ok, "train_samples_per_s", "batch_size", "median")))
        ratios = {"cuDNN / generic": comparison.with_same_model(speedups(ok, "kernel", "cudnn", "generic"), checks, "kernel"),
                  "XLA / no XLA": comparison.with_same_model(speedups(ok, "jit_compile", True, False), checks, "jit_compile")}
        for name, frame in ratios.items():
            title = f"Speedup {name}"
            if frame.empty:
                why = "no cuDNN cell ran (they need a GPU)" if "cuDNN" in name else "the run has no XLA on/off pair"
                report.sections.append(Section(title, note=why))
            else:
                report.sections.append(Section(title, markdown_table(frame)))
        report.sections.append(comparison.fast_path_section(checks, check_notes))
        charts = [
            ("Throughput vs batch size", chart_throughput_vs_batch(ok, colours, out), "fewer than two batch sizes"),
            ("Accuracy vs maxlen", chart_accuracy_vs_maxlen(ok, colours, out), "fewer than two maxlens with accuracy"),
            ("Accuracy over seeds", chart_accuracy_over_seeds(ok, colours, out),
             "no parameter set has 2 or more seeds with an accuracy"),
            ("Training curves", chart_training_curves(ok, epochs, colours, out), "no cell trained for two or more epochs"),
            ("Speedups", chart_speedups(ratios, out), "no speedup pair in this run"),
            ("Accuracy vs throughput", chart_accuracy_vs_throughput(ok, colours, out), "no cell with both accuracy and speed"),
        ]
        for title, image, why in charts:
            report.sections.append(Section(f"Chart: {title}", image=image) if image else Section(f"Chart: {title}", note=why))
        report.sections.append(comparison.time_to_accuracy_section(ok, epochs, colours, board.target and board.target.accuracy, out))
    bad = cells[cells.status != "ok"]
    if len(bad):
        table = bad[["status", "model", "kernel", "backend", "device", "jit_compile", "maxlen", "batch_size", "seed", "error"]]
        # The reasons in full once each, above the table whose column cuts them (cells.csv keeps every one).
        from rnnbench.config.plan import group_skips  # as reporting/table.py: the plan's grouping, imported late

        skipped = bad[bad.status == "skipped"]
        reasons = "".join(f"- skipped {md_text(group.line())}\n" for group in
                          group_skips(zip(skipped.cell_id, skipped.model, skipped.error.fillna(""), strict=True)))
        report.sections.append(Section("Skipped and failed cells", (reasons + "\n" if reasons else "")
                                       + markdown_table(table.assign(error=table.error.str.slice(0, 140)))))
    else:
        report.sections.append(Section("Skipped and failed cells", note="none"))

    atomic_write_text(out / "REPORT.md", to_markdown(report))
    atomic_write_text(out / "index.html", to_html(report, out))
    return out
