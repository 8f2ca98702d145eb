"""One cell, run inside its own spawned process: ``python -m rnnbench.cell.runner JOB.json RESULT.json``.

The parent (bench/execute/spawner.py) has already fixed ``KERAS_BACKEND``, ``CUDA_VISIBLE_DEVICES`` and
the thread variables in this process's environment; this module pins the framework's thread pools
before any op runs, seeds everything, measures, and writes one JSON result atomically. It never
writes the run directory's CSV files: the parent owns them.
"""

from __future__ import annotations

import time

#: When this module began to run: the end of the interpreter's own start-up (the first phase of a cell's
#: fixed cost, from the parent's spawn).
_MODULE_START = time.time()



def reset_start_clock() -> None:
    """Start the cell's clock now: in a child forked by the fork server, the fork is its interpreter's
    start-up, so the start-up phase begins there rather than when the server imported this module."""
    global _MODULE_START
    _MODULE_START = time.time()


import json  # noqa: E402  (after the clock above, so that its imports count in the phase they belong to)
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from rnnbench.cell.backend_setup import check_device, gpu_peak_mb, pin_threads  # noqa: E402
from rnnbench.cell.energy import GPU_FIELDS, WindowMeter  # noqa: E402
from rnnbench.cell.hooks import PLANT_LABEL_NOISE_ENV, PLANT_SLOWDOWN_ENV, inject_fault, planted, slowdown_callbacks  # noqa: E402
from rnnbench.config.spec import Cell  # noqa: E402
from rnnbench.storage.predictions import Predictions  # noqa: E402
from rnnbench.storage.result import CellResult  # noqa: E402


def _compiled(cell: Cell, *, vocab_size: int, num_classes: int):
    import keras
    from rnnbench.models import create_model

    keras.utils.set_random_seed(cell.seed)
    # The data set decides the embedding's input size and the head: a user's file has its own vocabulary
    # and may have more than two classes (the builtin sets give the tutorial's 10,000 words and 2 classes).
    model = create_model(cell.model, kernel=cell.kernel, maxlen=cell.maxlen, vocab_size=vocab_size, num_classes=num_classes,
                         units=cell.units)
    loss = "binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy"
    # The tutorial's compile settings; jit_compile explicit, never Keras' "auto".
    model.compile(optimizer="rmsprop", loss=loss, metrics=["acc"], jit_compile=cell.jit_compile)
    if bool(model.jit_compile) != cell.jit_compile:
        # Keras falls back without XLA (with only a warning) for some layers and settings; a cell must
        # never be recorded under a setting it did not run with.
        raise RuntimeError(f"Keras resolved jit_compile={model.jit_compile!r} for a cell that asked for {cell.jit_compile}")
    return model


class StartupClock:
    """The ends of a cell's start-up phases, wall clock like the parent's ``spawned_at``: where the fixed
    cost goes (README "Scale"): spawn and interpreter, harness imports, framework import and thread
    pinning, data (cache read or build), model build and compile call (not the first step's trace)."""

    def __init__(self, spawned_at: float | None) -> None:
        self.spawned_at = spawned_at
        self.marks = {"main": time.time()}

    def mark(self, phase: str) -> None:
        self.marks[phase] = time.time()

    @property
    def startup_s(self) -> float | None:
        return self.marks["build"] - self.spawned_at if self.spawned_at is not None else None

    def phases(self) -> dict[str, float | None]:
        m = self.marks
        return {
            "startup_spawn_s": _MODULE_START - self.spawned_at if self.spawned_at is not None else None,
            "startup_imports_s": m["main"] - _MODULE_START,
            "startup_framework_s": m["framework"] - m["main"],
            "startup_data_s": m["data"] - m["framework"],
            "startup_build_s": m["build"] - m["data"],
        }


@dataclass
class Split:
    """The cell's slice of its data set (``train_samples`` and ``test_samples`` of each split)."""

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any


def count_flops(model, cell: Cell, found: dict[str, Any], notes: list[str]) -> None:
    """Training and inference FLOPs per sample, or a note saying why they cannot be counted."""
    from rnnbench.models import flops

    try:
        found["flops_per_sample"] = flops.train_flops_per_sample(model, cell.maxlen)
        found["infer_flops_per_sample"] = flops.forward_flops_per_sample(model, cell.maxlen)
    except ValueError as exc:
        notes.append(f"flops_per_sample, gflops_achieved, efficiency: {exc}")


