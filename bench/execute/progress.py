"""Sweep progress: a rich progress bar on a terminal, one plain line per cell otherwise, or nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO

from rnnbench.config.estimate import describe_seconds
from rnnbench.config.plan import group_skips
from rnnbench.config.spec import Cell

#: How many seconds of estimated cells the cost model's own pace weighs as, in the ETA (eta_s). Replayed on
#: two bare `rnnbench run`s (docs/scale.md, "The ETA"; chosen on them): without it the ETA at a cell's end
#: missed the time left by 43% and 25% on average (up to 158%, after the first cell); with 30 s by 13% and
#: 5%, with 60 s by 5% and 5% (up to 29%), with 120 s by 6% and 7%.
PACE_PRIOR_S = 60.0


class Progress:
    """Context manager reporting cells done/total, elapsed, ETA and the current cell."""

    def __init__(self, total: int, reused: int, quiet: bool, stream: IO[str], parallel: int = 1,
                 show_skipped: bool = False, estimate: Callable[[list[Cell]], dict[str, float]] | None = None) -> None:
        self.total, self.reused, self.quiet, self.stream = total, reused, quiet, stream
        self.parallel, self.show_skipped = parallel, show_skipped
        # The ETA: each cell's estimated seconds (bench/config/estimate.py), scaled by how long the cells
        # done so far took against their estimates (eta_s).
        self.estimate = estimate
        self.estimates: dict[str, float] = {}
        self.estimated_done = 0.0
        # The pace's clock starts with the first cell: the calibration that parallel slots run before it is
        # no cell's time. (With one slot, a backend's calibration runs after its first cell, inside the clock.)
        self.first_start: float | None = None
        self.running: dict[str, Cell] = {}  # cells started and not yet done, in start order
        self.done = 0
        self.t0 = time.perf_counter()
        self._bar = None

    def __enter__(self) -> Progress:
        if self.reused and not self.quiet:
            print(f"resuming: {self.reused} cell(s) already done in this directory", file=self.stream)
        if not self.quiet and self.stream.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("eta {task.fields[eta]}"), TextColumn("{task.description}"),
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total, eta="?")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def plan(self, runnable: list[Cell], skipped: list[tuple[Cell, str]]) -> None:
        """Before the first cell runs: estimate the cells to run, and say the cells that cannot run here
        once per reason (each one with ``show_skipped``); the count of cells to run no longer includes them."""
        if self.estimate is not None:
            self.estimates = self.estimate(runnable)
        self.total -= len(skipped)
        if self._bar is not None:
            eta = self.eta_s(0.0)
            self._bar.update(self._task, total=self.total, eta="?" if eta is None else describe_seconds(eta))
        if self.quiet or not skipped:
            return
        say = self._bar.console.print if self._bar is not None else lambda text: print(text, file=self.stream, flush=True)
        if self.show_skipped:
            for cell, reason in skipped:
                say(f"skipped {cell.label}: {reason}")
            return
        say(f"skipped {len(skipped)} cells that cannot run here (each in cells.csv, REPORT.md and with --show-skipped):")
        for group in group_skips((c.cell_id, c.model, reason) for c, reason in skipped):
            say(f"  {group.line()}")

    def _running_text(self) -> str:
        if self.parallel == 1:
            return next(reversed(self.running.values())).label if self.running else ""
        return f"{len(self.running)} running: " + "; ".join(c.label for c in self.running.values())

    def start(self, cell: Cell) -> None:
        if self.first_start is None:
            self.first_start = time.perf_counter()
        self.running[cell.cell_id] = cell
        if self._bar is not None:
            self._bar.update(self._task, description=self._running_text())
        elif self.parallel > 1 and not self.quiet:  # in slots, say each start: several cells are under way
            print(f"[started {time.perf_counter() - self.t0:.0f}s] {cell.label}", file=self.stream, flush=True)

    def eta_s(self, elapsed: float) -> float | None:
        """Seconds left: the estimates of the cells not done, times the pace, how long the cells done in
        ``elapsed`` seconds (since the first cell started) took against their estimates; None without
        estimates. The model's own pace (1, over the slots) counts as :data:`PACE_PRIOR_S` seconds of cells
        done, so the first short cells, whose fixed costs weigh most, do not swing the whole sweep's ETA."""
        if not self.estimates:
            return None
        left = sum(self.estimates.values()) - self.estimated_done
        pace = (elapsed + PACE_PRIOR_S / self.parallel) / (self.estimated_done + PACE_PRIOR_S)
        return max(0.0, left * pace)

    def advance(self, cell: Cell, status: str, detail: str | None) -> None:
        self.done += 1
        self.running.pop(cell.cell_id, None)
        self.estimated_done += self.estimates.get(cell.cell_id, 0.0)
        if self.quiet:
            return
        now = time.perf_counter()
        elapsed = now - self.t0
        eta = self.eta_s(now - (self.t0 if self.first_start is None else self.first_start))
        if self._bar is not None:
            self._bar.advance(self._task)
            self._bar.update(self._task, description=self._running_text(), eta="?" if eta is None else describe_seconds(eta))
            if status != "ok":
                self._bar.console.print(f"{status}: {cell.label}: {detail}")
            return
        suffix = f": {detail}" if status != "ok" and detail else ""
        left = "" if eta is None or self.done == self.total else f", eta {describe_seconds(eta)}"
        print(f"[{self.done}/{self.total} {elapsed:.0f}s{left}] {status} {cell.label}{suffix}", file=self.stream, flush=True)
