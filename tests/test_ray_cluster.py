"""--executor ray on a two-node Ray cluster (both nodes on this machine): a node that dies mid-cell fails
that cell, naming the node, and the sweep goes on. Its own module: the cluster needs a Ray of its own."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from rnnbench.cell.hooks import FAULT_ENV
from rnnbench.config.spec import SweepSpec
from rnnbench.execute.processes import CellProcesses
from rnnbench.execute.sweep import run_sweep

TINY = dict(kernels=("generic",), maxlen=(8,), batch_size=(32,), epochs=0, train_samples=64, test_samples=64,
            speed_target_s=0.1)


@pytest.fixture(scope="module")
def cluster(shared_cache, tmp_path_factory):
    """A head with one CPU (resource "head") and a worker node with one CPU (resource "side")."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    env = {"RNNBENCH_CACHE": shared_cache, "KERAS_HOME": str(tmp_path_factory.mktemp("keras_home_ray")),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 1}})
    side = nodes.add_node(num_cpus=1, resources={"side": 1})
    ray.init(address=nodes.address, log_to_driver=False, logging_level=logging.ERROR, runtime_env={"env_vars": env})
    yield nodes, side
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture(autouse=True)
def no_hang():
    """A test here that waits on a cluster past 4 minutes fails instead of holding CI (SIGALRM in the main
    thread interrupts ray.wait)."""
    import signal

    def expired(signum, frame):
        raise TimeoutError("test_ray_cluster: no result within 240 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(240)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _runner_of(cell_id: str) -> list[int]:
    """Pids of the cell processes (``rnnbench.cell.runner``) running ``cell_id``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "rnnbench.cell.runner" in cmdline and f"{cell_id}-" in cmdline:
            pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_a_node_that_dies_mid_cell_fails_that_cell_naming_the_node(tmp_path, monkeypatch, cluster):
    from rnnbench.execute.ray_executor import RayExecutor

    nodes, side = cluster
    monkeypatch.setenv(FAULT_ENV, "simple_rnn:hang")  # so it is still running when its node goes
    # The timeout ends the hanging cell should its node never be removed: the test fails, it does not hang.
    spec = SweepSpec(models=("simple_rnn", "gru"), threads=1, executor="ray", timeout_s=90, **TINY)
    hanging = next(c for c in spec.expand() if c.model == "simple_rnn")
    executor = RayExecutor(CellProcesses(tmp_path / "logs", spec.timeout_s, threads=1),
                           task_options=lambda cell: {"resources": {"side" if cell.model == "simple_rnn" else "head": 1}})
    killed = threading.Event()

    def kill_the_side_node() -> None:
        deadline = time.monotonic() + 80
        while not _runner_of(hanging.cell_id):  # its cell process runs: the node goes mid-cell
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)
        time.sleep(1)
        nodes.remove_node(side)
        killed.set()

    killer = threading.Thread(target=kill_the_side_node, daemon=True)
    killer.start()
    start = time.monotonic()
    run_sweep(spec, tmp_path, quiet=True, executor=executor)
    killer.join(timeout=60)
    assert killed.is_set(), "the hanging cell's process was never seen running"
    assert time.monotonic() - start < 85  # it did not wait for the cell's timeout
    cells = pd.read_csv(tmp_path / "cells.csv").set_index("model")
    row = cells.loc["simple_rnn"]
    assert row.status == "failed" and "NodeDiedError" in row.error
    assert side.node_id[:12] in row.error and row.host in row.error  # names the node
    assert cells.loc["gru", "status"] == "ok" and cells.loc["gru", "train_samples_per_s"] > 0
    deadline = time.monotonic() + 20  # the dead node's cell process went with it
    while _runner_of(hanging.cell_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _runner_of(hanging.cell_id)
