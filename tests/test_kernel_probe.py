"""kernel_effective: the kernel Keras actually ran, and a cell under the wrong label is a failed row."""

from __future__ import annotations

import types

import pytest
from rnnbench.cell.kernel_probe import KernelProbe, check


def _backend(fused_ok: bool):
    def lstm(*args, **kwargs):
        if not fused_ok:
            raise NotImplementedError("no cuDNN here")
        return "fused"

    return types.SimpleNamespace(lstm=lstm, gru=lstm)


def test_a_fused_call_that_returns_means_cudnn_ran():
    backend = _backend(fused_ok=True)
    probe = KernelProbe().install(backend)
    assert probe.effective == "generic"  # nothing called yet
    assert backend.lstm(1) == "fused"
    assert probe.effective == "cudnn" and probe.fused_calls["lstm"] == 1


def test_a_fused_call_that_falls_back_is_not_counted():
    backend = _backend(fused_ok=False)
    probe = KernelProbe().install(backend)
    with pytest.raises(NotImplementedError):  # the layer catches this and runs its generic loop
        backend.gru(1)
    assert probe.effective == "generic"


def test_installing_twice_does_not_wrap_twice():
    backend = _backend(fused_ok=True)
    KernelProbe().install(backend)
    second = KernelProbe().install(backend)
    assert second.installed == []


def test_check_refuses_a_cell_under_the_wrong_label():
    check("generic", "generic")
    with pytest.raises(RuntimeError, match="asked for the cudnn kernel but Keras ran the generic one"):
        check("cudnn", "generic")


def test_keras_generic_layers_never_call_the_fused_kernel_on_cpu():
    keras = pytest.importorskip("keras")
    import numpy as np
    from rnnbench.models import create_model

    probe = KernelProbe().install()
    for name in ("lstm", "gru", "simple_rnn"):
        model = create_model(name, maxlen=6)
        model(np.ones((2, 6), dtype="int32"))
    assert probe.effective == "generic" and probe.installed == ["lstm", "gru"]
    # and a layer allowed to try cuDNN ("auto") on a CPU is refused by the backend: still generic
    layer = keras.layers.LSTM(4, use_cudnn="auto")
    layer(np.ones((2, 3, 5), dtype="float32"))
    assert probe.effective == "generic"


@pytest.mark.slow
def test_a_cpu_cell_records_its_effective_kernel_and_start_up_phases(tmp_path):
    import pandas as pd
    from rnnbench.config.spec import SweepSpec
    from rnnbench.execute.sweep import run_sweep
    from rnnbench.storage.result import STARTUP_PHASES

    spec = SweepSpec(models=("lstm",), units=(8,), kernels=("generic",), maxlen=(8,), batch_size=(32,), epochs=0,
                     train_samples=64, test_samples=64, speed_target_s=0.1)
    run_sweep(spec, tmp_path, quiet=True)
    row = pd.read_csv(tmp_path / "cells.csv").iloc[0]
    assert row.status == "ok" and row.kernel_effective == "generic" and row.units == 8
    assert row.params == 10_000 * 32 + 4 * (8 * (32 + 8) + 8) + 9
    phases = [row[p] for p in STARTUP_PHASES]
    assert all(p >= 0 for p in phases) and sum(phases) == pytest.approx(row.startup_s, abs=0.01)
