"""The typed result a cell process hands its parent: what one process measured, and how several pool.

The child (bench/cell/runner.py) fills a :class:`CellResult` and writes it as JSON with a schema version;
the parent (bench/execute/executor.py) reads it back with :meth:`CellResult.from_json`, which refuses another
schema rather than guess, pools a cell's speed processes with :meth:`CellResult.pool`, and turns it into
the cell's ``cells.csv`` metrics with :meth:`CellResult.metrics`. Every derived figure (throughput
from the repeats, their CV, ``unstable``, ``gflops_achieved``, ``efficiency``) is computed here and
nowhere else. Which columns a result fills and how processes pool them come from the columns'
declarations (bench/storage/schema.py), so a new metric is its declaration, a field here, the code that
measures it (bench/cell/) and whatever displays it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rnnbench.storage import predictions
from rnnbench.storage.schema import CELL_COLUMN_DECLS, MEDIAN, POOLED, RESULT, names

#: The cells.csv columns a cell's result fills (bench/storage/schema.py): each a field or property here.
RESULT_COLUMNS = names(CELL_COLUMN_DECLS, RESULT)

#: Bumped when a field changes meaning or goes away (adding an optional field keeps it). 2: throughput
#: is wall clock over whole epoch cycles, the steps alone are ``repeat_step_samples_per_s``.
RESULT_SCHEMA = 2

#: The phases of a cell's fixed cost, in order (their sum is ``startup_s``).
STARTUP_PHASES = ("startup_spawn_s", "startup_imports_s", "startup_framework_s", "startup_data_s", "startup_build_s")

#: A cell whose training throughput varies more than this across its repeats is flagged ``unstable``.
UNSTABLE_CV = 0.10

#: A cell that spends more than this share of its timed wall outside the training steps (input pipeline,
#: Keras's loop, the epoch boundary) is flagged ``loop_bound``: its throughput is not its kernel's.
LOOP_BOUND_SHARE = 0.10


def coefficient_of_variation(values) -> float:
    """Sample standard deviation over the mean (NaN for fewer than two values)."""
    values = np.asarray(values, dtype=float)
    return float(np.std(values, ddof=1) / np.mean(values)) if len(values) > 1 else float("nan")


@dataclass(frozen=True)
class CellResult:
    """What one cell process measured. Empty (None) where not measured; ``notes`` say why."""

    threads: int
    params: int
    repeat_samples_per_s: tuple[float, ...]  # wall-clock training throughput of each timed repeat
    steps_per_repeat: int
    steps: tuple[dict[str, Any], ...] = field(repr=False)  # raw steps: {"repeat", "step", "step_s", "gap_s"}
    compile_s: float
    infer_samples_per_s: float
    infer_latency_ms_p50: float
    infer_latency_ms_p95: float
    peak_rss_mb: float
    data_fingerprint: str
    flops_per_sample: float | None = None
    infer_flops_per_sample: float | None = None
    startup_s: float | None = None
    #: the fixed cost's phases (bench/cell/runner.py): spawn + interpreter, harness imports, framework, data, build
    startup_spawn_s: float | None = None
    startup_imports_s: float | None = None
    startup_framework_s: float | None = None
    startup_data_s: float | None = None
    startup_build_s: float | None = None
    #: the recurrent kernel Keras actually ran (bench/cell/kernel_probe.py)
    kernel_effective: str | None = None
    gpu_peak_mb: float | None = None  # the framework's own peak allocation over the whole process
    # Over the timed training window (bench/cell/energy.py): device-level used memory, energy and power from
    # NVML, other processes on the cell's GPU; CPU package energy from RAPL (machine-level).
    gpu_device_peak_mb: float | None = None
    gpu_energy_j_per_sample: float | None = None
    gpu_power_w_mean: float | None = None
    gpu_power_w_max: float | None = None
    gpu_other_processes: int | None = None
    cpu_energy_j_per_sample: float | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    val_acc: float | None = None
    val_acc_best: float | None = None
    acc_ceiling: float | None = None
    chance_acc: float | None = None  # a constant guess's test accuracy: the plateau a model that learned nothing sits on
    epochs: tuple[dict[str, Any], ...] = field(default=(), repr=False)  # per-epoch rows of the quality fit
    notes: tuple[str, ...] = ()
    #: how many processes' repeats are pooled in ``repeat_samples_per_s``, and each one's median
    process_medians: tuple[float, ...] = ()
    #: each timed repeat's throughput from its steps alone (samples over the sum of its step times)
    repeat_step_samples_per_s: tuple[float, ...] = ()
    #: the cell's predictions.csv row (bench/storage/predictions.py): each test example's class, packed
    predictions: dict[str, Any] | None = field(default=None, repr=False)
    schema: int = RESULT_SCHEMA

    # Derived figures: computed here only.
    @property
    def train_samples_per_s(self) -> float:
        return float(np.median(self.repeat_samples_per_s))

    @property
    def train_samples_per_s_cv(self) -> float:
        return coefficient_of_variation(self.repeat_samples_per_s)

    @property
    def train_step_samples_per_s(self) -> float | None:
        """The steps alone: what the kernel does, without the loop, input pipeline and epoch boundary."""
        return float(np.median(self.repeat_step_samples_per_s)) if self.repeat_step_samples_per_s else None

    @property
    def train_outside_share(self) -> float | None:
        """Share of the timed wall spent outside the training steps (between steps and at epoch boundaries)."""
        gaps = [s.get("gap_s") for s in self.steps]
        if not self.steps or any(g is None or not np.isfinite(g) for g in gaps):
            return None
        inside = sum(s["step_s"] for s in self.steps)
        return float(sum(gaps) / (inside + sum(gaps)))

    @property
    def loop_bound(self) -> bool | None:
        share = self.train_outside_share
        return None if share is None else share > LOOP_BOUND_SHARE

    @property
    def unstable(self) -> bool:
        """Throughput that varies too much across repeats, or another process on the cell's GPU while it was timed."""
        return self.train_samples_per_s_cv > UNSTABLE_CV or bool(self.gpu_other_processes)

    @property
    def predictions_digest(self) -> str | None:
        return None if self.predictions is None else predictions.digest(self.predictions)

    @property
    def repeats(self) -> int:
        return len(self.repeat_samples_per_s)

    @property
    def processes(self) -> int:
        return max(1, len(self.process_medians))

    @property
    def gflops_achieved(self) -> float | None:
        return None if not self.flops_per_sample else self.flops_per_sample * self.train_samples_per_s / 1e9

    def efficiency(self, calibration_gflops: float | None) -> float | None:
        """Achieved FLOP/s over the calibration matmul's, measured in the same run with the same threads."""
        achieved = self.gflops_achieved
        return None if not achieved or not calibration_gflops else achieved / calibration_gflops

    def metrics(self, calibration_gflops: float | None = None) -> dict[str, Any]:
        """The cell's ``cells.csv`` metric columns."""
        notes = list(self.notes)
        if self.processes > 1:
            medians = ", ".join(f"{m:,.0f}" for m in self.process_medians)
            notes.append(f"speed pooled over {self.processes} processes (their median samples/s: {medians})")
        if self.loop_bound:
            notes.append(f"loop-bound: {self.train_outside_share:.0%} of the timed wall outside the training steps "
                         f"(input pipeline, Keras loop, epoch boundary); the steps alone: "
                         f"{self.train_step_samples_per_s:,.0f} samples/s (train_step_samples_per_s)")
        values = {c: getattr(self, c) for c in RESULT_COLUMNS if c not in ("efficiency", "notes")}
        return {**values, "efficiency": self.efficiency(calibration_gflops), "notes": "; ".join(notes)}

    @classmethod
    def pool(cls, results: list[CellResult]) -> CellResult:
        """One cell's result from its speed processes (the first also trained for accuracy).

        Every process's timed repeats are pooled: throughput is their median and the CV spans the drift
        between processes too, which is what a regression gate must not mistake for a change. Raw steps
        keep their process apart by numbering repeats on (process 2's first repeat follows process 1's
        last). Inference figures and ``compile_s`` are medians over processes; ``peak_rss_mb`` the largest.
        Energy per sample and mean power are medians over the processes that measured them; memory peaks,
        largest power and other processes on the GPU the largest. A later process's notes that the first
        lacks (another process on the GPU, say) are kept, marked with the process.
        """
        first = results[0]
        if len(results) == 1:
            return first
        steps, offset = [], 0
        for r in results:
            steps.extend({**s, "repeat": s["repeat"] + offset} for s in r.steps)
            offset += r.repeats
        notes = list(first.notes)
        for k, r in enumerate(results[1:], start=2):
            notes.extend(f"speed process {k}: {n}" for n in r.notes if n not in first.notes)

        def pooled(key: str, rule: str):
            values = [v for r in results if (v := getattr(r, key)) is not None]
            if not values:
                return None
            return float(np.median(values)) if rule == MEDIAN else max(values)

        return dataclasses.replace(
            first,
            repeat_samples_per_s=tuple(v for r in results for v in r.repeat_samples_per_s),
            repeat_step_samples_per_s=tuple(v for r in results for v in r.repeat_step_samples_per_s),
            steps=tuple(steps),
            process_medians=tuple(float(np.median(r.repeat_samples_per_s)) for r in results),
            notes=tuple(notes),
            **{key: pooled(key, rule) for key, rule in POOLED.items()},
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), default=float)

    @classmethod
    def from_json(cls, text: str) -> CellResult:
        """Read a result; ValueError when it is not one, or of another schema (a cell process of another
        version of the harness)."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA:
            raise ValueError(f"not a cell result of schema {RESULT_SCHEMA} (got schema {data.get('schema') if isinstance(data, dict) else '?'})")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown cell result fields: {', '.join(sorted(unknown))}")
        for key in ("repeat_samples_per_s", "repeat_step_samples_per_s", "steps", "epochs", "notes", "process_medians"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)
