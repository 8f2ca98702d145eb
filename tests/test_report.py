"""Reports are rebuilt from stored run directories: tables' contents, charts present or left out."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from rnnbench.errors import BadInput
from rnnbench.reporting import charts, report
from rnnbench.storage.store import RunStore

MODELS = {"lstm": 328_353, "gru": 326_369, "simple_rnn": 322_113}


def _row(model, kernel="generic", maxlen=100, batch=64, seed=0, jit=False, status="ok", sps=1000.0, acc=0.8, error=""):
    cid = f"{model}-{kernel}-{maxlen}-{batch}-{seed}-{jit}"
    return {"cell_id": cid, "model": model, "arch": model.upper(), "kernel": kernel, "backend": "tensorflow", "device": "cpu",
            "jit_compile": jit, "maxlen": maxlen, "batch_size": batch, "epochs": 3, "seed": seed, "dataset": "synthetic",
            "status": status, "error": error, "params": MODELS[model] if status == "ok" else None,
            "train_samples_per_s": sps if status == "ok" else None, "infer_samples_per_s": 5 * sps if status == "ok" else None,
            "test_acc": acc if status == "ok" else None, "acc_ceiling": 0.9 if maxlen == 100 else 0.94,
            "efficiency": 0.05 if status == "ok" else None}


def _epochs(cid, n=3):
    return [{"epoch": e, "loss": 0.7 - 0.1 * e, "acc": 0.5 + 0.1 * e, "val_loss": 0.7 - 0.05 * e, "val_acc": 0.5 + 0.08 * e,
             "epoch_s": 1.0} for e in range(1, n + 1)]


@pytest.fixture
def grid_run(tmp_path):
    """A small grid: 3 models x 2 maxlen x 2 batch x XLA off/on x 2 seeds, plus skipped and failed cells."""
    run = tmp_path / "grid"
    with RunStore(run) as store:
        for m_i, model in enumerate(MODELS):
            for maxlen in (100, 200):
                for batch in (64, 256):
                    for jit in (False, True):
                        for seed in (0, 1):
                            row = _row(model, maxlen=maxlen, batch=batch, seed=seed, jit=jit,
                                       sps=1000 * (m_i + 1) * (batch / 64) ** 0.5 * (1.8 if jit else 1.0),
                                       acc=0.6 + 0.1 * m_i + (0.05 if maxlen == 200 else 0) + 0.01 * seed)
                            store.record(row, epochs=_epochs(row["cell_id"]))
            if model != "simple_rnn":
                store.record(_row(model, kernel="cudnn", status="skipped", error="the cuDNN kernel runs only on a GPU"))
        store.record(_row("gru", maxlen=999, status="failed", error="killed by SIGSEGV; log x.log"))
        store.write_run_json({"preset": "test", "environment": {"python": "3.11", "packages": {"tensorflow": "2.21"},
                                                                "cpu": {"model": "EPYC", "usable_cores": 2, "flags": ["avx2"]}},
                              "calibration": [{"backend": "tensorflow", "device": "cpu", "matmul_gflops": 200.0}]})
    return run


def test_the_run_section_says_how_cells_started_and_what_fork_changes(tmp_path):
    run = tmp_path / "mixed"
    with RunStore(run) as store:
        store.record({**_row("lstm"), "launch": "fork"})
        store.record({**_row("gru"), "launch": "spawn"})
        store.record(_row("simple_rnn", kernel="cudnn", status="skipped", error="the cuDNN kernel runs only on a GPU"))
    text = (report.build(run) / "REPORT.md").read_text()
    assert "cell processes: 1 fork, 1 spawn\n" in text  # a forked cell's figures mean what a spawned one's do
    old = tmp_path / "old"  # forked before the fork server counted its library pages: the row's note says so
    with RunStore(old) as store:
        store.record({**_row("lstm"), "launch": "fork", "notes": "peak_rss_mb: forked from a fork server, lower"})
    text = (report.build(old) / "REPORT.md").read_text()
    assert "cell processes: 1 fork; these forked cells' peak_rss_mb is not comparable" in text


def test_grid_report_tables_and_every_chart(grid_run):
    out = report.build(grid_run)
    text = (out / "REPORT.md").read_text()
    for chart in ("throughput_vs_batch.png", "accuracy_vs_maxlen.png", "accuracy_over_seeds.png", "training_curves.png",
                  "speedups.png", "accuracy_vs_throughput.png", "time_to_accuracy.png"):
        assert (out / chart).stat().st_size > 10_000, chart
        assert f"]({chart})" in text
    assert "calibration matmul: tensorflow/cpu: 200 GFLOP/s" in text
    # rows from before the launch column were spawned; skipped cells started no process
    assert "cell processes: 49 spawn\n" in text
    # leaderboard: each model's best parameter set by mean over its 2 seeds (simple_rnn at maxlen 200:
    # 0.85 and 0.86), shown as each seed's value: a t-interval over two needs t(0.975, 1) = 12.706
    board = text.split("## Leaderboard")[1].split("##")[0]
    assert board.index("| simple_rnn") < board.index("| gru") < board.index("| lstm")
    assert "| 0.850, 0.860 " in board and "322,113" in board  # two seeds: each, not a t-interval
    # pivots and speedups: XLA cells are 1.8x faster by construction
    assert "## Test accuracy by model and maxlen" in text and "| 100 " in text
    xla = text.split("## Speedup XLA / no XLA")[1].split("##")[0]
    assert xla.count("| 1.80") == 12
    assert "_Left out: no cuDNN cell ran (they need a GPU)._" in text
    failed = text.split("## Skipped and failed cells")[1]
    assert "killed by SIGSEGV" in failed and failed.count("| skipped") == 2
    # each reason once, in full, above the table (its error column cuts at 140 characters)
    assert "- skipped 2 cells (gru, lstm): the cuDNN kernel runs only on a GPU\n" in failed
    assert failed.index("- skipped 2 cells") < failed.index("| status")
    html = (out / "index.html").read_text()
    assert html.count("<img") == 7 and "data:image/png;base64," in html and "<table>" in html


def test_single_cell_run_leaves_charts_out_with_notes(tmp_path):
    run = tmp_path / "one"
    with RunStore(run) as store:
        row = _row("lstm")
        store.record({**row, "test_acc": None, "epochs": 0})  # speed only
    out = report.build(run)
    text = (out / "REPORT.md").read_text()
    assert "_Left out: fewer than two batch sizes._" in text
    assert "_Left out: speed-only run (epochs = 0): no accuracy._" in text
    assert "_Left out: no cell trained for two or more epochs._" in text
    assert not list(out.glob("*.png"))


def test_run_with_only_failures(tmp_path):
    run = tmp_path / "bad"
    with RunStore(run) as store:
        store.record(_row("gru", status="failed", error="timed out after 10 s"))
    text = (report.build(run) / "REPORT.md").read_text()
    assert "no cell finished ok" in text and "timed out after 10 s" in text


def test_not_a_run_directory(tmp_path):
    with pytest.raises(BadInput, match="not a run directory"):
        report.build(tmp_path)


def test_colours_are_consistent_across_runs():
    a, b = charts.palette(["gru", "lstm"]), charts.palette(["lstm"])
    assert a["lstm"] == b["lstm"] and a["gru"] != a["lstm"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_index_html_renders_every_image_in_headless_chromium(grid_run, tmp_path):
    out = report.build(grid_run)
    # A copy of the page with a probe that records, after load, whether every image decoded.
    probe = ("<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
             "const ok=imgs.filter(i=>i.complete&&i.naturalWidth>0).length;"
             "document.body.setAttribute('data-images',ok+'/'+imgs.length);});</script></body>")
    page = tmp_path / "probe.html"
    page.write_text((out / "index.html").read_text().replace("</body>", probe))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    charts = len(list(out.glob("*.png")))
    assert charts == 7 and f'data-images="{charts}/{charts}"' in dom, dom[-500:]


def test_speedups_use_the_wall_clock_figure_and_show_the_steps_alone_where_they_differ():
    import pandas as pd

    def cell(jit, wall, step):
        return {"model": "lstm", "arch": "lstm", "kernel": "generic", "backend": "tensorflow", "device": "cpu", "maxlen": 200,
                "batch_size": 128, "jit_compile": jit, "epochs": 0, "dataset": "synthetic", "train_samples": None,
                "test_samples": None, "units": 32, "seed": 0, "train_samples_per_s": wall, "train_step_samples_per_s": step}

    # XLA makes the steps 1.5x faster, but the epoch boundary eats it: the loop is no faster.
    frame = report.speedups(pd.DataFrame([cell(True, 2000.0, 3000.0), cell(False, 2000.0, 2000.0)]), "jit_compile", True, False)
    assert frame.speedup.tolist() == [1.0] and frame["steps alone"].tolist() == [1.5]
    same = report.speedups(pd.DataFrame([cell(True, 3000.0, 3000.0), cell(False, 2000.0, 2000.0)]), "jit_compile", True, False)
    assert same.speedup.tolist() == [1.5] and "steps alone" not in same
    old = report.speedups(pd.DataFrame([cell(True, 3000.0, None), cell(False, 2000.0, None)]), "jit_compile", True, False)
    assert old.speedup.tolist() == [1.5] and "steps alone" not in old


def test_a_column_of_figures_has_one_number_format():
    from rnnbench.reporting.text import column_display

    # the leaderboard's efficiency column once read 18, 10.9, 7.575, 8.032
    assert column_display([18.0, 10.9, 7.575, 8.032]) == ["18.00", "10.90", "7.58", "8.03"]
    assert column_display([1296.2, 1069.0, 661.4, None]) == ["1,296", "1,069", "661", ""]
    assert column_display([0.922, 0.5, float("nan")]) == ["0.922", "0.500", ""]
    assert column_display([0.0012, 0.25]) == ["0.0012", "0.2500"]  # at most 4 decimals
    assert column_display([328353, "not measured", True]) == ["328,353", "not measured", "true"]  # counts, text, flags as before


def test_the_terminal_and_report_leaderboards_format_a_column_alike(grid_run):
    from rnnbench.reporting import leaderboard
    from rnnbench.storage.store import load_run

    run = load_run(grid_run)
    board = leaderboard.build(list(run.cells.values()), run.predictions, run.epochs, replicates=100)
    column = "efficiency % (median)"
    terminal = leaderboard.table(board).splitlines()
    start = terminal[0].index(column)
    shown = [line[start:start + len(column)].strip() for line in terminal[2:2 + len(board.records)]]
    markdown = leaderboard.markdown(board).splitlines()
    index = [c.strip() for c in markdown[0].split("|")].index(column)
    in_report = [[c.strip() for c in line.split("|")][index] for line in markdown[2:2 + len(board.records)]]
    assert shown == in_report and len({len(v.split(".")[-1]) for v in shown if "." in v}) == 1