def measure_speed(model, cell: Cell, split: Split, probe, found: dict[str, Any], notes: list[str],
                  steps: int | None, repeats: int | None) -> dict[str, Any]:
    """Time training (with energy, power and device memory over the timed fit) and inference on
    ``model``; the CellResult fields of the timing."""
    from rnnbench.cell import measure
    from rnnbench.cell.kernel_probe import check

    # The meter's callback marks each fit; the last one, the timed repeats, is its window: the warm-up
    # and compilation are not.
    with WindowMeter(gpu=cell.device != "cpu") as meter:
        train = measure.train_speed(model, split.x_train, split.y_train, cell.batch_size, cell.speed_target_s,
                                    callbacks=[*slowdown_callbacks(planted(PLANT_SLOWDOWN_ENV, cell)), meter.keras_callback()],
                                    steps=steps, repeats=repeats)
    metered, metered_notes = meter.result(samples=train.steps_per_repeat * train.repeats * cell.batch_size)
    found.update(metered)
    notes.extend(metered_notes)
    check(cell.kernel, probe.effective)  # the timed steps ran on the kernel the row will name
    infer = measure.infer_speed(model, split.x_test, cell.batch_size, cell.speed_target_s / 2)
    step_rows = tuple(
        {"repeat": i // train.steps_per_repeat, "step": i % train.steps_per_repeat, "step_s": s, "gap_s": g}
        for i, (s, g) in enumerate(zip(train.step_s, train.gap_s, strict=True))
    )
    return {"repeat_samples_per_s": tuple(train.repeat_samples_per_s),
            "repeat_step_samples_per_s": tuple(train.repeat_step_samples_per_s),
            "steps_per_repeat": train.steps_per_repeat, "steps": step_rows, "compile_s": train.compile_s,
            "infer_samples_per_s": infer.samples_per_s, "infer_latency_ms_p50": infer.latency_ms_p50,
            "infer_latency_ms_p95": infer.latency_ms_p95}


def _epoch_log(epochs: list[dict[str, Any]]):
    """A Keras callback appending each epoch's losses, accuracies and wall time to ``epochs``."""
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            epochs.append({
                "epoch": epoch + 1, "loss": logs.get("loss"), "acc": logs.get("acc"),
                "val_loss": logs.get("val_loss"), "val_acc": logs.get("val_acc"),
                "epoch_s": time.perf_counter() - self.started,
            })

    return EpochLog()


def evaluate_on_test(model, split: Split, data, batch_size: int) -> tuple[float, Predictions]:
    """The test loss and each test example's prediction, from one pass over the test split: what Keras'
    ``evaluate`` reports (its accuracy is the share of correct examples), plus which examples were right,
    which paired comparison needs."""
    import keras

    outputs = model.predict(split.x_test, batch_size=batch_size, verbose=0)
    y_test = split.y_test.reshape(-1, 1) if data.num_classes == 2 else split.y_test
    loss = float(np.mean(keras.ops.convert_to_numpy(keras.losses.get(model.loss)(y_test, outputs))))
    return loss, Predictions.from_outputs(outputs, split.y_test, data.fingerprint)


def train_for_accuracy(cell: Cell, data, split: Split, found: dict[str, Any], notes: list[str]) -> list[dict[str, Any]]:
    """The tutorial's fit on a fresh model (same seed: the same initial weights as without the speed
    phase), then the test split; the per-epoch rows."""
    model = _compiled(cell, vocab_size=data.vocab_size, num_classes=data.num_classes)
    epochs: list[dict[str, Any]] = []
    y_train = split.y_train
    noise = planted(PLANT_LABEL_NOISE_ENV, cell)
    if noise:
        flip = np.random.default_rng(cell.seed).random(len(y_train)) < noise
        y_train = np.where(flip, 1 - y_train, y_train)
        notes.append(f"test plant: {noise:.0%} of training labels flipped")
    model.fit(split.x_train, y_train, epochs=cell.epochs, batch_size=cell.batch_size, validation_split=0.2,
              verbose=0, callbacks=[_epoch_log(epochs)])
    test_loss, predicted = evaluate_on_test(model, split, data, batch_size=max(cell.batch_size, 512))
    found["predictions"] = predicted.to_row()
    found["chance_acc"] = float(np.bincount(split.y_test.astype(np.int64).reshape(-1)).max() / len(split.y_test))
    val = [e["val_acc"] for e in epochs if e["val_acc"] is not None]
    found.update(test_loss=test_loss, test_acc=predicted.accuracy,
                 val_acc=val[-1] if val else None, val_acc_best=max(val) if val else None)
    if cell.test_samples is None:
        found["acc_ceiling"] = data.ceiling
    elif data.ceiling is not None:
        notes.append("acc_ceiling: computed for the full test split only")
    return epochs


def peak_rss_mb() -> float:
    """The peak resident set of this process's own address space, in MiB: Linux's ``VmHWM``.

    Not ``ru_maxrss``: a spawned cell's process is forked (to set itself up before ``exec``) and then
    execs, and ``ru_maxrss`` keeps the peak of that pre-exec copy of the process that started it. A cell
    started by a large process (a notebook or test session that imported the framework) would read that
    process's size, not its own: measured, a bare interpreter started by a process holding 300 MB read
    ``ru_maxrss`` 312 MB and ``VmHWM`` 11 MB. ``ru_maxrss`` only where there is no /proc.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def gpu_memory(cell: Cell, found: dict[str, Any], notes: list[str]) -> None:
    """The framework's own peak allocation on a GPU cell (gpu_device_peak_mb is the device's)."""
    if cell.device == "cpu":
        notes.append(f"gpu_peak_mb, {', '.join(GPU_FIELDS)}: cpu cell")
        return
    found["gpu_peak_mb"] = gpu_peak_mb(cell.backend)
    if found["gpu_peak_mb"] is None:
        notes.append(f"gpu_peak_mb: {cell.backend} reports no peak of its own allocations")


def run_cell(cell: Cell, threads: int, data: dict[str, Any] | None = None,
             spawned_at: float | None = None, speed_only: bool = False, steps: int | None = None,
             repeats: int | None = None) -> CellResult:
    """Measure ``cell`` in this process and return what was measured.

    ``data`` holds the keyword arguments of :func:`rnnbench.datasets.padded` (a file's path and columns,
    the unverified-data opt-in). ``spawned_at`` (wall clock, from the parent) lets the result record the
    fixed cost of a cell: spawn, framework import, data loading and the first model build, everything
    before measuring starts. ``speed_only`` (a cell's second and later speed processes) skips training for
    accuracy; ``steps`` and ``repeats`` fix the timing budget.
    """
    clock = StartupClock(spawned_at)
    inject_fault(cell)
    deterministic = not cell.jit_compile
    pin_threads(cell.backend, threads, deterministic)
    check_device(cell.backend, cell.device)
    # The framework and the modules that use it are imported here, inside the framework phase.
    import keras  # noqa: F401
    from rnnbench import datasets
    from rnnbench.cell import measure  # noqa: F401
    from rnnbench.cell.kernel_probe import KernelProbe
    from rnnbench.models import flops  # noqa: F401

    probe = KernelProbe().install()  # before any model exists: every call of a fused kernel is counted
    clock.mark("framework")
    data_set = datasets.padded(cell.dataset, cell.maxlen, **(data or {}))
    clock.mark("data")
    split = Split(data_set.x_train[: cell.train_samples], data_set.y_train[: cell.train_samples],
                  data_set.x_test[: cell.test_samples], data_set.y_test[: cell.test_samples])
    notes: list[str] = []
    if cell.backend == "tensorflow" and not deterministic:
        notes.append("XLA cell: TensorFlow op determinism off (Keras disables XLA under it)")
    found: dict[str, Any] = {}

    # Speed first, on its own model instance, so that timing never changes what is trained below.
    model = _compiled(cell, vocab_size=data_set.vocab_size, num_classes=data_set.num_classes)
    params = model.count_params()
    clock.mark("build")
    count_flops(model, cell, found, notes)
    timing = measure_speed(model, cell, split, probe, found, notes, steps, repeats)
    del model

    epochs: list[dict[str, Any]] = []
    if cell.epochs > 0 and not speed_only:
        epochs = train_for_accuracy(cell, data_set, split, found, notes)
    elif cell.epochs == 0:
        notes.append("val_acc, test_acc, test_loss: epochs = 0 (speed-only cell)")
    gpu_memory(cell, found, notes)
    return CellResult(
        threads=threads, params=params, **timing,
        peak_rss_mb=peak_rss_mb(),
        data_fingerprint=data_set.fingerprint, startup_s=clock.startup_s, epochs=tuple(epochs), notes=tuple(notes),
        kernel_effective=probe.effective, **clock.phases(), **found,
    )


def main(argv: list[str]) -> int:
    job_path, result_path = Path(argv[0]), Path(argv[1])
    job = json.loads(job_path.read_text())
    # First line of the cell's log: where it ran, as the child itself sees it.
    cores = ",".join(map(str, sorted(os.sched_getaffinity(0)))) if hasattr(os, "sched_getaffinity") else "?"
    print(f"rnnbench cell {job['cell'].get('cell_id', '?')}: pid {os.getpid()}, cores {cores}, threads {job['threads']}",
          flush=True)
    result = run_cell(Cell.from_dict(job["cell"]), job["threads"], job.get("data"),
                      job.get("spawned_at"), job.get("speed_only", False), job.get("steps"), job.get("repeats"))
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(result.to_json())
    os.replace(tmp, result_path)  # the parent sees a whole result or none
    return 0


def exit_now(code: int) -> None:
    """End the cell process at once, its output flushed. The result file is complete (written whole, then
    renamed) and the parent reads nothing else from this process, so the interpreter's teardown (the
    framework's atexit handlers, thread joins, module clean-up: about 1 s a cell on a 2-core CPU, spent
    after the cell's last line) is skipped; nothing it would do reaches a figure."""
    from rnnbench.cell.quiet import flush_c_stdio

    sys.stdout.flush()
    sys.stderr.flush()
    flush_c_stdio()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
