"""Test-only hooks of the cell process, each off unless its environment variable is set.

They let tests and the gate's validation plant what the harness must notice (a crash, a hang, a memory
runaway, a slower training step, worse accuracy) without changing a model. The same-machine A/B
(bench/verdict/ab.py) keeps them from the base side: they stand for a change in the new code.
"""

from __future__ import annotations

import os
import time

import numpy as np
from rnnbench.config.spec import Cell

#: Test-only fault injection, off unless set: "MODEL:KIND" makes cells of MODEL misbehave, so tests can
#: check that a crash, a hang or a hard kill costs one failed row and nothing more.
FAULT_ENV = "RNNBENCH_FAULT_INJECT"


def inject_fault(cell: Cell) -> None:
    """Misbehave as ``RNNBENCH_FAULT_INJECT`` asks, if it names this cell's model."""
    spec = os.environ.get(FAULT_ENV, "")
    model, _, kind = spec.partition(":")
    if not spec or model != cell.model:
        return
    if kind == "raise":
        raise RuntimeError("injected fault")
    if kind == "segfault":
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
    if kind == "hang":
        time.sleep(3600)
    if kind == "alloc":  # grows by 100 MB a step until something stops it
        hog = []
        while True:
            hog.append(np.ones(100 * 2**20, dtype=np.uint8))
            time.sleep(0.02)


#: Test-only plants for the regression gate, off unless set: "MODEL:FRACTION".
#: PLANT_SLOWDOWN makes every training step of MODEL take FRACTION longer (a sleep inside the step's
#: timed region); PLANT_LABEL_NOISE flips FRACTION of MODEL's training labels, so it really learns worse.
PLANT_SLOWDOWN_ENV, PLANT_LABEL_NOISE_ENV = "RNNBENCH_PLANT_SLOWDOWN", "RNNBENCH_PLANT_LABEL_NOISE"


def planted(env: str, cell: Cell) -> float:
    """The fraction ``env`` plants into this cell's model (0.0 when it names another model or is unset)."""
    model, _, fraction = os.environ.get(env, "").partition(":")
    return float(fraction) if model == cell.model and fraction else 0.0


def slowdown_callbacks(fraction: float) -> list:
    """Keras callbacks that make every training step ``fraction`` longer, inside the step's timed region."""
    if not fraction:
        return []
    import keras
    from rnnbench.cell.measure import sync_on_loss

    class PlantedSlowdown(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            sync_on_loss(logs)
            time.sleep(fraction * (time.perf_counter() - self._t0))

    return [PlantedSlowdown()]

#: Test-only plant for the overhead benchmark (tox -e bench), off unless set: "FRACTION" makes the
#: harness's instrumented fit FRACTION slower per step, so the overhead verdict can be seen to fail.
PLANT_OVERHEAD_ENV = "RNNBENCH_PLANT_OVERHEAD"

def overhead_callbacks(fraction: float) -> list:
    """Keras callbacks that make a whole fit about ``fraction`` slower: after each step, a sleep of
    ``fraction`` of the time since the previous step ended (its compute and everything Keras did around
    it), so the plant scales with the fit's wall time, which is what the overhead benchmark compares."""
    if not fraction:
        return []
    import keras
    from rnnbench.cell.measure import sync_on_loss

    class PlantedOverhead(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            sync_on_loss(logs)
            now = time.perf_counter()
            time.sleep(fraction * (now - self._last))
            self._last = time.perf_counter()

    return [PlantedOverhead()]


#: Every hook's variable (bench/verdict/ab.py strips them from the base side's environment).
HOOK_ENVS = (FAULT_ENV, PLANT_SLOWDOWN_ENV, PLANT_LABEL_NOISE_ENV, PLANT_OVERHEAD_ENV)
