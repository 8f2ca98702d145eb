"""Executors: where cells run. The local executor runs one child process at a time (clean timings).

The seam for a distributed executor (Ray: cells spread over GPUs and hosts) is :class:`Executor`:
it receives cells and yields :class:`CellOutcome` objects back to the one process that owns the run
directory, in any order. Nothing in an executor writes result files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.devices import gpu_index
from bench.spec import Cell

STDERR_TAIL_LINES = 5


@dataclass
class CellOutcome:
    """What came back from one cell: a row fragment (metrics or error) and its long-form rows."""

    cell: Cell
    status: str  # ok | failed
    row: dict[str, Any]
    epochs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)


class Executor(Protocol):
    def run(self, cells: Iterable[Cell]) -> Iterator[CellOutcome]: ...


def default_threads() -> int:
    """Threads per cell: every core this process may use (2 on the reference machine)."""
    return len(os.sched_getaffinity(0))


def child_env(cell: Cell, threads: int) -> dict[str, str]:
    """The environment a cell's process starts with: backend, device visibility and threads fixed."""
    env = dict(os.environ)
    index = gpu_index(cell.device)
    env.update(
        KERAS_BACKEND=cell.backend,
        CUDA_VISIBLE_DEVICES="" if index is None else str(index),
        OMP_NUM_THREADS=str(threads),
        TF_NUM_INTRAOP_THREADS=str(threads),
        TF_NUM_INTEROP_THREADS="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONHASHSEED=str(cell.seed),
        PYTHONUNBUFFERED="1",
    )
    return env


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class LocalExecutor:
    """Runs cells one at a time, each in a fresh ``python -m bench.runner`` process."""

    def __init__(self, log_dir: Path, timeout_s: float, threads: int | None = None,
                 data_path: str | None = None, allow_unverified: bool = False) -> None:
        self.log_dir = Path(log_dir)
        self.timeout_s = timeout_s
        self.threads = threads or default_threads()
        self.data_path = data_path
        self.allow_unverified = allow_unverified

    def run(self, cells: Iterable[Cell]) -> Iterator[CellOutcome]:
        for cell in cells:
            yield self.run_one(cell)

    def run_one(self, cell: Cell) -> CellOutcome:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{cell.cell_id}.log"
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="rnnbench-cell-") as tmp:
            job, result = Path(tmp) / "job.json", Path(tmp) / "result.json"
            job.write_text(json.dumps({
                "cell": cell.to_dict(), "threads": self.threads,
                "data_path": self.data_path, "allow_unverified": self.allow_unverified,
            }))
            with open(log_path, "wb") as log:
                # A new session, so a timeout kills the child and anything it started.
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bench.runner", str(job), str(result)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=child_env(cell, self.threads), start_new_session=True,
                )
                try:
                    code = proc.wait(timeout=self.timeout_s)
                    timed_out = False
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    code = proc.wait()
                    timed_out = True
            wall_s = time.perf_counter() - start
            if not timed_out and code == 0 and result.is_file():
                payload = json.loads(result.read_text())
                row = {**payload["row"], "wall_s": wall_s}
                return CellOutcome(cell, "ok", row, payload["epochs"], payload["steps"])
        if timed_out:
            reason = f"timed out after {self.timeout_s:g} s"
        else:
            reason = _describe_exit(code)
        tail = _tail(log_path)
        error = f"{reason}; log {log_path.name}" + (f": {tail}" if tail else "")
        return CellOutcome(cell, "failed", {"error": error, "wall_s": wall_s, "threads": self.threads})
