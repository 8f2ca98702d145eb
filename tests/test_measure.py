"""The headline throughput is wall clock (bench/cell/measure.py): time outside the steps counts, and is said.

Sleeps planted between steps and at each epoch boundary stand for what Keras's loop, the input pipeline
and the data iterator's rebuild cost a training loop on a busy core: the wall-clock figure must pay for
them, the step-only figure must not, and the share outside the steps must name them. Before the
definition changed, the headline was the step-only figure and missed both.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import pytest
from rnnbench.cell import measure
from rnnbench.models import create_model
from rnnbench.storage.result import LOOP_BOUND_SHARE, CellResult

BATCH, MAXLEN = 32, 16


class _Sleeps(keras.callbacks.Callback):
    """Sleeps before every step (outside its timed region) and at every epoch's start."""

    def __init__(self, between_s: float, epoch_s: float) -> None:
        super().__init__()
        self.between_s, self.epoch_s = between_s, epoch_s

    def on_epoch_begin(self, epoch, logs=None):
        time.sleep(self.epoch_s)

    def on_train_batch_begin(self, batch, logs=None):
        time.sleep(self.between_s)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    m = create_model("simple_rnn", maxlen=MAXLEN)
    m.compile(optimizer="rmsprop", loss="binary_crossentropy", jit_compile=False)
    return m


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.integers(1, 10_000, size=(BATCH * 8, MAXLEN)).astype("int32"), rng.integers(0, 2, BATCH * 8).astype("float32")


def _timed(model, data, between_s=0.0, epoch_s=0.0):
    return measure.train_speed(model, *data, BATCH, target_s=0.5, callbacks=[_Sleeps(between_s, epoch_s)], steps=6, repeats=3)


def _result(train) -> CellResult:
    steps = tuple({"repeat": i // train.steps_per_repeat, "step": i % train.steps_per_repeat, "step_s": s, "gap_s": g}
                  for i, (s, g) in enumerate(zip(train.step_s, train.gap_s, strict=True)))
    return CellResult(threads=1, params=1, repeat_samples_per_s=tuple(train.repeat_samples_per_s),
                      repeat_step_samples_per_s=tuple(train.repeat_step_samples_per_s), steps_per_repeat=train.steps_per_repeat,
                      steps=steps, compile_s=0.0, infer_samples_per_s=1.0, infer_latency_ms_p50=1.0,
                      infer_latency_ms_p95=1.0, peak_rss_mb=1.0, data_fingerprint="x")


def test_a_repeat_is_its_wall_clock_the_steps_and_the_gaps_before_them(model, data):
    train = _timed(model, data, between_s=0.01, epoch_s=0.05)
    steps, gaps = np.reshape(train.step_s, (3, 6)), np.reshape(train.gap_s, (3, 6))
    assert np.all(np.isfinite(gaps)) and np.all(gaps >= 0)
    # Each gap holds the planted sleep; the first of a repeat also the epoch boundary's.
    assert np.all(gaps >= 0.01) and np.all(gaps[:, 0] >= 0.06)
    assert np.allclose(train.repeat_samples_per_s, 6 * BATCH / (steps + gaps).sum(axis=1))
    assert np.allclose(train.repeat_step_samples_per_s, 6 * BATCH / steps.sum(axis=1))


def test_time_outside_the_steps_lowers_the_headline_not_the_step_figure_and_is_flagged(model, data):
    quiet, busy = _result(_timed(model, data)), _result(_timed(model, data, between_s=0.02, epoch_s=0.1))
    # The headline pays for what runs between the steps; the steps alone do not see it.
    assert busy.train_samples_per_s < 0.8 * quiet.train_samples_per_s
    assert busy.train_step_samples_per_s > 0.5 * quiet.train_step_samples_per_s
    assert busy.train_outside_share > LOOP_BOUND_SHARE and busy.loop_bound
    assert "loop-bound" in busy.metrics()["notes"] and busy.metrics()["loop_bound"] is True
    assert quiet.train_outside_share < busy.train_outside_share


def test_a_result_without_gaps_has_no_share_rather_than_a_made_up_one():
    r = CellResult(threads=1, params=1, repeat_samples_per_s=(1.0, 1.0), steps_per_repeat=1,
                   steps=({"repeat": 0, "step": 0, "step_s": 0.1}, {"repeat": 1, "step": 0, "step_s": 0.1}),
                   compile_s=0.0, infer_samples_per_s=1.0, infer_latency_ms_p50=1.0, infer_latency_ms_p95=1.0,
                   peak_rss_mb=1.0, data_fingerprint="x")
    assert r.train_outside_share is None and r.loop_bound is None and r.train_step_samples_per_s is None


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux only")
def test_a_spawned_cells_peak_memory_is_its_own_not_the_size_of_the_process_that_started_it():
    """A spawned cell forks, sets itself up, then execs: ``ru_maxrss`` kept the pre-exec copy of its
    parent (a notebook that imported the framework read as the cell's peak); the figure is the cell's own."""
    import subprocess
    import sys

    parent = np.ones(400_000_000 // 8)  # 400 MB resident in the process that starts the cell
    code = "from rnnbench.cell.runner import peak_rss_mb; print(peak_rss_mb())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         preexec_fn=lambda: None)  # a fork before exec, as the spawner's die_with_parent set-up
    assert parent.sum() > 0
    assert float(out.stdout) < 300
