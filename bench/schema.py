"""Column contracts of ``cells.csv``, ``epochs.csv`` and ``steps.csv`` (README, "The run directory").

Order matters and is append-only: parameters, then status, then metrics with units in their names.
Columns after ``wall_s`` extend the design's list; readers require only the columns up to ``wall_s``.
"""

PARAM_COLUMNS = (
    "cell_id", "model", "arch", "kernel", "backend", "device", "jit_compile", "maxlen", "batch_size",
    "epochs", "seed", "dataset", "train_samples", "test_samples",
)
STATUS_COLUMNS = ("status", "error")
METRIC_COLUMNS = (
    "params", "flops_per_sample", "train_samples_per_s", "train_samples_per_s_cv", "infer_samples_per_s",
    "infer_latency_ms_p50", "infer_latency_ms_p95", "compile_s", "peak_rss_mb", "gpu_peak_mb",
    "gflops_achieved", "efficiency", "val_acc", "test_acc", "test_loss", "wall_s",
    # extensions
    "acc_ceiling", "val_acc_best", "infer_flops_per_sample", "unstable", "threads", "steps_per_repeat", "repeats",
    "startup_s", "notes", "processes", "cpus",
    # where the row was measured: a resumed directory can hold rows of more than one machine or commit
    "host", "cpu_model", "git_commit",
    # part of the cell's identity (its cell_id) like the parameter columns, appended here to keep their order
    "speed_target_s",
    # over the timed training window (bench/energy.py); gpu_peak_mb above is the framework's own peak
    "gpu_device_peak_mb", "gpu_energy_j_per_sample", "gpu_power_w_mean", "gpu_power_w_max", "gpu_other_processes",
    "cpu_energy_j_per_sample",
    # part of the cell's identity (bench/spec.py: the tutorial's 32 hashes as before the axis existed)
    "units",
    # the kernel Keras actually ran (bench/kernel_probe.py), and where a cell's fixed cost goes
    "kernel_effective", "startup_spawn_s", "startup_imports_s", "startup_framework_s", "startup_data_s", "startup_build_s",
    # how the cell's process started: forked from a fork server, or spawned (bench/spawner.py)
    "launch",
    # train_samples_per_s is wall clock over whole epoch cycles; the steps alone, and the share outside them
    "train_step_samples_per_s", "train_outside_share", "loop_bound",
)
CELL_COLUMNS = PARAM_COLUMNS + STATUS_COLUMNS + METRIC_COLUMNS
#: What a readable cells.csv must start with; extension columns after it may differ between versions.
CELL_CORE_COLUMNS = CELL_COLUMNS[: CELL_COLUMNS.index("wall_s") + 1]
EPOCH_COLUMNS = ("cell_id", "epoch", "loss", "acc", "val_loss", "val_acc", "epoch_s")
#: ``gap_s``: the time before the step since the previous step ended (a repeat's first step: since the
#: previous epoch's last step, the epoch boundary); empty in runs from before it was recorded.
STEP_COLUMNS = ("cell_id", "repeat", "step", "step_s", "gap_s")
#: What a readable steps.csv must start with (older runs stop here).
STEP_CORE_COLUMNS = STEP_COLUMNS[:4]
STATUSES = ("ok", "skipped", "failed")

#: How a column is read back. Integers, floats and booleans are converted explicitly, column by column;
#: every other column stays text, so a cell_id that looks like a number ("613e4...") stays a string.
INT_COLUMNS = frozenset({"maxlen", "batch_size", "epochs", "seed", "train_samples", "test_samples", "params", "threads",
                         "steps_per_repeat", "repeats", "processes", "epoch", "repeat", "step", "gpu_other_processes",
                         "units"})
BOOL_COLUMNS = frozenset({"jit_compile", "unstable", "loop_bound"})
FLOAT_COLUMNS = frozenset({
    "flops_per_sample", "train_samples_per_s", "train_samples_per_s_cv", "infer_samples_per_s", "infer_latency_ms_p50",
    "infer_latency_ms_p95", "compile_s", "peak_rss_mb", "gpu_peak_mb", "gflops_achieved", "efficiency", "val_acc",
    "test_acc", "test_loss", "wall_s", "acc_ceiling", "val_acc_best", "infer_flops_per_sample", "startup_s",
    "loss", "acc", "val_loss", "epoch_s", "step_s", "speed_target_s",
    "gpu_device_peak_mb", "gpu_energy_j_per_sample", "gpu_power_w_mean", "gpu_power_w_max", "cpu_energy_j_per_sample",
    "startup_spawn_s", "startup_imports_s", "startup_framework_s", "startup_data_s", "startup_build_s",
    "gap_s", "train_step_samples_per_s", "train_outside_share",
})
