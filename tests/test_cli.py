"""The command line as a user meets it: help, listing, bad input (one line, exit 2), a tiny sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from bench.schema import CELL_COLUMNS, EPOCH_COLUMNS


def rnnbench(*args, cwd=None, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def test_help_documents_every_command():
    out = rnnbench("--help")
    assert out.returncode == 0
    for command in ("list", "run", "report", "data"):
        assert command in out.stdout
    run_help = rnnbench("run", "--help").stdout
    for flag in ("--preset", "--sweep", "--models", "--kernels", "--maxlen", "--batch-size", "--devices", "--jit",
                 "--backends", "--seeds", "--epochs", "--dataset", "--out", "--force", "--retry-failed", "--quiet"):
        assert flag in run_help


def test_list_formats():
    table = rnnbench("list")
    assert table.returncode == 0 and "322,113" in table.stdout and "326,369" in table.stdout
    assert table.stderr == ""  # TensorFlow's start-up noise is kept off the terminal
    rows = json.loads(rnnbench("list", "lstm*", "--format", "json").stdout)
    assert [r["name"] for r in rows] == ["lstm", "lstm_dropout"] and rows[0]["params"] == 328_353
    csv_lines = rnnbench("list", "gru", "--format", "csv").stdout.splitlines()
    assert csv_lines[0] == "name,arch,kernels,params,description"
    assert csv_lines[1].startswith('gru,GRU,"generic,cudnn",326369,')


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--models", "lstn"], "no registered model matches 'lstn' (did you mean 'lstm'?)"),
        (["run", "--maxlen", "0"], "maxlen must be an integer"),
        (["run", "--maxlen", "abc"], "--maxlen: expected integers"),
        (["run", "--preset", "nope"], "unknown preset 'nope'"),
        (["run", "--dataset", "imdb"], "imdb data file not found"),
        (["run", "--dataset", "imdb", "--data-path", "/nonexistent/imdb.npz"], "does not exist"),
        (["run", "--sweep", "/nonexistent.toml"], "does not exist"),
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "--epochs", "x"], "invalid int value"),
        (["list", "nope"], "no registered model matches"),
        (["report", "/nonexistent"], "not a run directory"),
        (["data", "info", "nope"], "unknown dataset 'nope'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    out = rnnbench(*args, "--out", str(tmp_path / "run")) if args[0] == "run" else rnnbench(*args)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert message in lines[0]
    assert not (tmp_path / "run" / "cells.csv").exists()


def test_data_list_and_info():
    out = rnnbench("data", "list")
    assert out.returncode == 0 and "synthetic" in out.stdout and "imdb" in out.stdout
    info = rnnbench("data", "info", "synthetic")
    assert info.returncode == 0 and "ceiling" in info.stdout


@pytest.mark.slow
def test_tiny_sweep_end_to_end_and_resume(tmp_path):
    out_dir = tmp_path / "run"
    args = ["run", "--preset", "smoke", "--models", "simple_rnn,lstm", "--kernels", "generic,cudnn", "--maxlen", "16", "--epochs", "2",
            "--train-samples", "300", "--test-samples", "200", "--speed-target", "0.3", "--out", str(out_dir)]
    first = rnnbench(*args)
    assert first.returncode == 0, first.stderr
    cells = pd.read_csv(out_dir / "cells.csv")
    assert list(cells.columns) == list(CELL_COLUMNS)
    assert len(cells) == 3  # simple_rnn/generic, lstm/generic, lstm/cudnn (skipped: no GPU)
    ok = cells[cells.status == "ok"]
    assert sorted(ok.model) == ["lstm", "simple_rnn"]
    assert (ok.train_samples_per_s > 0).all() and (ok.infer_samples_per_s > 0).all()
    assert (ok.infer_latency_ms_p95 >= ok.infer_latency_ms_p50).all()
    assert set(ok.params) == {322_113, 328_353}
    assert ok.test_acc.between(0, 1).all() and ok.val_acc.between(0, 1).all()
    assert ok.peak_rss_mb.gt(50).all() and ok.gpu_peak_mb.isna().all()
    assert ok.flops_per_sample.isna().all() and ok.notes.str.contains("flops_per_sample").all()
    skipped = cells[cells.status == "skipped"].iloc[0]
    assert skipped.kernel == "cudnn" and "GPU" in skipped.error
    epochs = pd.read_csv(out_dir / "epochs.csv")
    assert list(epochs.columns) == list(EPOCH_COLUMNS) and len(epochs) == 4
    run = json.loads((out_dir / "run.json").read_text())
    assert run["spec"]["maxlen"] == [16] and run["environment"]["cpu"]["usable_cores"] >= 1
    assert len(list((out_dir / "logs").glob("*.log"))) == 2
    assert "simple_rnn" in first.stdout and "3 cells: 2 ok, 1 skipped, 0 failed" in first.stdout

    second = rnnbench(*args)
    assert second.returncode == 0, second.stderr
    assert "resuming: 2 cell(s) already done" in second.stdout and "1 run now" in second.stdout  # only the skipped one
    again = pd.read_csv(out_dir / "cells.csv")
    assert again[again.status == "ok"].equals(ok)  # finished cells were not rerun

    report = rnnbench("report", str(out_dir))
    assert report.returncode == 0 and "lstm" in report.stdout
