"""The machine sentinel: a small fixed workload, timed again and again on a spare core while a cell is timed.

A cell's repeats can spread because its own process varies or because the machine slows under it
(another tenant of the VM's host, a clock change). The sentinel tells the two apart. Beside the timed
fit it runs ``python -m bench.sentinel CORE FILE``, which times a single-threaded ~1 ms matmul burst
every ``INTERVAL_S`` (2% of one core) and appends ``start duration`` lines to FILE. Per repeat of the
cell, the median burst time is how fast the machine ran then; the CV of those medians over the
repeats (``machine_cv``) sits beside the cell's own CV. A cell whose CV is high while ``machine_cv``
is too was measured on a busy machine; a high CV on a steady machine points into the cell's process.

It only runs where a core is left over (fewer threads than usable cores): beside a cell that uses
every core it would compete with what it watches.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

INTERVAL_S = 0.05
SIZE, REPEATS = 96, 8  # one burst: 8 products of 96 x 96 float32 matrices, ~1 ms on one core
START_TIMEOUT_S = 10.0


def _burst(a: np.ndarray) -> None:
    for _ in range(REPEATS):
        a @ a


def run(core: str, path: str) -> None:
    """The sentinel's loop (in its own process) until the cell process stops it."""
    if core != "-":
        os.sched_setaffinity(0, {int(core)})
    a = np.random.default_rng(0).standard_normal((SIZE, SIZE)).astype(np.float32)
    for _ in range(20):  # warm-up: page faults, BLAS start-up
        _burst(a)
    with open(path, "a", buffering=1) as out:
        while True:
            t0 = time.perf_counter()
            _burst(a)
            t1 = time.perf_counter()
            out.write(f"{t0:.6f} {t1 - t0:.7f}\n")
            time.sleep(max(0.0, INTERVAL_S - (t1 - t0)))


class Sentinel:
    """Runs the sentinel process for the duration of a ``with`` block; ``samples`` holds what it timed.

    ``core``: the core to run on, or ``"-"`` to let the scheduler place it (on the core the cell leaves
    free, with one cell thread on two cores). Times are ``time.perf_counter`` readings, which on Linux
    share one clock (CLOCK_MONOTONIC) across processes.
    """

    def __init__(self, core: str, path: Path) -> None:
        self.core, self.path = core, Path(path)
        self.samples = np.empty((0, 2))

    def __enter__(self) -> Sentinel:
        from bench.executor import _die_with_parent

        self.path.unlink(missing_ok=True)
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.sentinel", self.core, str(self.path)],
                                     env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:  # its first sample: it is running
            if self.path.is_file() and self.path.stat().st_size:
                break
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()
        try:
            lines = self.path.read_text().splitlines()[:-1]  # the last line may be cut short
            self.samples = np.array([[float(v) for v in line.split()] for line in lines]).reshape(-1, 2)
        except (OSError, ValueError):
            self.samples = np.empty((0, 2))
        self.path.unlink(missing_ok=True)


def repeat_medians(samples: np.ndarray, windows: list[tuple[float, float]]) -> list[float | None]:
    """The sentinel's median burst time within each ``(start, end)`` window (None: no burst in it)."""
    out: list[float | None] = []
    for start, end in windows:
        inside = samples[(samples[:, 0] >= start) & (samples[:, 0] + samples[:, 1] <= end), 1] if len(samples) else []
        out.append(float(np.median(inside)) if len(inside) else None)
    return out


def machine_cv(medians: list[float | None]) -> float | None:
    """CV of the per-repeat sentinel medians; None unless at least two repeats have one."""
    values = np.array([m for m in medians if m is not None])
    return float(np.std(values, ddof=1) / np.mean(values)) if len(values) > 1 else None


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
