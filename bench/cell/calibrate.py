"""The calibration figure: dense float32 matmul GFLOP/s on the cells' backend, device and threads.

Run as ``python -m rnnbench.cell.calibrate RESULT.json`` in a child set up exactly like a cell's, so that a
cell's ``efficiency`` (achieved GFLOP/s over this figure) compares like with like, and so that two
runs from different machines can be normalised by it.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

SIZE = 1024
REPEATS = 30


def measure(threads: int, size: int = SIZE, repeats: int = REPEATS) -> dict:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    from rnnbench.cell.backend_setup import pin_threads
    from rnnbench.storage.result import coefficient_of_variation

    pin_threads(backend, threads)
    import keras

    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((size, size), dtype=np.float32))
    b = keras.ops.convert_to_tensor(rng.standard_normal((size, size), dtype=np.float32))
    for _ in range(3):  # warm-up: kernel selection, allocation
        np.asarray(keras.ops.sum(keras.ops.matmul(a, b)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.asarray(keras.ops.sum(keras.ops.matmul(a, b)))  # the reduction syncs without copying the matrix
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    return {
        "backend": backend, "threads": threads, "size": size, "repeats": repeats,
        "matmul_gflops": 2 * size**3 / median / 1e9,
        "cv": coefficient_of_variation(times),
    }


if __name__ == "__main__":
    result = measure(int(sys.argv[2]))
    with open(sys.argv[1], "w") as f:
        json.dump(result, f)
