"""Column contracts of ``cells.csv``, ``epochs.csv``, ``steps.csv`` and ``predictions.csv`` (README, "The run directory"),
each column declared once: its name, type, where its value comes from and how speed processes pool it.
The column lists and the type sets readers convert by, a cell result's ``cells.csv`` metrics and their
pooling (bench/storage/result.py) and history's cell parameters are derived from the declarations.

Order matters and is append-only: parameters, then status, then metrics with units in their names.
Columns after ``wall_s`` extend the design's list; readers require only the columns up to ``wall_s``.
A new metric is one :class:`Column` appended to :data:`CELL_COLUMN_DECLS`, the
:class:`~rnnbench.storage.result.CellResult` field that carries it (filled in bench/cell/), and whatever
displays it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Where a column's value comes from.
PARAM = "param"  # the cell's parameters (its Cell), written before it runs
STATUS = "status"  # ok / skipped / failed and the error
RESULT = "result"  # measured in the cell's process: a CellResult field or a figure derived from them
PROCESS = "process"  # recorded by the parent about the run of the cell: wall time, cores, launch, machine
IDENTITY = "identity"  # part of the cell's identity (a Cell field) filed after the metrics, where it was added

#: How a cell's speed processes pool a result column (CellResult.pool); None: the first process's value
#: (it also trained for accuracy), or a figure derived from the pooled repeats.
MEDIAN = "median"  # the median over the processes that measured it
LARGEST = "largest"  # the largest over the processes that measured it (peaks, other processes seen)

#: The meters of the timed window: NVML on the cell's GPU, RAPL for the CPU packages.
NVML, RAPL = "nvml", "rapl"


#: The run directory's tables and its metadata file.
CELLS_CSV, EPOCHS_CSV, STEPS_CSV, RUN_JSON_FILE = "cells.csv", "epochs.csv", "steps.csv", "run.json"
PREDICTIONS_CSV = "predictions.csv"
#: Every file that holds a run's results (what a copy of the run, such as a history entry, must take).
RESULT_FILES = (RUN_JSON_FILE, CELLS_CSV, STEPS_CSV, EPOCHS_CSV, PREDICTIONS_CSV)


@dataclass(frozen=True)
class Column:
    name: str
    kind: type  # how the stored text is read back: int, float, bool or str
    source: str
    pool: str | None = None
    doc: str = ""
    meter: str | None = None  # the meter over the timed window that measures it (bench/cell/energy.py)
    header: str | None = None  # its name in tables, where not the column's own


def _cols(source: str, kind: type, names: str, pool: str | None = None) -> tuple[Column, ...]:
    return tuple(Column(n, kind, source, pool) for n in names.split())


#: ``cells.csv``, in file order. Columns up to ``wall_s`` are the design's list; the rest extend it, in
#: the order they were added (never reordered: older files are read by position of their header).
CELL_COLUMN_DECLS: tuple[Column, ...] = (
    Column("cell_id", str, PARAM, doc="hash of the cell's identity settings"),
    *_cols(PARAM, str, "model arch kernel backend device"),
    Column("jit_compile", bool, PARAM, header="XLA"),
    Column("maxlen", int, PARAM),
    Column("batch_size", int, PARAM, header="batch"),
    *_cols(PARAM, int, "epochs seed"),
    Column("dataset", str, PARAM),
    Column("train_samples", int, PARAM, header="train samples"),
    Column("test_samples", int, PARAM, header="test samples"),
    *_cols(STATUS, str, "status error"),
    Column("params", int, RESULT, doc="trainable and non-trainable parameters"),
    Column("flops_per_sample", float, RESULT, doc="training FLOPs per sample (forward and backward)"),
    Column("train_samples_per_s", float, RESULT, doc="wall-clock training throughput: median over timed repeats",
           header="train samples/s"),
    Column("train_samples_per_s_cv", float, RESULT, doc="its coefficient of variation across repeats", header="cv %"),
    Column("infer_samples_per_s", float, RESULT, MEDIAN, header="infer samples/s"),
    Column("infer_latency_ms_p50", float, RESULT, MEDIAN),
    Column("infer_latency_ms_p95", float, RESULT, MEDIAN),
    Column("compile_s", float, RESULT, MEDIAN, doc="the first steps' excess over a timed step (tracing, compiling)"),
    Column("peak_rss_mb", float, RESULT, LARGEST,
           doc="the cell process's peak resident set (Linux VmHWM; rows before 1fa388d, 2026-12-06: ru_maxrss, the same for "
               "cells a sweep started, larger for a cell started by a process larger than it: bench/cell/runner.py)"),
    Column("gpu_peak_mb", float, RESULT, doc="the framework's own peak allocation over the whole process"),
    Column("gflops_achieved", float, RESULT),
    Column("efficiency", float, RESULT, doc="achieved FLOP/s over the calibration matmul's"),
    Column("val_acc", float, RESULT, header="val acc"),
    Column("test_acc", float, RESULT, header="test acc"),
    Column("test_loss", float, RESULT),
    Column("wall_s", float, PROCESS, doc="the cell's wall time, start-up included", header="wall s"),
    # extensions
    Column("acc_ceiling", float, RESULT, doc="the test split's Bayes-optimal accuracy, where known", header="ceiling"),
    Column("val_acc_best", float, RESULT, header="best val acc"),
    Column("infer_flops_per_sample", float, RESULT),
    Column("unstable", bool, RESULT, doc="throughput CV over 10%, or another process on the cell's GPU"),
    *_cols(RESULT, int, "threads steps_per_repeat repeats"),
    Column("startup_s", float, RESULT),
    Column("notes", str, RESULT),
    Column("processes", int, RESULT),
    Column("cpus", str, PROCESS, doc="the cores the cell's process was confined to"),
    # where the row was measured: a resumed directory can hold rows of more than one machine or commit
    *_cols(PROCESS, str, "host cpu_model git_commit"),
    Column("speed_target_s", float, IDENTITY),
    # over the timed training window (bench/cell/energy.py); gpu_peak_mb above is the framework's own peak
    Column("gpu_device_peak_mb", float, RESULT, LARGEST, meter=NVML),
    Column("gpu_energy_j_per_sample", float, RESULT, MEDIAN, meter=NVML),
    Column("gpu_power_w_mean", float, RESULT, MEDIAN, meter=NVML),
    Column("gpu_power_w_max", float, RESULT, LARGEST, meter=NVML),
    Column("gpu_other_processes", int, RESULT, LARGEST, meter=NVML),
    Column("cpu_energy_j_per_sample", float, RESULT, MEDIAN, meter=RAPL),
    # the tutorial's 32 hashes as before the axis existed (bench/config/spec.py)
    Column("units", int, IDENTITY),
    # the kernel Keras actually ran (bench/cell/kernel_probe.py), and where a cell's fixed cost goes
    Column("kernel_effective", str, RESULT),
    *_cols(RESULT, float, "startup_spawn_s startup_imports_s startup_framework_s startup_data_s startup_build_s"),
    # how the cell's process started: forked from a fork server, or spawned (bench/execute/spawner.py)
    Column("launch", str, PROCESS),
    # train_samples_per_s is wall clock over whole epoch cycles; the steps alone, and the share outside them
    Column("train_step_samples_per_s", float, RESULT, doc="samples over the sum of step times: the steps alone"),
    Column("train_outside_share", float, RESULT, doc="share of the timed wall outside the training steps"),
    Column("loop_bound", bool, RESULT, doc="train_outside_share over 10%"),
    # the cell's row in predictions.csv, which this row commits to (bench/storage/predictions.py)
    Column("predictions_digest", str, RESULT, doc="digest of the cell's per-example test predictions"),
    Column("chance_acc", float, RESULT, doc="share of the test split's most frequent class: a constant guess's accuracy",
           header="chance"),
)

#: ``epochs.csv``: the accuracy fit's history, one row per epoch.
EPOCH_COLUMN_DECLS: tuple[Column, ...] = (
    Column("cell_id", str, PARAM), Column("epoch", int, RESULT), *_cols(RESULT, float, "loss acc val_loss val_acc epoch_s"),
)

#: ``steps.csv``: each timed training step. ``gap_s``: the time before the step since the previous step
#: ended (a repeat's first step: since the previous epoch's last step, the epoch boundary); empty in runs
#: from before it was recorded.
STEP_COLUMN_DECLS: tuple[Column, ...] = (
    Column("cell_id", str, PARAM), *_cols(RESULT, int, "repeat step"), *_cols(RESULT, float, "step_s gap_s"),
)

#: ``predictions.csv``: one row per cell that evaluated on its test split (bench/storage/predictions.py):
#: the split's fingerprint, its size, and each example's predicted class and correctness, packed.
PREDICTION_COLUMN_DECLS: tuple[Column, ...] = (
    Column("cell_id", str, PARAM), Column("test_fingerprint", str, RESULT), *_cols(RESULT, int, "examples class_bytes"),
    *_cols(RESULT, str, "predicted correct"),
)


def names(decls: tuple[Column, ...], *sources: str) -> tuple[str, ...]:
    """The names of ``decls`` (of the given sources, if any), in file order."""
    return tuple(c.name for c in decls if not sources or c.source in sources)


PARAM_COLUMNS = names(CELL_COLUMN_DECLS, PARAM)
STATUS_COLUMNS = names(CELL_COLUMN_DECLS, STATUS)
METRIC_COLUMNS = names(CELL_COLUMN_DECLS, RESULT, PROCESS, IDENTITY)
CELL_COLUMNS = names(CELL_COLUMN_DECLS)
#: What a readable cells.csv must start with; extension columns after it may differ between versions.
CELL_CORE_COLUMNS = CELL_COLUMNS[: CELL_COLUMNS.index("wall_s") + 1]
#: The columns that say which cell a row is, whatever run it comes from (history's and the A/B's key),
#: in file order: the parameters less the id and the architecture it names, then the identity columns.
CELL_PARAMS = tuple(c for c in PARAM_COLUMNS if c not in ("cell_id", "arch")) + names(CELL_COLUMN_DECLS, IDENTITY)
EPOCH_COLUMNS = names(EPOCH_COLUMN_DECLS)
STEP_COLUMNS = names(STEP_COLUMN_DECLS)
PREDICTION_COLUMNS = names(PREDICTION_COLUMN_DECLS)
#: What a readable steps.csv must start with (older runs stop here).
STEP_CORE_COLUMNS = STEP_COLUMNS[:4]
STATUSES = ("ok", "skipped", "failed")

#: How a column is read back. Integers, floats and booleans are converted explicitly, column by column;
#: every other column stays text, so a cell_id that looks like a number ("613e4...") stays a string.
_ALL = CELL_COLUMN_DECLS + EPOCH_COLUMN_DECLS + STEP_COLUMN_DECLS + PREDICTION_COLUMN_DECLS
INT_COLUMNS = frozenset(c.name for c in _ALL if c.kind is int)
BOOL_COLUMNS = frozenset(c.name for c in _ALL if c.kind is bool)
FLOAT_COLUMNS = frozenset(c.name for c in _ALL if c.kind is float)
#: What a cells.csv written by any version starts with (how ownership knows a run directory from before markers).
CELLS_HEADER_START = ",".join(CELL_COLUMNS[:4]) + ","
#: Each column's name in tables (its own name where it declares none).
HEADERS = {c.name: c.header or c.name for c in CELL_COLUMN_DECLS}
#: The columns each meter of the timed window fills, in file order.
METERED = {meter: tuple(c.name for c in CELL_COLUMN_DECLS if c.meter == meter) for meter in (NVML, RAPL)}
#: How a cell's speed processes pool each result column that is not derived from the pooled repeats.
POOLED = {c.name: c.pool for c in CELL_COLUMN_DECLS if c.pool}
