"""Executors: where cells run. The local executor runs one child process at a time (clean timings), or
``--parallel N`` of them in slots of disjoint cores.

An executor receives cells and yields :class:`CellOutcome` objects back to the one process that owns
the run directory, in any order, and measures the calibration its cells' efficiency is against.
Nothing in an executor writes result files; the child processes themselves are
:class:`~rnnbench.execute.spawner.Spawner`'s, which every executor reuses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from rnnbench.config.spec import Cell
from rnnbench.errors import BadInput
from rnnbench.execute.devices import gpu_index, visible_gpus
from rnnbench.execute.processes import CellProcesses
from rnnbench.execute.spawner import Spawner
from rnnbench.storage.result import CellResult


@dataclass
class CellOutcome:
    """What came back from one cell: a row fragment (metrics or error) and its long-form rows."""

    cell: Cell
    status: str  # ok | failed
    row: dict[str, Any]
    epochs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)  # its predictions.csv row, if it has one


def ok_outcome(cell: Cell, results: list[CellResult], wall_s: float, calibration: dict[str, Any] | None,
               settings: dict[str, Any]) -> CellOutcome:
    """A complete cell's outcome, for every executor: its processes' results pooled, efficiency against
    ``calibration`` (None: empty), and the row fields the executor records (``settings``)."""
    result = CellResult.pool(results)
    row = {**result.metrics(calibration["matmul_gflops"] if calibration else None), "wall_s": wall_s, **settings}
    return CellOutcome(cell, "ok", row, list(result.epochs), list(result.steps),
                       [result.predictions] if result.predictions is not None else [])


def failed_outcome(cell: Cell, error: str, wall_s: float, settings: dict[str, Any]) -> CellOutcome:
    """A failed cell's outcome, for every executor."""
    return CellOutcome(cell, "failed", {"error": error, "wall_s": wall_s, **settings})


class Executor(Protocol):
    #: calibration figures measured so far, by (backend, device); None where one failed
    calibrations: dict[tuple[str, str], dict[str, Any] | None]

    def run(self, cells: Iterable[Cell], on_start: Callable[[Cell], None] | None = None) -> Iterator[CellOutcome]: ...


def slot_cores(cores: tuple[int, ...], parallel: int) -> list[tuple[int, ...]]:
    """``cores`` cut into ``parallel`` disjoint, equal, contiguous slots (a remainder is left to the OS);
    BadInput when there are fewer cores than slots."""
    cores = tuple(sorted(cores))
    if parallel > len(cores):
        raise BadInput(f"--parallel {parallel} needs at least {parallel} cores, one per slot; this sweep may use "
                       f"{len(cores)} ({','.join(map(str, cores))})")
    size = len(cores) // parallel
    return [cores[k * size:(k + 1) * size] for k in range(parallel)]


