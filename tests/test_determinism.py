"""With a fixed seed on a CPU, the same cell twice gives the same accuracies (op determinism)."""

from __future__ import annotations

import pandas as pd
import pytest
from rnnbench.config.spec import SweepSpec
from rnnbench.execute.sweep import run_sweep
from rnnbench.storage.store import load_run


@pytest.mark.slow
def test_same_cell_same_accuracy(tmp_path):
    spec = SweepSpec(models=("gru",), maxlen=(32,), batch_size=(64,), epochs=2, train_samples=600, test_samples=300,
                     speed_target_s=0.2)
    run_sweep(spec, tmp_path / "a", quiet=True)
    run_sweep(spec, tmp_path / "b", quiet=True)
    a, b = (pd.read_csv(tmp_path / d / "cells.csv").iloc[0] for d in ("a", "b"))
    assert a.status == b.status == "ok"
    for column in ("val_acc", "test_acc", "test_loss"):
        assert a[column] == b[column], column
    pa, pb = (load_run(tmp_path / d).predictions[a.cell_id] for d in ("a", "b"))
    assert pa.test_fingerprint == pb.test_fingerprint and (pa.predicted == pb.predicted).all() and pa.examples == 300
    ea, eb = (pd.read_csv(tmp_path / d / "epochs.csv") for d in ("a", "b"))
    assert ea[["loss", "val_loss"]].equals(eb[["loss", "val_loss"]])
    # A different seed trains differently: the comparison above could fail.
    run_sweep(spec.replace(seeds=(1,)), tmp_path / "c", quiet=True)
    c = pd.read_csv(tmp_path / "c" / "cells.csv").iloc[0]
    assert c.test_loss != a.test_loss


@pytest.mark.slow
def test_xla_cell_runs_with_xla(tmp_path):
    """Keras drops jit_compile=True under TensorFlow op determinism; the runner must not let that pass."""
    spec = SweepSpec(models=("gru",), maxlen=(16,), batch_size=(32,), jit_compile=(True,), epochs=0, train_samples=128,
                     test_samples=64, speed_target_s=0.2)
    run_sweep(spec, tmp_path, quiet=True)
    row = pd.read_csv(tmp_path / "cells.csv").iloc[0]
    assert row.status == "ok", row.error
    assert "op determinism off" in row.notes


def test_runner_refuses_a_silently_changed_jit_setting():
    import keras
    from rnnbench.cell.runner import _compiled

    cell = SweepSpec(models=("gru",), maxlen=(8,), jit_compile=(True,), epochs=0).expand()[0]
    original = keras.Model.compile

    def compile_then_drop_xla(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._jit_compile = False  # what Keras does under op determinism

    keras.Model.compile = compile_then_drop_xla
    try:
        with pytest.raises(RuntimeError, match="resolved jit_compile=False"):
            _compiled(cell, vocab_size=10_000, num_classes=2)
    finally:
        keras.Model.compile = original
