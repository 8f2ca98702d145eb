"""A sweep killed with SIGKILL at random moments, and resumed each time, ends with every cell done once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from rnnbench.storage.schema import CELL_COLUMNS, EPOCH_COLUMNS, STEP_COLUMNS

KILLS = 10
ARGS = ["run", "--preset", "smoke", "--models", "simple_rnn,gru", "--maxlen", "8", "--seeds", "0,1,2",
        "--epochs", "1", "--train-samples", "64", "--test-samples", "64", "--speed-target", "0.1", "--quiet"]


def _read_clean(run_dir):
    """Every result file that exists reads cleanly with pandas, with the contract's columns."""
    out = {}
    for name, columns in (("cells.csv", CELL_COLUMNS), ("epochs.csv", EPOCH_COLUMNS), ("steps.csv", STEP_COLUMNS)):
        path = run_dir / name
        if path.exists():
            frame = pd.read_csv(path)
            assert list(frame.columns) == list(columns)
            out[name] = frame
    return out


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "rnnbench", *ARGS, "--out", str(run_dir)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    rng = random.Random(20261128)
    kills_landed = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, 9.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills_landed += 1
        proc.wait()
        _read_clean(run_dir)
    assert kills_landed >= KILLS // 2, "most kills should land while the sweep runs"

    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    files = _read_clean(run_dir)
    cells = files["cells.csv"]
    assert len(cells) == 6 and cells.cell_id.is_unique and set(cells.status) == {"ok"}
    epochs = files["epochs.csv"]
    assert sorted(epochs.cell_id) == sorted(cells.cell_id)  # exactly one epoch row per cell, no orphans
    steps = files["steps.csv"]
    assert set(steps.cell_id) == set(cells.cell_id)
    assert not steps.duplicated(["cell_id", "repeat", "step"]).any()
    assert not list(run_dir.glob(".rnnbench-scratch-*"))  # the last sweep removed every scratch folder
