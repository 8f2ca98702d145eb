"""Sweep progress: a rich progress bar on a terminal, one plain line per cell otherwise, or nothing."""

from __future__ import annotations

import time
from typing import IO

from rnnbench.config.plan import group_skips
from rnnbench.config.spec import Cell


class Progress:
    """Context manager reporting cells done/total, elapsed, ETA and the current cell."""

    def __init__(self, total: int, reused: int, quiet: bool, stream: IO[str], parallel: int = 1,
                 show_skipped: bool = False) -> None:
        self.total, self.reused, self.quiet, self.stream = total, reused, quiet, stream
        self.parallel, self.show_skipped = parallel, show_skipped
        self.running: dict[str, Cell] = {}  # cells started and not yet done, in start order
        self.done = 0
        self.t0 = time.perf_counter()
        self._bar = None

    def __enter__(self) -> Progress:
        if self.reused and not self.quiet:
            print(f"resuming: {self.reused} cell(s) already done in this directory", file=self.stream)
        if not self.quiet and self.stream.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.description}"),
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def skipped(self, skipped: list[tuple[Cell, str]]) -> None:
        """Say the cells that cannot run here once per reason (each one with ``show_skipped``), before the
        first cell runs; the count of cells to run no longer includes them."""
        if not skipped:
            return
        self.total -= len(skipped)
        if self._bar is not None:
            self._bar.update(self._task, total=self.total)
        if self.quiet:
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
        self.running[cell.cell_id] = cell
        if self._bar is not None:
            self._bar.update(self._task, description=self._running_text())
        elif self.parallel > 1 and not self.quiet:  # in slots, say each start: several cells are under way
            print(f"[started {time.perf_counter() - self.t0:.0f}s] {cell.label}", file=self.stream, flush=True)

    def advance(self, cell: Cell, status: str, detail: str | None) -> None:
        self.done += 1
        self.running.pop(cell.cell_id, None)
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.advance(self._task)
            self._bar.update(self._task, description=self._running_text())
            if status != "ok":
                self._bar.console.print(f"{status}: {cell.label}: {detail}")
            return
        elapsed = time.perf_counter() - self.t0
        suffix = f": {detail}" if status != "ok" and detail else ""
        print(f"[{self.done}/{self.total} {elapsed:.0f}s] {status} {cell.label}{suffix}", file=self.stream, flush=True)