class LocalExecutor:
    """Runs cells on this machine: one at a time, or in ``parallel`` slots, each through a :class:`Spawner`.

    With one slot (the default) a cell has the machine to itself, as before slots existed: its process may
    use every core (or ``cpus``). With N slots the usable cores are cut into N disjoint sets; a slot's cell
    is confined to its own cores (its threads default to their number) and, on a GPU cell, gets a GPU no
    other running cell has: ``gpu:N`` waits for GPU N, ``gpu`` takes any free one. The memory limit applies
    to each cell.
    """

    def __init__(self, config: CellProcesses, gpu_count: Callable[[], int] | None = None) -> None:
        threads, cpus, parallel, processes = config.threads, config.cpus, config.parallel, config.processes
        if parallel == 1:
            layout = [cpus]
        else:
            if threads and cpus is None and threads > len(os.sched_getaffinity(0)) // parallel:
                raise BadInput(f"threads = {threads} is more than the {len(os.sched_getaffinity(0)) // parallel} "
                               f"core(s) each of {parallel} slots has; lower --threads or --parallel")
            layout = slot_cores(cpus or tuple(os.sched_getaffinity(0)), parallel)
            if threads and threads > len(layout[0]):
                raise BadInput(f"threads = {threads} is more than the {len(layout[0])} core(s) each of {parallel} "
                               "slots has; lower --threads or --parallel")
        # Several speed processes per cell exist to sample what differs between fresh processes (address-space
        # layout, hash seed); children of one fork server would be copies of it, so those cells are spawned.
        self.launch = config.launch if processes == 1 else "spawn"
        self.slots = [Spawner(config.replace(cpus=c, launch=self.launch)) for c in layout]
        self.spawner = self.slots[0]
        self.processes = processes
        self.calibrations: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._gpu_count = gpu_count

    def run(self, cells: Iterable[Cell], on_start: Callable[[Cell], None] | None = None) -> Iterator[CellOutcome]:
        """Run ``cells``, yielding each one's outcome when it is complete.

        With one process per cell, a cell is complete after its process. With several, the processes run
        in interleaved rounds (asv's ``--interleave-rounds``): every cell's first process (speed and
        accuracy), then every cell's second (speed only), and so on, so a minute in which the machine runs
        slow (docs/measurement.md, "Speed processes") costs each cell at most one process instead of all of
        one cell's. A cell is complete, and yielded, after its last round; a sweep killed before then
        reruns it. Within a round, the slots take the cells in order.
        """
        cells = list(cells)
        if len(self.slots) > 1:
            # Measured in the slot layout the cells will run in: every slot calibrating at once.
            for key in dict.fromkeys((c.backend, c.device) for c in cells):
                self._calibrate_in_slots(*key)
        # cell id -> (cell, its processes' results, wall seconds so far, the slot of its first process)
        pending: dict[str, tuple[Cell, list[CellResult], float, Spawner | None]] = {c.cell_id: (c, [], 0.0, None) for c in cells}
        for k in range(1, self.processes + 1):
            jobs = []
            for cell, results, _, _ in pending.values():
                extra = {} if k == 1 else {"speed_only": True, "steps": results[0].steps_per_repeat,
                                           "repeats": results[0].repeats}
                jobs.append((cell, extra))
            for cell, result, reason, wall_s, spawner in self._round(jobs, on_start):
                _, results, spent, first = pending[cell.cell_id]
                spent, first = spent + wall_s, first or spawner  # the row names the cores it trained on
                if result is None:
                    del pending[cell.cell_id]
                    yield self._failed(cell, reason if k == 1 else f"speed process {k} of {self.processes}: {reason}",
                                       spent, first)
                elif k == self.processes:
                    del pending[cell.cell_id]
                    yield self._ok(cell, [*results, result], spent, first)
                else:
                    pending[cell.cell_id] = (cell, [*results, result], spent, first)

    def _round(self, jobs: list[tuple[Cell, dict[str, Any]]], on_start: Callable[[Cell], None] | None):
        """One process per job, one job per free slot at a time; yields (cell, result, reason, wall_s) as each ends."""
        if len(self.slots) == 1:  # in this thread, exactly as before slots existed
            for cell, extra in jobs:
                if on_start:
                    on_start(cell)
                yield (cell, *self._timed(self.slots[0], cell, extra, None))
            return
        free_slots = list(range(len(self.slots)))
        busy_gpus: set[int] = set()
        queue = list(jobs)
        running: dict[Future, tuple[Cell, int, int | None]] = {}
        with ThreadPoolExecutor(max_workers=len(self.slots)) as pool:
            while queue or running:
                for job in list(queue):
                    if not free_slots:
                        break
                    gpu = self._free_gpu(job[0], busy_gpus)
                    if gpu is False:
                        continue  # its GPU is busy: a later cell may start first
                    queue.remove(job)
                    slot = free_slots.pop(0)
                    if gpu is not None:
                        busy_gpus.add(gpu)
                    if on_start:
                        on_start(job[0])
                    running[pool.submit(self._timed, self.slots[slot], job[0], job[1], gpu)] = (job[0], slot, gpu)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    cell, slot, gpu = running.pop(future)
                    free_slots.append(slot)
                    free_slots.sort()
                    busy_gpus.discard(gpu)
                    yield (cell, *future.result())

    def _free_gpu(self, cell: Cell, busy: set[int]) -> int | None | bool:
        """The GPU a cell gets now: None for a CPU cell, an index, or False when the one it needs is taken."""
        index = gpu_index(cell.device)
        if index is None:
            return None
        if ":" in cell.device:
            return False if index in busy else index
        count = max(1, self._gpu_count() if self._gpu_count else len(visible_gpus(cell.backend)))
        return next((g for g in range(count) if g not in busy), False)

    def _timed(self, spawner: Spawner, cell: Cell, extra: dict[str, Any],
               gpu: int | None) -> tuple[CellResult | None, str, float, Spawner]:
        start = time.perf_counter()
        result, reason = self._spawn(spawner, cell, extra, gpu)
        return result, reason, time.perf_counter() - start, spawner

    def _spawn(self, spawner: Spawner, cell: Cell, extra: dict[str, Any], gpu: int | None) -> tuple[CellResult | None, str]:
        return spawner.spawn(cell, spawner.log_path(cell), extra, gpu=gpu)

    def _calibrate_in_slots(self, backend: str, device: str) -> None:
        key = (backend, device)
        if key in self.calibrations:
            return
        with ThreadPoolExecutor(max_workers=len(self.slots)) as pool:
            figures = list(pool.map(lambda s: s.calibrate(backend, device), self.slots))
        ok = [f for f in figures if f]
        if not ok:
            self.calibrations[key] = None
            return
        # One figure per pair, as with one slot: the median slot's, so efficiency stays comparable.
        median = sorted(ok, key=lambda f: f["matmul_gflops"])[len(ok) // 2]
        self.calibrations[key] = {**median, "slots": len(self.slots), "slot_gflops": [f["matmul_gflops"] for f in ok]}

    def calibrate(self, backend: str, device: str) -> dict[str, Any] | None:
        """The calibration for ``backend``/``device``, measured once per pair with the cells' settings."""
        key = (backend, device)
        if key not in self.calibrations:
            self.calibrations[key] = self.spawner.calibrate(backend, device)
        return self.calibrations[key]

    def close(self) -> None:
        """Stop the slots' fork servers."""
        for spawner in self.slots:
            spawner.close()

    def _ok(self, cell: Cell, results: list[CellResult], wall_s: float, spawner: Spawner) -> CellOutcome:
        outcome = ok_outcome(cell, results, wall_s, self.calibrate(cell.backend, cell.device), spawner.settings(cell))
        self._note_launch(outcome, spawner)
        return outcome

    def _failed(self, cell: Cell, reason: str, wall_s: float, spawner: Spawner) -> CellOutcome:
        outcome = failed_outcome(cell, spawner.failure(cell, reason), wall_s, spawner.settings(cell))
        self._note_launch(outcome, spawner)
        return outcome

    def _note_launch(self, outcome: CellOutcome, spawner: Spawner) -> None:
        """A cell asked to fork but spawned says why. (A forked cell's figures mean what a spawned one's do,
        its peak memory included: bench/execute/resident_pages.py; its ``launch`` column says how it started.)"""
        why = spawner.launch_note(outcome.cell)
        if self.launch == "fork" and outcome.row.get("launch") == "spawn" and why:
            outcome.row["notes"] = "; ".join(filter(None, [outcome.row.get("notes"), f"launch: spawned ({why})"]))
