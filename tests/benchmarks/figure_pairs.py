"""One configuration of the reported-figure check, in its own process (tests/benchmarks/bench_overhead.py).

``python figure_pairs.py THREADS JIT MAXLEN PAIRS [step]``: the parent confines this process to its
cores before it starts (so tf.data and TensorFlow size their pools for them, as in a cell); threads are
pinned here before TensorFlow runs an op. Each pair, in alternating order, is the harness's own timed
fit (``measure.train_speed``, its reported figure: the median repeat) and a bare ``model.fit`` of as
many epochs of the same length with nothing per step, whose figure is the median epoch's samples over
its wall clock from one epoch's end to the next (``model.fit``'s own loop, input pipeline and epoch
boundary included). ``step`` reports the step-only figure instead, which the check must catch. Prints
one JSON line: the reported and bare figures of every pair.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

import numpy as np

BATCH = 128
#: seconds of timed repeats per harness fit (a cell's default is 3.0; the comparison holds at any length,
#: since the bare fit runs epochs of the same length)
TARGET_S = float(os.environ.get("RNNBENCH_FIGURE_TARGET_S", 1.5))


def main(argv: list[str]) -> None:
    threads, jit, maxlen, pairs = int(argv[0]), argv[1] == "1", int(argv[2]), int(argv[3])
    figure = "repeat_step_samples_per_s" if argv[4:] == ["step"] else "repeat_samples_per_s"
    from rnnbench.cell.backend_setup import pin_threads

    pin_threads("tensorflow", threads, deterministic=not jit)
    import keras
    from rnnbench.cell import measure
    from rnnbench.models import create_model

    keras.utils.set_random_seed(0)
    model = create_model("lstm", maxlen=maxlen)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"], jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.integers(1, 10_000, size=(BATCH * 200, maxlen)).astype("int32")
    y = rng.integers(0, 2, size=(BATCH * 200,)).astype("float32")
    first = measure.train_speed(model, x, y, BATCH, TARGET_S)  # compiles; fixes the budget for every pair
    steps, repeats = first.steps_per_repeat, first.repeats
    xs, ys = x[: BATCH * steps], y[: BATCH * steps]

    class EpochEnds(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.t: list[float] = []

        def on_epoch_end(self, epoch, logs=None):
            self.t.append(time.perf_counter())

    def bare() -> float:
        ends = EpochEnds()
        gc.disable()
        try:
            model.fit(xs, ys, batch_size=BATCH, epochs=repeats + 1, shuffle=False, verbose=0, callbacks=[ends])
        finally:
            gc.enable()
        return float(np.median(steps * BATCH / np.diff(ends.t)))

    def harness() -> float:
        return float(np.median(getattr(measure.train_speed(model, x, y, BATCH, TARGET_S, steps=steps, repeats=repeats), figure)))

    reported, bare_figures = [], []
    for i in range(pairs):
        order = (harness, bare) if i % 2 == 0 else (bare, harness)
        got = {f.__name__: f() for f in order}
        reported.append(got["harness"])
        bare_figures.append(got["bare"])
    print(json.dumps({"reported": reported, "bare": bare_figures, "steps": steps, "repeats": repeats}))


if __name__ == "__main__":
    main(sys.argv[1:])
