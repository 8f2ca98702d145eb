"""Timing a compiled Keras model: steady-state training throughput and inference latency.

Protocol (README, "How a cell is measured"; details in docs/measurement.md):

* warm-up steps run first; their excess over the steady-state step time is ``compile_s``
  (tracing, XLA compilation, first-touch allocation);
* then a lead-in epoch and ``repeats`` timed epochs of ``steps`` steps each, in one ``model.fit``, the
  path users run. Each timed repeat gives one **wall-clock** samples/s figure: its samples over the time
  from the end of the previous epoch's last step to the end of its own last step. Everything a
  multi-epoch ``fit`` does per epoch is in: the steps, Keras's loop and callbacks between them, the
  input pipeline (``tf.data`` prepares batches on the cell's own cores), and the epoch boundary (Keras
  builds a new data iterator per epoch and tears down the last one, which on a busy core waits for
  tf.data's autotuner: measured up to the epoch's own length, docs/measurement.md). The lead-in epoch
  carries the fit's one-off set-up, which a user pays once per ``fit``, not per epoch;
* the steps alone give the narrower figure, ``train_step_samples_per_s`` (samples over the sum of the
  synced step times), and the share of the wall outside them says where the rest went; every step's
  time and the gap before it (from the previous step's end, or epoch's, to its start) are kept raw, so
  both readings can be rebuilt from the stored files;
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
    """A Keras callback recording every training step's start and end, synced on the loss before each end.

    ``step_s`` are the steps' own times; ``gap_s`` the time before each step since the previous step
    ended (NaN for the first step it sees: nothing ended before it).
    """
    import keras

    class StepTimer(keras.callbacks.Callback):
        """Records per-step wall times and the gaps between steps, syncing on the loss before each end."""

        def __init__(self) -> None:
            super().__init__()
            self.begin: list[float] = []
            self.end: list[float] = []

        def on_train_batch_begin(self, batch, logs=None):
            self.begin.append(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            sync_on_loss(logs)
            self.end.append(time.perf_counter())

        @property
        def step_s(self) -> list[float]:
            return [e - b for b, e in zip(self.begin, self.end, strict=False)]

        @property
        def gap_s(self) -> list[float]:
            return [math.nan, *(b - e for b, e in zip(self.begin[1:], self.end, strict=False))]

    return StepTimer()


@dataclass
class TrainSpeed:
    """What a timed fit gives; the figures derived from it (median, CV, shares) are bench/storage/result.py's."""

    compile_s: float
    steps_per_repeat: int
    repeats: int
    step_s: list[float] = field(repr=False)  # raw per-step times of the timed repeats
    #: the time before each timed step since the previous step's end (the first step of a repeat: the
    #: epoch boundary since the previous epoch's last step); a repeat's wall is the sum of both
    gap_s: list[float] = field(repr=False, default_factory=list)
    repeat_samples_per_s: list[float] = field(repr=False, default_factory=list)  # wall clock
    repeat_step_samples_per_s: list[float] = field(repr=False, default_factory=list)  # steps alone


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
        # One lead-in epoch, then the timed ones: each timed repeat starts where the previous epoch's
        # last step ended, so every repeat carries exactly one epoch boundary.
        model.fit(xs, ys, batch_size=batch_size, epochs=repeats + 1, shuffle=False, verbose=0,
                  callbacks=[*callbacks, timer])
    step_s = np.array(timer.step_s[steps:]).reshape(repeats, steps)
    gap_s = np.array(timer.gap_s[steps:]).reshape(repeats, steps)
    samples = steps * batch_size
    median_step = float(np.median(step_s))
    return TrainSpeed(
        compile_s=max(0.0, warmup_s - WARMUP_STEPS * median_step),
        steps_per_repeat=steps,
        repeats=repeats,
        step_s=[float(v) for v in step_s.ravel()],
        gap_s=[float(v) for v in gap_s.ravel()],
        repeat_samples_per_s=[float(v) for v in samples / (step_s + gap_s).sum(axis=1)],
        repeat_step_samples_per_s=[float(v) for v in samples / step_s.sum(axis=1)],
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
