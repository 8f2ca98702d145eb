"""Keras backends other than TensorFlow: JAX runs a real cell when installed; absent ones are skipped rows."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
from rnnbench.config.spec import SweepSpec
from rnnbench.execute.sweep import run_sweep

TINY = dict(models=("gru",), maxlen=(16,), batch_size=(32,), epochs=1, train_samples=200, test_samples=100,
            speed_target_s=0.2)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax not installed (pip install -e '.[jax]')")
def test_jax_cell_runs(tmp_path):
    run_sweep(SweepSpec(backends=("jax",), jit_compile=(True,), **TINY), tmp_path, quiet=True)
    row = pd.read_csv(tmp_path / "cells.csv").iloc[0]
    assert row.status == "ok", row.error
    assert row.backend == "jax" and row.train_samples_per_s > 0 and 0 <= row.test_acc <= 1
    assert row.params == 326_369  # the same model as on TensorFlow
    import json

    calibration = json.loads((tmp_path / "run.json").read_text())["calibration"]
    assert [c["backend"] for c in calibration] == ["jax"]  # calibrated on the cell's own backend


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed here")
def test_missing_backend_is_a_skipped_row(tmp_path):
    run_sweep(SweepSpec(backends=("torch",), **TINY), tmp_path, quiet=True)
    row = pd.read_csv(tmp_path / "cells.csv").iloc[0]
    assert row.status == "skipped" and "backend torch is not installed" in row.error
