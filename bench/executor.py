"""Executors: where cells run. The local executor runs one child process at a time (clean timings).

An executor receives cells and yields :class:`CellOutcome` objects back to the one process that owns
the run directory, in any order, and measures the calibration its cells' efficiency is against.
Nothing in an executor writes result files; the child processes themselves are
:class:`~rnnbench.spawner.Spawner`'s, which the next executors (slots in parallel, Ray) reuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rnnbench.result import CellResult
from rnnbench.spawner import Spawner
from rnnbench.spec import Cell


@dataclass
class CellOutcome:
    """What came back from one cell: a row fragment (metrics or error) and its long-form rows."""

    cell: Cell
    status: str  # ok | failed
    row: dict[str, Any]
    epochs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)


class Executor(Protocol):
    #: calibration figures measured so far, by (backend, device); None where one failed
    calibrations: dict[tuple[str, str], dict[str, Any] | None]

    def run(self, cells: Iterable[Cell], on_start: Callable[[Cell], None] | None = None) -> Iterator[CellOutcome]: ...


class LocalExecutor:
    """Runs cells one at a time on this machine, each process through one :class:`Spawner`."""

    def __init__(self, log_dir: Path, timeout_s: float, threads: int | None = None,
                 data: dict[str, Any] | None = None,
                 memory_limit_mb: float | None = None, processes: int = 1,
                 cpus: tuple[int, ...] | None = None) -> None:
        self.spawner = Spawner(log_dir, timeout_s, threads=threads, data=data,
                               memory_limit_mb=memory_limit_mb, cpus=cpus)
        self.processes = processes
        self.calibrations: dict[tuple[str, str], dict[str, Any] | None] = {}

    def run(self, cells: Iterable[Cell], on_start: Callable[[Cell], None] | None = None) -> Iterator[CellOutcome]:
        """Run ``cells``, yielding each one's outcome when it is complete.

        With one process per cell, cells run and complete one after the other. With several, the
        processes run in interleaved rounds (asv's ``--interleave-rounds``): every cell's first process
        (speed and accuracy), then every cell's second (speed only), and so on, so a minute in which the
        machine runs slow (docs/measurement.md, "Speed processes") costs each cell at most one process
        instead of all of one cell's. A cell is complete, and yielded, after
        its last round; a sweep killed before then reruns it.
        """
        pending: dict[str, tuple[Cell, list[CellResult], float]] = {}
        for cell in cells:
            if on_start:
                on_start(cell)
            start = time.perf_counter()
            result, reason = self._spawn(cell, self.spawner.log_path(cell), {})
            wall_s = time.perf_counter() - start
            if result is None:
                yield self._failed(cell, reason, wall_s)
            elif self.processes == 1:
                yield self._ok(cell, [result], wall_s)
            else:
                pending[cell.cell_id] = (cell, [result], wall_s)
        for k in range(2, self.processes + 1):
            for cid, (cell, results, wall_s) in list(pending.items()):
                if on_start:
                    on_start(cell)
                start = time.perf_counter()
                first = results[0]
                extra = {"speed_only": True, "steps": first.steps_per_repeat, "repeats": first.repeats}
                result, reason = self._spawn(cell, self.spawner.log_path(cell), extra)
                wall_s += time.perf_counter() - start
                if result is None:
                    del pending[cid]
                    yield self._failed(cell, f"speed process {k} of {self.processes}: {reason}", wall_s)
                    continue
                results.append(result)
                pending[cid] = (cell, results, wall_s)
                if k == self.processes:
                    del pending[cid]
                    yield self._ok(cell, results, wall_s)

    def calibrate(self, backend: str, device: str) -> dict[str, Any] | None:
        """The calibration for ``backend``/``device``, measured once per pair with the cells' settings."""
        key = (backend, device)
        if key not in self.calibrations:
            self.calibrations[key] = self.spawner.calibrate(backend, device)
        return self.calibrations[key]

    def _spawn(self, cell: Cell, log_path: Path, extra: dict[str, Any]) -> tuple[CellResult | None, str]:
        return self.spawner.spawn(cell, log_path, extra)

    def _ok(self, cell: Cell, results: list[CellResult], wall_s: float) -> CellOutcome:
        result = CellResult.pool(results)
        calibration = self.calibrate(cell.backend, cell.device)
        row = {**result.metrics(calibration["matmul_gflops"] if calibration else None), "wall_s": wall_s, **self.spawner.settings()}
        return CellOutcome(cell, "ok", row, list(result.epochs), list(result.steps))

    def _failed(self, cell: Cell, reason: str, wall_s: float) -> CellOutcome:
        return CellOutcome(cell, "failed", {"error": self.spawner.failure(cell, reason), "wall_s": wall_s, **self.spawner.settings()})
