"""Isolation: a crashing, segfaulting or hanging cell is one failed row, and the next cell still runs."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from rnnbench.cell.hooks import FAULT_ENV
from rnnbench.config.spec import SweepSpec
from rnnbench.errors import BadInput
from rnnbench.execute.processes import CellProcesses
from rnnbench.execute.spawner import child_env
from rnnbench.execute.sweep import run_sweep

TINY = dict(kernels=("generic",), maxlen=(8,), batch_size=(32,), epochs=0, train_samples=64, test_samples=64,
            speed_target_s=0.1)


def test_child_env_fixes_backend_devices_and_threads():
    cpu, gpu = SweepSpec(models=("lstm",), devices=("cpu", "gpu:1"), **TINY).expand()
    env = child_env(cpu, threads=2)
    assert env["KERAS_BACKEND"] == "tensorflow" and env["CUDA_VISIBLE_DEVICES"] == ""
    assert env["OMP_NUM_THREADS"] == "2" and env["TF_NUM_INTEROP_THREADS"] == "1"
    assert child_env(gpu, threads=2)["CUDA_VISIBLE_DEVICES"] == "1"


@pytest.mark.slow
@pytest.mark.parametrize("kind, expected", [("raise", "RuntimeError: injected fault"), ("segfault", "killed by SIGSEGV"),
                                            ("hang", "timed out after 20 s"),
                                            ("alloc", "exceeded the memory limit of 1500 MB")])
def test_a_failing_cell_is_a_row_and_the_sweep_goes_on(tmp_path, monkeypatch, kind, expected):
    monkeypatch.setenv(FAULT_ENV, f"simple_rnn:{kind}")
    spec = SweepSpec(models=("simple_rnn", "gru"), timeout_s=20, memory_limit_mb=1500, **TINY)
    run_sweep(spec, tmp_path, quiet=True)
    cells = pd.read_csv(tmp_path / "cells.csv").set_index("model")
    assert cells.loc["simple_rnn", "status"] == "failed"
    assert expected in cells.loc["simple_rnn", "error"]
    assert cells.loc["gru", "status"] == "ok" and cells.loc["gru", "train_samples_per_s"] > 0

    # --retry-failed reruns just the failed cell; here the fault is gone, so it now succeeds.
    monkeypatch.delenv(FAULT_ENV)
    result = run_sweep(spec, tmp_path, quiet=True, retry_failed=True)
    assert result.ran == 1
    assert set(pd.read_csv(tmp_path / "cells.csv").status) == {"ok"}


def test_speed_processes_are_pooled_into_one_row(tmp_path):
    """processes=3: one row (accuracy from the first process), 3 x 5 repeats of raw steps, each process's
    repeats numbered on from the last, and the pooled median inside the processes' range."""
    spec = SweepSpec(models=("simple_rnn",), processes=3, **{**TINY, "epochs": 1})
    run_sweep(spec, tmp_path, quiet=True)
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert len(cells) == 1
    row = cells.iloc[0]
    assert row.status == "ok" and row.processes == 3 and row.repeats == 15 and row.test_acc >= 0
    steps = pd.read_csv(tmp_path / "steps.csv")
    assert sorted(steps.repeat.unique()) == list(range(15))
    assert (steps.groupby("repeat").size() == row.steps_per_repeat).all()  # later processes reuse the step count
    assert "speed pooled over 3 processes" in row.notes
    assert len(pd.read_csv(tmp_path / "epochs.csv")) == 1  # only the first process trains


def _fake_payload(speed):
    from rnnbench.storage.result import CellResult

    return CellResult(threads=1, params=10, repeat_samples_per_s=(speed,) * 5, steps_per_repeat=2,
                      steps=tuple({"repeat": r, "step": s, "step_s": 0.01} for r in range(5) for s in range(2)),
                      compile_s=0.1, infer_samples_per_s=speed, infer_latency_ms_p50=1.0, infer_latency_ms_p95=1.0,
                      peak_rss_mb=100.0, data_fingerprint="f")


