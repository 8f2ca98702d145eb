"""How long a sweep will take: a cost model of one cell, fed by figures already measured.

A cell's wall time is its fixed cost (start-up, the first step's trace, the speed phase's warm-up and
inference timing) plus its timed speed steps plus, when it trains, its epochs and the test split's
prediction. The model takes each part from **reference rows**, ok cells stored in run directories (the
sweep's own ``--out`` first, then the committed reference runs under ``results/``):

* fixed cost: the median ``startup_s`` of reference cells on the same backend started the same way
  (forked or spawned: bench/config/launch.py, ``plan_forks``, which knows the fork servers' cap; a new
  server's own start, once per environment and slot) and ``compile_s`` of the same model with the same XLA
  setting (of any model where none is stored), and the speed phase at the reference cells' wall per second of ``speed_target_s``
  (warm-up, timed training, inference timing), once per speed process;
* training: an epoch sees 80% of the training samples at the most similar reference cell's
  ``train_samples_per_s`` and predicts the other 20% (validation) at its ``infer_samples_per_s``, then the
  test split is predicted once; "most similar" is the same model, kernel, backend, device and XLA setting,
  nearest in batch size and maxlen, its throughput scaled by the ratio of maxlens (a recurrent layer's
  cost is linear in the sequence length) and by batch ** ``BATCH_EXPONENT``.

Where no reference cell fits, stated defaults stand in (measured on a 2-core CPU; ``DEFAULTS``), and
the estimate names its basis. Progress uses the same model for its ETA, scaled by how long the cells
done so far took against their estimates (bench/execute/progress.py, ``Progress.eta_s``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnbench.config.launch import plan_forks, requested_launch
from rnnbench.config.spec import Cell, SweepSpec

#: Figures a cell falls back on where no stored cell informs it, from the ``default`` preset's run on the
#: 2-core CPU VM at 083192c, 2026-12-06: median start-up and first-step trace (without and with XLA) of
#: its 33 cells, the speed phase's wall per second of ``speed_target_s`` (its 24 speed-only cells), and
#: LSTM(32)'s training and inference throughput at maxlen 100, batch 128 (the mean of its two seeds). A forked
#: cell's start-up: the median of the same preset run with --launch fork (docs/scale.md, the phase table).
DEFAULTS = {"startup_s": 3.4, "startup_fork_s": 0.15, "compile_s": 1.2, "compile_xla_s": 3.4, "speed_factor": 2.3,
            "train_samples_per_s": 4800.0, "infer_samples_per_s": 18700.0, "maxlen": 100, "batch_size": 128}
#: Training throughput grows as batch ** BATCH_EXPONENT: the median over the same run's 12 pairs of speed
#: cells at batch 64 and 256 (0.45; 0.38 in the previous code's run beside it).
BATCH_EXPONENT = 0.4
#: A sweep's own seconds outside its cells (the calibration matmul, planning, the store): 9 s and 6 s in the
#: two sweeps measured for the estimate's error (docs/scale.md).
SWEEP_OVERHEAD_S = 8.0
#: Examples of the synthetic and IMDB splits (each 25k/25k) when a cell does not cap them.
FULL_SPLIT = 25_000
VALIDATION_SHARE = 0.2


@dataclass(frozen=True)
class CellEstimate:
    seconds: float
    basis: str  # "measured" (a similar stored cell) or "default"


def reference_rows(run_dirs: Iterable[Path]) -> list[Mapping[str, Any]]:
    """The ok, timed cells of the run directories that exist and read; a directory that does not read is
    passed over (it informs an estimate only)."""
    from rnnbench.errors import BadInput
    from rnnbench.storage.store import load_run

    rows = []
    for run_dir in run_dirs:
        try:
            run = load_run(run_dir)
        except (BadInput, OSError):
            continue
        rows.extend(r for r in run.cells.values()
                    if r.get("status") == "ok" and _number(r.get("train_samples_per_s")) and _number(r.get("wall_s")))
    return rows


def reference_dirs(out_dir: Path) -> list[Path]:
    """The run directories a sweep into ``out_dir`` is estimated from: its own, then the committed ones."""
    return [d for d in (out_dir, *committed_results()) if (d / "cells.csv").is_file()]


def committed_results() -> list[Path]:
    """The reference runs committed beside the package (an editable install); none in a wheel install."""
    root = Path(__file__).resolve().parents[2] / "results"
    return sorted(p for p in root.iterdir() if (p / "cells.csv").is_file()) if root.is_dir() else []


class CostModel:
    """Estimates of cells' wall times from reference rows (see the module's docstring)."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows = list(rows)
        # Rows from before the launch column were spawned.
        self._startup = _medians(self.rows, lambda r: (r.get("backend"), r.get("launch") or "spawn"), "startup_s")
        self._compile = _medians(self.rows, lambda r: (r.get("backend"), bool(r.get("jit_compile"))), "compile_s")
        # A model's own trace where stored cells have one: it grows with the layers (in one sample of the full
        # preset, with XLA: SimpleRNN 3.1 s, LSTM 4.7 s, 4 x SimpleRNN 7.9 s).
        self._model_compile = _medians(self.rows, lambda r: (r.get("backend"), r.get("model"), bool(r.get("jit_compile"))),
                                       "compile_s")
        # A speed phase's wall per second of speed target: warm-up, timed training, inference timing, FLOP count.
        factors = [(float(r["wall_s"]) - float(r["startup_s"]) - float(r["compile_s"])) / float(r["speed_target_s"])
                   for r in self.rows if not r.get("epochs") and int(r.get("processes") or 1) == 1
                   and all(_number(r.get(k)) for k in ("startup_s", "compile_s", "speed_target_s"))]
        self.speed_factor = statistics.median(factors) if factors else DEFAULTS["speed_factor"]

    def _similar(self, cell: Cell) -> Mapping[str, Any] | None:
        same = [r for r in self.rows if all(r.get(k) == getattr(cell, k) for k in ("model", "kernel", "backend", "device"))]
        exact = [r for r in same if bool(r.get("jit_compile")) == cell.jit_compile]
        candidates = exact or same
        if not candidates:
            return None
        return min(candidates, key=lambda r: abs(math.log(int(r["batch_size"]) / cell.batch_size))
                   + abs(math.log(int(r["maxlen"]) / cell.maxlen)))

    def _startup_s(self, backend: str, started: str) -> float:
        return self._startup.get((backend, started), DEFAULTS["startup_fork_s" if started == "fork" else "startup_s"])

    def estimate_sweep(self, spec: SweepSpec, cells: Sequence[Cell]) -> dict[str, CellEstimate]:
        """Each of ``cells``, ``spec``'s cells to run in the order they run, estimated, by cell id, under its
        speed processes, launch and slots: which cells fork, and which wait for a new fork server's start,
        are facts of the whole plan (bench/config/launch.py, ``plan_forks``)."""
        plan = plan_forks(cells, requested_launch(spec), spec.processes, spec.parallel)
        estimates = {}
        for c in cells:
            e = self.estimate(c, spec.processes, started="fork" if c.cell_id in plan.forked else "spawn")
            if c.cell_id in plan.server_starts:
                # It waits for its server's start, an import as a spawned cell's (5.8 s for the first of 24
                # forked cells here against 0.2-0.8 s for the others).
                e = CellEstimate(e.seconds + self._startup_s(c.backend, "spawn"), e.basis)
            estimates[c.cell_id] = e
        return estimates

    def estimate(self, cell: Cell, processes: int = 1, *, started: str = "spawn") -> CellEstimate:
        """Seconds ``cell`` will take (``processes`` of them time its speed), each process ``started`` as
        "fork" or "spawn": one step of :meth:`estimate_sweep`, which decides how a sweep's cells start."""
        similar = self._similar(cell)
        if similar is None:
            train, infer, maxlen, batch, basis = (DEFAULTS["train_samples_per_s"], DEFAULTS["infer_samples_per_s"],
                                                  DEFAULTS["maxlen"], DEFAULTS["batch_size"], "default")
        else:
            train, basis = float(similar["train_samples_per_s"]), "measured"
            maxlen, batch = int(similar["maxlen"]), int(similar["batch_size"])
            infer = float(similar.get("infer_samples_per_s") or train * 4)
        # A recurrent layer's cost is linear in the sequence length; a step's fixed cost shrinks per sample
        # with the batch (BATCH_EXPONENT, fitted to the default preset's speed grid).
        train *= (maxlen / cell.maxlen) * (cell.batch_size / batch) ** BATCH_EXPONENT
        infer *= maxlen / cell.maxlen
        startup = self._startup_s(cell.backend, started)
        compile_s = self._model_compile.get((cell.backend, cell.model, cell.jit_compile)) or self._compile.get(
            (cell.backend, cell.jit_compile), DEFAULTS["compile_xla_s" if cell.jit_compile else "compile_s"])
        seconds = processes * (startup + compile_s + self.speed_factor * cell.speed_target_s)
        if cell.epochs:
            n_train = cell.train_samples or FULL_SPLIT
            n_test = cell.test_samples or FULL_SPLIT
            epoch = n_train * (1 - VALIDATION_SHARE) / train + n_train * VALIDATION_SHARE / infer
            seconds += cell.epochs * epoch + n_test / infer
        return CellEstimate(seconds, basis)


def for_sweep(out_dir: Path) -> CostModel:
    """The cost model of a sweep into ``out_dir``: its own stored cells, then the committed reference runs."""
    return CostModel(reference_rows(reference_dirs(out_dir)))


def _medians(rows: Sequence[Mapping[str, Any]], key, column: str) -> dict[tuple, float]:
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if _number(r.get(column)):
            groups.setdefault(key(r), []).append(float(r[column]))
    return {k: statistics.median(v) for k, v in groups.items()}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def describe_seconds(seconds: float) -> str:
    """``45 s``, ``12 min 5 s``, ``2 h 3 min``: a duration as a person reads it."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
