"""The command line as a user meets it: help, listing, bad input (one line, exit 2), a tiny sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from rnnbench.storage.schema import CELL_COLUMNS, EPOCH_COLUMNS


def rnnbench(*args, cwd=None, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "rnnbench", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def test_help_documents_every_command():
    out = rnnbench("--help")
    assert out.returncode == 0
    for command in ("list", "run", "report", "compare", "gate", "data"):
        assert command in out.stdout
    assert rnnbench("--version").stdout.startswith("rnnbench ")
    run_help = rnnbench("run", "--help").stdout
    from rnnbench.config.presets import PRESETS

    assert all(name in run_help for name in PRESETS)
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


@pytest.fixture
def stored_run(tmp_path):
    """A run directory holding results, to check that bad input never changes them."""
    from rnnbench.storage.store import RunStore

    run = tmp_path / "stored"
    with RunStore(run) as store:
        store.record({"cell_id": "abc", "model": "lstm", "status": "ok", "train_samples_per_s": 100.0})
    return run


def _files(run):
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


def _bad_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


BAD_RUN_ARGS = [
    (["--models", "lstn"], "no registered model matches 'lstn' (did you mean 'lstm'?)"),
    (["--models", ""], "comma-separated list"),
    (["--maxlen", "0"], "maxlen must be an integer"),
    (["--maxlen", "abc"], "--maxlen: expected integers"),
    (["--maxlen", "100,,200"], "comma-separated list"),
    (["--batch-size", "-5"], "batch_size must be an integer"),
    (["--devices", "tpu"], "unknown device 'tpu'"),
    (["--jit", "maybe"], "--jit-compile: expected true or false"),
    (["--backends", "jaxx"], "did you mean 'jax'"),
    (["--seeds", "-1"], "seeds must be integers"),
    (["--kernels", "cudnnn"], "unknown kernel 'cudnnn'"),
    (["--epochs", "x"], "invalid int value"),
    (["--epochs", "-1"], "epochs must be an integer >= 0"),
    (["--dataset", "imbd"], "unknown dataset 'imbd'"),
    (["--dataset", "imdb"], "imdb data file not found"),
    (["--dataset", "imdb", "--data-path", "/nonexistent/imdb.npz"], "does not exist"),
    (["--train-samples", "3"], "train_samples must be an integer >= 10"),
    (["--timeout", "0"], "timeout_s must be a positive number"),
    (["--memory-limit", "-1"], "memory_limit_mb must be a positive number"),
    (["--cpus", "4095"], "cpus: core 4095 is not usable here; usable cores: "),
    (["--cpus", "one"], "--cpus: expected integers"),
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--sweep", "/nonexistent.toml"], "does not exist"),
    (["--preset", "smoke", "--sweep", "x.toml"], "not allowed with argument"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("args, message", BAD_RUN_ARGS)
def test_bad_run_input_is_one_line_exit_2_and_changes_nothing(args, message, stored_run):
    before = _files(stored_run)
    out = rnnbench("run", *args, "--out", str(stored_run))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert _files(stored_run) == before


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("broken.toml", "models = [", "is not valid TOML"),
        ("typo.toml", "modles = ['lstm']", "unknown key 'modles' (did you mean 'models'?)"),
        ("value.toml", "maxlen = [100, 'long']", "maxlen must be an integer"),
        ("binary.toml", b"\xff\xfe\x00garbage", "cannot be read"),
        ("kind.toml", "devices = 'tpu:0'", "unknown device"),
    ],
)
def test_bad_sweep_files(tmp_path, stored_run, name, content, message):
    before = _files(stored_run)
    out = rnnbench("run", "--sweep", _bad_file(tmp_path, name, content), "--out", str(stored_run))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
    assert _files(stored_run) == before


def test_unverified_imdb_file_is_refused(tmp_path, stored_run):
    import numpy as np

    fake = tmp_path / "imdb.npz"
    np.savez(fake, x_train=np.array([1]), y_train=np.array([1]), x_test=np.array([1]), y_test=np.array([1]))
    before = _files(stored_run)
    out = rnnbench("run", "--dataset", "imdb", "--data-path", str(fake), "--out", str(stored_run))
    assert out.returncode == 2 and "refusing to unpickle" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert _files(stored_run) == before and fake.exists()


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda run: (run / "cells.csv").write_text("model,acc\nlstm,0.5\n"), "not an rnnbench file"),
        (lambda run: (run / "cells.csv").write_text((run / "cells.csv").read_text() + "x,y\n"), "damaged at line 3"),
        (lambda run: (run / "run.json").write_text("{broken"), "damaged run.json"),
    ],
)
def test_damaged_result_files_are_refused_untouched(stored_run, damage, message):
    damage(stored_run)
    before = _files(stored_run)
    for args in (["run", "--out", str(stored_run)], ["report", str(stored_run)]):
        if args[0] == "report" and "run.json" in message:
            continue  # report reads cells.csv only
        out = rnnbench(*args)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
    assert _files(stored_run) == before


def test_locked_run_directory(stored_run):
    from filelock import FileLock

    before = _files(stored_run)
    with FileLock(stored_run / ".rnnbench.lock"):
        out = rnnbench("run", "--out", str(stored_run))
    assert out.returncode == 2 and "in use by another rnnbench run" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert _files(stored_run) == before


def test_out_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("keep me")
    out = rnnbench("run", "--out", str(f))
    assert out.returncode == 2 and "not a directory" in out.stderr and f.read_text() == "keep me"


@pytest.mark.parametrize(
    "args, message",
    [
        (["list", "nope"], "no registered model matches"),
        (["list", "--format", "xml"], "invalid choice"),
        (["report", "/nonexistent"], "not a run directory"),
        (["data", "info", "nope"], "unknown dataset 'nope'"),
        # offline: nothing listens on port 9 (discard) of this machine's loopback
        (["data", "fetch", "imdb", "--url", "http://127.0.0.1:9/imdb.npz", "--dest", "/nonexistent/x/imdb.npz",
          "--timeout", "2"], "imdb.npz"),
        (["data", "info"], "needs a data set name"),
        (["frobnicate"], "invalid choice"),
        (["gate", "--baseline", "/nonexistent", "--out", "/nonexistent/gate"], "not a run directory"),
        (["gate", "--preset", "regres"], "unknown preset 'regres'"),
        (["gate", "--alpha", "2"], "--alpha must be between 0 and 1"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_input_elsewhere_is_one_line_and_exit_2(args, message):
    out = rnnbench(*args)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr


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
    by_model = ok.set_index("model")
    assert by_model.loc["simple_rnn", "flops_per_sample"] == 3 * (16 * 4_192 + 66)  # models/flops.py, by hand
    assert (ok.gflops_achieved > 0).all() and ok.efficiency.between(0, 1, inclusive="right").all()
    skipped = cells[cells.status == "skipped"].iloc[0]
    assert skipped.kernel == "cudnn" and "GPU" in skipped.error
    epochs = pd.read_csv(out_dir / "epochs.csv")
    assert list(epochs.columns) == list(EPOCH_COLUMNS) and len(epochs) == 4
    run = json.loads((out_dir / "run.json").read_text())
    assert run["spec"]["maxlen"] == [16] and run["environment"]["cpu"]["usable_cores"] >= 1
    (calibration,) = run["calibration"]
    assert calibration["backend"] == "tensorflow" and calibration["matmul_gflops"] > 0
    assert len(list((out_dir / "logs").glob("*.log"))) == 2
    assert "simple_rnn" in first.stdout and "3 cells: 2 ok, 1 skipped, 0 failed" in first.stdout

    second = rnnbench(*args)
    assert second.returncode == 0, second.stderr
    assert "resuming: 2 cell(s) already done" in second.stdout and "1 run now" in second.stdout  # only the skipped one
    again = pd.read_csv(out_dir / "cells.csv")
    assert again[again.status == "ok"].equals(ok)  # finished cells were not rerun

    report = rnnbench("report", str(out_dir))
    assert report.returncode == 0 and "lstm" in report.stdout


def test_overrides_reach_the_spec_and_all_lifts_a_subset():
    from rnnbench.cli import build_parser
    from rnnbench.cli.shared import spec_from_args

    args = build_parser().parse_args(["run", "--models", "lstm", "--maxlen", "100,500", "--jit", "true",
                                      "--train-samples", "all", "--test-samples", "300", "--threads", "1",
                                      "--processes", "3", "--cpus", "1,0"])
    spec = spec_from_args(args)
    assert spec.models == ("lstm",) and spec.maxlen == (100, 500) and spec.jit_compile == (True,)
    assert spec.train_samples is None and spec.test_samples == 300 and spec.threads == 1
    assert spec.processes == 3 and spec.cpus == (0, 1)
    assert spec.batch_size == (64, 256)  # the rest comes from the default preset
    # --cpus alone gives one thread per core, even over a preset that fixes threads (seed: 1)
    cpus_only = spec_from_args(build_parser().parse_args(["run", "--preset", "seed", "--cpus", "0,1"]))
    assert cpus_only.cpus == (0, 1) and cpus_only.threads is None
    both = spec_from_args(build_parser().parse_args(["run", "--preset", "seed", "--cpus", "0,1", "--threads", "1"]))
    assert both.threads == 1


@pytest.mark.parametrize("args, message", [
    (["--threads", "0"], "threads must be an integer between 1 and 1024"),
    (["--processes", "0"], "processes must be an integer between 1 and 100"),
    (["--train-samples", "many"], "expected a number of samples or 'all'"),
])
def test_bad_fixed_settings(args, message, tmp_path):
    out = rnnbench("run", *args, "--out", str(tmp_path / "run"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


def test_an_abbreviated_flag_is_an_error_not_another_flag(capsys):
    """`--model lstm` once ran the whole default preset as `--models lstm` with every other preset setting."""
    from rnnbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--model", "lstm", "--dry-run"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "unrecognized arguments: --model" in err
    assert "(see rnnbench run --help)" in err  # the help that lists run's flags, not the top-level one