def test_speed_processes_run_in_interleaved_rounds_and_a_late_failure_fails_the_cell(tmp_path, monkeypatch):
    """Round 1 runs every cell's first process, round 2 every cell's second...: a slow minute of the
    machine costs each cell one process, not all of one cell's. A speed process that dies fails its cell."""
    from rnnbench.execute.executor import LocalExecutor

    a, b = SweepSpec(models=("simple_rnn", "gru"), **TINY).expand()
    calls = []

    def fake_spawn(self, spawner, cell, extra, gpu):
        calls.append((cell.model, bool(extra.get("speed_only"))))
        if extra.get("speed_only"):  # later processes get the first one's budget
            assert (extra["steps"], extra["repeats"]) == (2, 5)
        if cell.model == "gru" and len([c for c in calls if c[0] == "gru"]) == 3:
            return None, "killed by SIGSEGV"
        return _fake_payload(100.0), ""

    monkeypatch.setattr(LocalExecutor, "_spawn", fake_spawn)
    monkeypatch.setattr(LocalExecutor, "calibrate", lambda self, backend, device: None)
    outcomes = list(LocalExecutor(CellProcesses(tmp_path / "logs", 60, threads=1, processes=3)).run([a, b]))
    assert calls == [("simple_rnn", False), ("gru", False), ("simple_rnn", True), ("gru", True),
                     ("simple_rnn", True), ("gru", True)]
    by_model = {o.cell.model: o for o in outcomes}
    assert by_model["simple_rnn"].status == "ok" and by_model["simple_rnn"].row["processes"] == 3
    assert by_model["gru"].status == "failed" and "speed process 3 of 3: killed by SIGSEGV" in by_model["gru"].row["error"]


@pytest.mark.slow
def test_cpus_confine_every_cell_process_and_set_threads(tmp_path):
    """cpus=(k,): each cell process sees only core k (its log's first line, written by the child) and
    runs one thread; the row and the calibration record the cores."""
    core = max(os.sched_getaffinity(0))
    spec = SweepSpec(models=("simple_rnn",), cpus=(core,), processes=2, **TINY)
    run_sweep(spec, tmp_path, quiet=True)
    row = pd.read_csv(tmp_path / "cells.csv", dtype={"cpus": str}).iloc[0]
    assert row.status == "ok" and row.threads == 1 and row.cpus == str(core)
    log = (tmp_path / "logs" / f"{row.cell_id}.log").read_text()
    starts = [line for line in log.splitlines() if line.startswith("rnnbench cell")]
    assert len(starts) == 2 and all(line.endswith(f"cores {core}, threads 1") for line in starts), starts
    (calibration,) = json.loads((tmp_path / "run.json").read_text())["calibration"]
    assert calibration["cpus"] == str(core) and calibration["threads"] == 1


