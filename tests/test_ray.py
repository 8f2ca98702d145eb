"""--executor ray: the same rows as the local executor, a failing cell is one row, a killed driver resumes.

Every test here that runs cells uses a real Ray (no mock): one local instance for the module (each start
costs seconds), with 2 CPUs. The two-node cluster is tests/test_ray_cluster.py (it needs its own Ray).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
from rnnbench.cell.hooks import FAULT_ENV
from rnnbench.cli import main
from rnnbench.config.spec import SweepSpec
from rnnbench.errors import BadInput
from rnnbench.execute.processes import CellProcesses
from rnnbench.execute.sweep import run_sweep

TINY = dict(kernels=("generic",), maxlen=(8,), batch_size=(32,), epochs=0, train_samples=64, test_samples=64,
            speed_target_s=0.1)


@pytest.fixture(scope="module")
def ray_instance(shared_cache, tmp_path_factory):
    """One local Ray for the module; its workers get the session's data cache (they start before any test's
    environment is set, so it goes in the job's environment)."""
    ray = pytest.importorskip("ray")
    env = {"RNNBENCH_CACHE": shared_cache, "KERAS_HOME": str(tmp_path_factory.mktemp("keras_home_ray")),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()


def _cells(path):
    return pd.read_csv(path / "cells.csv").set_index("cell_id").sort_index()


@pytest.mark.slow
def test_ray_rows_equal_the_local_executor_s(tmp_path, ray_instance):
    """Same cells, statuses, parameter counts, threads and (one epoch, no XLA: op determinism) test accuracy
    as the local executor; each row names the node it ran on; logs and the node's calibration are stored;
    a Ray the caller started stays up."""
    spec = SweepSpec(models=("simple_rnn", "gru"), threads=1, **{**TINY, "epochs": 1})
    run_sweep(spec, tmp_path / "local", quiet=True)
    run_sweep(spec.replace(executor="ray"), tmp_path / "ray", quiet=True)
    local, ray_rows = _cells(tmp_path / "local"), _cells(tmp_path / "ray")
    assert list(ray_rows.index) == list(local.index)
    for column in ("model", "status", "params", "threads", "test_acc", "repeats"):
        assert list(ray_rows[column]) == list(local[column]), column
    assert set(ray_rows.status) == {"ok"} and (ray_rows.train_samples_per_s > 0).all()
    assert set(ray_rows.host) == {socket.gethostname()} and ray_rows.efficiency.notna().all()
    for cell_id in ray_rows.index:  # the driver wrote each cell's log into the run directory
        assert "rnnbench" in (tmp_path / "ray" / "logs" / f"{cell_id}.log").read_text() or \
            (tmp_path / "ray" / "logs" / f"{cell_id}.log").stat().st_size > 0
    import json

    calibration = json.loads((tmp_path / "ray" / "run.json").read_text())["calibration"]
    assert len(calibration) == 1 and calibration[0]["node_id"] and calibration[0]["host"] == socket.gethostname()
    steps = pd.read_csv(tmp_path / "ray" / "steps.csv").groupby("cell_id").size()  # every timed step stored
    assert dict(steps) == dict(ray_rows.repeats * ray_rows.steps_per_repeat)
    assert ray_instance.is_initialized()  # the caller's Ray is not the sweep's to shut down
    assert not list((tmp_path / "ray").glob(".rnnbench-scratch-*"))


@pytest.mark.slow
def test_a_failing_cell_on_ray_is_a_failed_row_and_the_others_are_ok(tmp_path, monkeypatch, ray_instance):
    """The fault hook is the driver's: it reaches the cell in its Ray worker, started before it was set. Two
    speed processes: the ok cell's second one (on its first one's node) is pooled into its row."""
    monkeypatch.setenv(FAULT_ENV, "simple_rnn:raise")
    run_sweep(SweepSpec(models=("simple_rnn", "gru"), threads=1, executor="ray", processes=2, **TINY), tmp_path, quiet=True)
    cells = pd.read_csv(tmp_path / "cells.csv").set_index("model")
    assert cells.loc["simple_rnn", "status"] == "failed"
    assert "RuntimeError: injected fault" in cells.loc["simple_rnn", "error"]
    assert cells.loc["simple_rnn", "error"].startswith("exited with code 1; log ")
    assert cells.loc["gru", "status"] == "ok" and cells.loc["gru", "train_samples_per_s"] > 0
    assert cells.loc["gru", "processes"] == 2 and cells.loc["gru", "repeats"] == 10


def test_an_unknown_executor_is_bad_input_naming_the_known_ones():
    with pytest.raises(BadInput, match="unknown executor 'rey' \\(did you mean 'ray'\\?\\); known executors: local, ray"):
        SweepSpec(executor="rey")


def test_without_ray_the_sweep_is_one_line_and_exit_2_before_the_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray: ImportError, as when it is not installed
    out = tmp_path / "run"
    code = main(["run", "--preset", "smoke", "--models", "gru", "--executor", "ray", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "pip install 'rnnbench[ray]'" in err
    assert not out.exists()


@pytest.mark.parametrize("change, message", [({"cpus": (0,)}, "--cpus confines cells"),
                                              ({"parallel": 2}, "--parallel runs cells in slots")])
def test_settings_of_one_machine_are_refused_with_ray(tmp_path, ray_instance, change, message):
    with pytest.raises(BadInput, match=message):
        run_sweep(SweepSpec(models=("gru",), executor="ray", **TINY, **change), tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_threads_beyond_the_largest_node_are_refused(tmp_path, ray_instance):
    with pytest.raises(BadInput, match="threads = 3, but the largest node of the Ray cluster has 2 CPU"):
        run_sweep(SweepSpec(models=("gru",), executor="ray", threads=3, **TINY), tmp_path / "run", quiet=True)


def test_a_gpu_cell_is_skipped_when_no_node_has_a_gpu(tmp_path, ray_instance):
    from rnnbench.execute.ray_executor import RayExecutor

    executor = RayExecutor(CellProcesses(tmp_path / "logs", 60, threads=1))
    cpu, gpu = SweepSpec(models=("gru",), devices=("cpu", "gpu:1"), **TINY).expand()
    assert executor.skip_reason(cpu) is None
    assert "gpu:1 requested but no node of the Ray cluster has 2 GPU(s)" in executor.skip_reason(gpu)


@pytest.mark.slow
def test_a_driver_killed_mid_sweep_resumes_every_cell_once(tmp_path, shared_cache):
    """`rnnbench run --executor ray` (its own local Ray), SIGKILLed once a row is stored, then rerun: the done
    cells are reused unchanged, the rest run, every cell is in cells.csv once."""
    pytest.importorskip("ray")
    sweep = tmp_path / "tiny.toml"
    # Six cells: a Ray cell done before its node's calibration is held until it ends, so with three cells of
    # 0.1 s all could be stored at once (they were, once spawned cells exited at once): nothing left to resume.
    sweep.write_text('models = ["simple_rnn", "gru", "lstm"]\nkernels = ["generic"]\nmaxlen = [8, 16]\nbatch_size = [32]\n'
                     "epochs = 0\ntrain_samples = 64\ntest_samples = 64\nspeed_target_s = 0.5\n")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "rnnbench", "run", "--sweep", str(sweep), "--executor", "ray", "--out", str(out),
               "--threads", "1", "--no-report"]  # two cells at once on the 2-CPU local Ray
    env = {**os.environ, "RNNBENCH_CACHE": shared_cache, "TF_CPP_MIN_LOG_LEVEL": "3"}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (out / "cells.csv").is_file():
            assert driver.poll() is None, "the sweep ended before a cell was stored"
            assert time.monotonic() < deadline, "no cell stored in 240 s"
            time.sleep(0.2)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        before = _cells(out)
        assert 1 <= len(before) < 6 and set(before.status) == {"ok"}
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
    finally:
        # What the killed driver left (its Ray's agents exit on their own, later): the session it led.
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    after = _cells(out)
    assert len(after) == 6 and after.index.is_unique and set(after.status) == {"ok"}
    assert f"resuming: {len(before)} cell(s) already done" in rerun.stdout
    assert rerun.stdout.count("] ok ") == 6 - len(before)  # the rest ran, once each
    reused = after.loc[before.index]
    assert list(reused.train_samples_per_s) == list(before.train_samples_per_s)  # reused, not rerun
