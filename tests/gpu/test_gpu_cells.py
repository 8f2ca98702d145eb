"""On a machine with a GPU: one cuDNN and one generic cell per installed backend, end to end.

Skipped where no backend sees a GPU (this project's machines so far), so it proves nothing there; it is
what to run first on a GPU: ``python -m pytest tests/gpu -m gpu``. It checks that the plan lets the cells
run, that each ran on the kernel its row names (``kernel_effective``), that the framework's and the
device's memory peaks are filled on a GPU cell, and that the energy columns are filled where NVML can
read them, else empty with a note (never zero).
"""

from __future__ import annotations

import pandas as pd
import pytest
from rnnbench.config.plan import skip_reason
from rnnbench.config.spec import SweepSpec
from rnnbench.execute.devices import backend_installed, visible_gpus
from rnnbench.execute.sweep import run_sweep

pytestmark = [pytest.mark.gpu, pytest.mark.slow]

BACKENDS = [b for b in ("tensorflow", "jax", "torch") if backend_installed(b)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_cudnn_and_a_generic_cell_run_on_the_kernel_they_name(tmp_path, backend):
    if not visible_gpus(backend):
        pytest.skip(f"{backend} sees no GPU on this machine")
    spec = SweepSpec(models=("lstm",), kernels=("generic", "cudnn"), backends=(backend,), devices=("gpu",),
                     units=(128,), maxlen=(100,), batch_size=(256,), epochs=0, train_samples=4096,
                     test_samples=1024, speed_target_s=0.5)
    assert [skip_reason(c) for c in spec.expand()] == [None, None]
    run_sweep(spec, tmp_path, quiet=True)
    cells = pd.read_csv(tmp_path / "cells.csv").set_index("kernel")
    for kernel in ("generic", "cudnn"):
        row = cells.loc[kernel]
        assert row.status == "ok", row.error
        assert row.kernel_effective == kernel
        assert row.gpu_peak_mb > 0 or "reports no peak" in row.notes
        for column in ("gpu_device_peak_mb", "gpu_energy_j_per_sample", "gpu_power_w_mean"):
            assert (pd.notna(row[column]) and row[column] > 0) or column in row.notes, column