def test_cpus_outside_this_process_affinity_are_refused_before_anything_runs(tmp_path):
    usable = os.sched_getaffinity(0)
    spec = SweepSpec(models=("simple_rnn",), cpus=(max(usable) + 1,), **TINY)
    with pytest.raises(BadInput, match=f"core {max(usable) + 1} is not usable here"):
        run_sweep(spec, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_slots_are_disjoint_equal_core_sets_and_more_slots_than_cores_is_refused():
    from rnnbench.execute.executor import slot_cores

    assert slot_cores((1, 0), 2) == [(0,), (1,)]
    assert slot_cores(tuple(range(8)), 3) == [(0, 1), (2, 3), (4, 5)]  # cores 6, 7 left to the OS
    with pytest.raises(BadInput, match="--parallel 3 needs at least 3 cores"):
        slot_cores((0, 1), 3)


def _slot_run(tmp_path, monkeypatch, cells, gpus=0, threads=None, processes=1):
    """Run ``cells`` in 2 slots with a fake spawn that checks, at every start, that no running process
    shares its cores or GPU; returns what each process got."""
    import threading
    import time

    from rnnbench.execute.executor import LocalExecutor

    lock, active, seen = threading.Lock(), [], []
    overlap = threading.Barrier(2, timeout=20)

    def fake_spawn(self, spawner, cell, extra, gpu):
        with lock:
            for other_cpus, other_gpu in active:
                assert not set(other_cpus) & set(spawner.cpus), "two running cells share a core"
                assert gpu is None or gpu != other_gpu, "two running cells share a GPU"
            active.append((spawner.cpus, gpu))
            seen.append((cell.cell_id, spawner.cpus, spawner.threads, gpu))
        if len(seen) <= 2:
            overlap.wait()  # the first two processes must be running at the same time
        time.sleep(0.05)
        with lock:
            active.remove((spawner.cpus, gpu))
        return _fake_payload(100.0), ""

    monkeypatch.setattr(LocalExecutor, "_spawn", fake_spawn)
    monkeypatch.setattr(LocalExecutor, "_calibrate_in_slots", lambda self, backend, device: None)
    monkeypatch.setattr(LocalExecutor, "calibrate", lambda self, backend, device: None)
    executor = LocalExecutor(CellProcesses(tmp_path / "logs", 60, threads=threads, cpus=(0, 1), parallel=2,
                                           processes=processes), gpu_count=lambda: gpus)
    return list(executor.run(cells)), seen


def test_parallel_slots_run_cells_at_once_on_disjoint_cores(tmp_path, monkeypatch):
    cells = SweepSpec(models=("simple_rnn", "lstm", "gru"), seeds=(0, 1), **TINY).expand()
    outcomes, seen = _slot_run(tmp_path, monkeypatch, cells, processes=2)
    assert sorted(o.cell.cell_id for o in outcomes) == sorted(c.cell_id for c in cells)
    assert all(o.status == "ok" and o.row["processes"] == 2 for o in outcomes)
    assert {cpus for _, cpus, _, _ in seen} == {(0,), (1,)}
    assert {threads for _, _, threads, _ in seen} == {1}  # a slot's threads: its cores
    # each row names the cores its cell trained on (its first process's slot)
    first = {cid: cpus for cid, cpus, _, _ in reversed(seen)}
    assert all(o.row["cpus"] == ",".join(map(str, first[o.cell.cell_id])) for o in outcomes)


def test_parallel_gpu_cells_never_share_a_gpu_and_a_numbered_one_waits_for_its_own(tmp_path, monkeypatch):
    cells = SweepSpec(models=("simple_rnn", "lstm", "gru"), devices=("gpu", "gpu:1"), **TINY).expand()
    outcomes, seen = _slot_run(tmp_path, monkeypatch, cells, gpus=2)
    assert len(outcomes) == 6 and {g for *_, g in seen} == {0, 1}
    by_id = {c.cell_id: c for c in cells}
    assert all(g == 1 for cid, _, _, g in seen if by_id[cid].device == "gpu:1")


def test_parallel_refuses_more_threads_than_a_slot_has(tmp_path):
    from rnnbench.execute.executor import LocalExecutor

    with pytest.raises(BadInput, match="threads = 2 is more than the 1 core"):
        LocalExecutor(CellProcesses(tmp_path / "logs", 60, threads=2, cpus=(0, 1), parallel=2))


@pytest.mark.slow
def test_a_parallel_sweep_stores_every_cell_once_with_its_slot_s_cores(tmp_path):
    spec = SweepSpec(models=("simple_rnn", "gru"), parallel=2, **TINY)
    run_sweep(spec, tmp_path, quiet=True)
    cells = pd.read_csv(tmp_path / "cells.csv", dtype={"cpus": str})
    assert sorted(cells.model) == ["gru", "simple_rnn"] and set(cells.status) == {"ok"}
    assert sorted(cells.cpus) == ["0", "1"] and set(cells.threads) == {1}
    import json

    calibration = json.loads((tmp_path / "run.json").read_text())["calibration"]
    assert calibration and calibration[0]["slots"] == 2 and len(calibration[0]["slot_gflops"]) == 2
