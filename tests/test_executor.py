"""Isolation: a crashing, segfaulting or hanging cell is one failed row, and the next cell still runs."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.executor import child_env
from bench.runner import FAULT_ENV
from bench.spec import SweepSpec
from bench.sweep import run_sweep

TINY = dict(kernels=("generic",), maxlen=(8,), batch_size=(32,), epochs=0, train_samples=64, test_samples=64,
            speed_target_s=0.1)


def test_child_env_fixes_backend_devices_and_threads():
    cpu, gpu = SweepSpec(models=("lstm",), devices=("cpu", "gpu:1"), **TINY).expand()
    env = child_env(cpu, threads=2)
    assert env["KERAS_BACKEND"] == "tensorflow" and env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["OMP_NUM_THREADS"] == "2" and env["TF_NUM_INTEROP_THREADS"] == "1"
    assert child_env(gpu, threads=2)["CUDA_VISIBLE_DEVICES"] == "1"


@pytest.mark.slow
@pytest.mark.parametrize("kind, expected", [("raise", "RuntimeError: injected fault"), ("segfault", "killed by SIGSEGV"),
                                            ("hang", "timed out after 20 s"),
                                            ("alloc", "exceeded the memory limit of 1500 MB")])
def test_a_failing_cell_is_a_row_and_the_sweep_goes_on(tmp_path, monkeypatch, kind, expected):
    monkeypatch.setenv(FAULT_ENV, f"simple_rnn:{kind}")
    spec = SweepSpec(models=("simple_rnn", "gru"), timeout_s=20, memory_limit_mb=1500, **TINY)
    run_sweep(spec, tmp_path, quiet=True)
    cells = pd.read_csv(tmp_path / "cells.csv").set_index("model")
    assert cells.loc["simple_rnn", "status"] == "failed"
    assert expected in cells.loc["simple_rnn", "error"]
    assert cells.loc["gru", "status"] == "ok" and cells.loc["gru", "train_samples_per_s"] > 0

    # --retry-failed reruns just the failed cell; here the fault is gone, so it now succeeds.
    monkeypatch.delenv(FAULT_ENV)
    result = run_sweep(spec, tmp_path, quiet=True, retry_failed=True)
    assert result.ran == 1
    assert set(pd.read_csv(tmp_path / "cells.csv").status) == {"ok"}
