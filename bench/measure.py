"""Timing a compiled Keras model: steady-state training throughput and inference latency.

Protocol (README, "How a cell is measured"; details in docs/measurement.md):

* warm-up steps run first; their excess over the steady-state step time is ``compile_s``
  (tracing, XLA compilation, first-touch allocation);
* then ``repeats`` timed epochs of ``steps`` steps each through ``model.fit``, the path users run;
  each repeat gives one samples/s figure from the sum of its synced step times, and every step's time
  is kept raw. The epoch boundary (Keras builds a new data iterator per epoch) is left out: it costs
  ~20 ms, amortised over hundreds of steps in real training but not over a repeat's few dozen, and it
  spikes now and then, which alone made XLA cells' CV several times larger (docs/measurement.md);
* Python's garbage collector is paused inside the timed fit (as ``timeit`` does), so a collection
  triggered by the harness's own bookkeeping does not land in a step;
* the budget adapts to a target time per cell, so fast and slow cells get comparable confidence: a
  repeat is a fifth of the target, in as many steps as fit; a cell so fast that ``MAX_STEPS`` steps
  fill less than that gets more repeats instead (up to ``MAX_REPEATS``), so it is timed for the
  target too;
* every clock read follows a host sync on the step's loss, so asynchronous backends (JAX, GPUs)
  cannot end a timer before their work is done.

Framework imports stay inside functions: this module is imported by the child process only after
the backend and thread settings are fixed.
"""

from __future__ import annotations

import gc
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

WARMUP_STEPS = 3
MIN_STEPS, MAX_STEPS = 2, 200
REPEATS = 5  # the least, and the count whenever MAX_STEPS steps fill a fifth of the target
MAX_REPEATS = 50


def sync_on_loss(logs) -> None:
    """Wait for the step that produced ``logs`` by pulling its loss to the host (async backends, GPUs)."""
    if logs and "loss" in logs:
        np.asarray(logs["loss"])


def step_timer():
    """A Keras callback recording every training step's wall time, synced on the loss before each read."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        """Records per-step wall times, syncing on the loss before each clock read."""

        def __init__(self) -> None:
            super().__init__()
            self.step_s: list[float] = []

        def on_train_batch_begin(self, batch, logs=None):
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            sync_on_loss(logs)
            self.step_s.append(time.perf_counter() - self._t0)

    return StepTimer()


@dataclass
class TrainSpeed:
    """What a timed fit gives; the figures derived from it (median, CV) are bench/result.py's."""

    compile_s: float
    steps_per_repeat: int
    repeats: int
    step_s: list[float] = field(repr=False)  # raw per-step times of the timed repeats
    repeat_samples_per_s: list[float] = field(repr=False, default_factory=list)


@contextmanager
def _gc_paused():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """``steps`` batches cut from the data, wrapping around when the data is shorter."""
    idx = np.arange(batch_size * steps) % len(x)
    return x[idx], y[idx]


def budget(target_s: float, step_s: float) -> tuple[int, int]:
    """Steps per repeat and repeats that fill ``target_s`` seconds of steps of ``step_s`` seconds."""
    step_s = max(step_s, 1e-6)
    steps = int(min(MAX_STEPS, max(MIN_STEPS, math.ceil(target_s / REPEATS / step_s))))
    repeats = int(min(MAX_REPEATS, max(REPEATS, math.ceil(target_s / (steps * step_s)))))
    return steps, repeats


def train_speed(model, x: np.ndarray, y: np.ndarray, batch_size: int, target_s: float, callbacks=(),
                steps: int | None = None, repeats: int | None = None) -> TrainSpeed:
    """Steady-state training throughput of an already compiled ``model``.

    ``callbacks`` run inside the timed region, before the timer's clock reads (tests use this to plant
    a known slowdown). ``steps`` and ``repeats`` fix the budget instead of deriving it from the warm-up
    (a cell's further speed processes use the first one's, so all its repeats are alike).
    """
    xw, yw = _batches(x, y, batch_size, WARMUP_STEPS)
    warm = step_timer()
    t0 = time.perf_counter()
    model.fit(xw, yw, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[*callbacks, warm])
    warmup_s = time.perf_counter() - t0
    # Steps after the first are already compiled: they estimate the steady step time for budgeting.
    est_step = float(np.median(warm.step_s[1:])) if len(warm.step_s) > 1 else warmup_s
    steps, repeats = budget(target_s, est_step) if steps is None else (steps, repeats or REPEATS)

    xs, ys = _batches(x, y, batch_size, steps)
    timer = step_timer()
    with _gc_paused():
        model.fit(xs, ys, batch_size=batch_size, epochs=repeats, shuffle=False, verbose=0, callbacks=[*callbacks, timer])
    step_s = np.array(timer.step_s).reshape(repeats, steps)
    per_repeat = steps * batch_size / step_s.sum(axis=1)
    median_step = float(np.median(timer.step_s))
    return TrainSpeed(
        compile_s=max(0.0, warmup_s - WARMUP_STEPS * median_step),
        steps_per_repeat=steps,
        repeats=repeats,
        step_s=list(timer.step_s),
        repeat_samples_per_s=[float(v) for v in per_repeat],
    )


@dataclass
class InferSpeed:
    samples_per_s: float
    latency_ms_p50: float
    latency_ms_p95: float
    calls: int


def infer_speed(model, x: np.ndarray, batch_size: int, target_s: float) -> InferSpeed:
    """Latency of one ``predict_on_batch`` call at the cell's batch size, and the throughput it implies."""
    xb = _batches(x, x[:, :1], batch_size, 1)[0]
    for _ in range(2):  # warm-up: tracing and compilation of the predict function
        model.predict_on_batch(xb)
    latencies = []
    start = time.perf_counter()
    while len(latencies) < 10 or (time.perf_counter() - start < target_s and len(latencies) < 1000):
        t0 = time.perf_counter()
        np.asarray(model.predict_on_batch(xb))  # returns host numpy: the call is complete
        latencies.append(time.perf_counter() - t0)
    lat = np.array(latencies)
    p50 = float(np.percentile(lat, 50))
    return InferSpeed(batch_size / p50, p50 * 1e3, float(np.percentile(lat, 95)) * 1e3, len(lat))
