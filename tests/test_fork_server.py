"""The fork server (bench/execute/fork_server.py): a CPU cell forked from a process that has imported the framework
gives the same figures as a spawned one, keeps the process contract, and falls back to spawning."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pandas as pd
import pytest
from rnnbench.cell.hooks import FAULT_ENV
from rnnbench.config import launch as launch_plan
from rnnbench.config.spec import SweepSpec
from rnnbench.errors import BadInput
from rnnbench.execute.fork_server import ForkServer, ForkServerError
from rnnbench.execute.processes import CellProcesses
from rnnbench.execute.spawner import Spawner
from rnnbench.execute.sweep import run_sweep
from rnnbench.storage.result import STARTUP_PHASES

TINY = dict(kernels=("generic",), maxlen=(16,), batch_size=(32,), epochs=1, train_samples=256, test_samples=128,
            speed_target_s=0.2)


def _cell(**kw):
    return SweepSpec(**{**TINY, "models": ("lstm",), **kw}).expand()[0]


@pytest.fixture
def spawners(tmp_path):
    made = []

    def make(launch, **kw):
        spawner = Spawner(CellProcesses(tmp_path / launch / "logs", 300, threads=1, launch=launch, **kw))
        made.append(spawner)
        return spawner

    yield make
    for spawner in made:
        spawner.close()


def test_a_forked_cell_measures_what_a_spawned_one_does_and_starts_sooner(spawners):
    # Op determinism is on (no XLA): the same seed must train to the very same accuracy and loss either way.
    cell = _cell()
    from rnnbench import datasets

    datasets.padded(cell.dataset, cell.maxlen)  # cached before the first cell: building it would raise that cell's peak
    results, spawner = {}, None
    for launch in ("spawn", "fork", "fork"):  # the second fork: a warm server, its first fork paid for the import
        spawner = spawners(launch) if launch not in results else spawner
        result, reason = spawner.spawn(cell, spawner.log_path(cell), {})
        assert result is not None, reason
        assert spawner.settings(cell)["launch"] == launch
        results.setdefault(launch, []).append(result)
    spawned, (first_fork, warm_fork) = results["spawn"][0], results["fork"]
    for forked in (first_fork, warm_fork):
        assert forked.params == spawned.params
        assert forked.test_acc == spawned.test_acc and forked.test_loss == spawned.test_loss
        assert [e["loss"] for e in forked.epochs] == [e["loss"] for e in spawned.epochs]
        assert forked.kernel_effective == spawned.kernel_effective
        assert all(getattr(forked, phase) is not None for phase in STARTUP_PHASES)
        # The server's library pages are read again in the child: its peak counts them as a spawned cell's
        # does (it read about 0.6x without; bench/execute/resident_pages.py).
        assert forked.peak_rss_mb == pytest.approx(spawned.peak_rss_mb, rel=0.1)
    # The framework was imported before the fork: a warm server's child skips that phase's import.
    assert warm_fork.startup_framework_s < spawned.startup_framework_s / 2
    assert warm_fork.startup_s < spawned.startup_s


def test_a_forked_cell_runs_on_its_cores_with_its_log(spawners):
    cores = sorted(os.sched_getaffinity(0))[:1]
    spawner = spawners("fork", cpus=tuple(cores))
    cell = _cell(epochs=0)
    result, reason = spawner.spawn(cell, spawner.log_path(cell), {})
    assert result is not None, reason
    first_line = spawner.log_path(cell).read_text().splitlines()[0]
    assert first_line.startswith(f"rnnbench cell {cell.cell_id}") and f"cores {cores[0]}," in first_line
    assert spawner.settings(cell) == {"threads": 1, "cpus": str(cores[0]), "launch": "fork"}


@pytest.mark.slow
@pytest.mark.parametrize("kind, expected", [("raise", "exited with code 1"), ("segfault", "killed by SIGSEGV"),
                                            ("hang", "timed out after 15 s")])
def test_a_failing_forked_cell_leaves_the_server_serving(spawners, monkeypatch, kind, expected):
    spawner = spawners("fork")
    spawner.timeout_s = 15
    monkeypatch.setenv(FAULT_ENV, f"simple_rnn:{kind}")
    bad, good = _cell(models=("simple_rnn",), epochs=0), _cell(epochs=0)
    result, reason = spawner.spawn(bad, spawner.log_path(bad), {})
    assert result is None and expected in reason
    assert spawner.settings(bad)["launch"] == "fork"
    if kind == "raise":
        assert "RuntimeError: injected fault" in spawner.log_path(bad).read_text()
    result, reason = spawner.spawn(good, spawner.log_path(good), {})  # same environment: the same server
    assert result is not None, reason
    assert len(spawner._servers) == 1


def test_a_server_that_dies_mid_cell_fails_that_cell_and_a_new_one_serves_the_next(spawners, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "simple_rnn:hang")
    spawner = spawners("fork")
    bad, good = _cell(models=("simple_rnn",), epochs=0), _cell(epochs=0)
    spawner.spawn(good, spawner.log_path(good), {})  # start the server for this environment
    (server,) = spawner._servers.values()
    threading.Timer(3.0, lambda: os.kill(server.proc.pid, signal.SIGKILL)).start()
    start = time.monotonic()
    result, reason = spawner.spawn(bad, spawner.log_path(bad), {})
    assert result is None and "fork server died (killed by SIGKILL" in reason, reason  # how it died, not its last log line
    assert time.monotonic() - start < 60  # the hanging child died with its server; nothing waited for the timeout
    result, reason = spawner.spawn(good, spawner.log_path(good), {})
    assert result is not None, reason
    assert spawner.settings(good)["launch"] == "fork" and spawner._servers[next(iter(spawner._servers))] is not server


def test_a_server_whose_imports_start_a_thread_refuses_and_the_cell_spawns(tmp_path, monkeypatch):
    # A sitecustomize that starts a thread at interpreter start: forking then could copy a held lock.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import threading, time\n"
                                           "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    spec = SweepSpec(models=("lstm",), launch="fork", **{**TINY, "epochs": 0})
    run_sweep(spec, tmp_path / "run", quiet=True)
    row = pd.read_csv(tmp_path / "run" / "cells.csv").iloc[0]
    assert row.status == "ok" and row.launch == "spawn"
    assert "launch: spawned (refused: the imports started 1 Python thread(s)" in row.notes


def test_an_answer_out_of_step_stops_the_server_instead_of_misleading_the_next_cell(tmp_path):
    # The previous cell's exit answer still unread (its wait gave up): the next start must not take it for a
    # pid, and the server must go, so nothing it forks runs unwatched.
    server = ForkServer.__new__(ForkServer)
    server.proc = subprocess.Popen(["sleep", "60"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    server.stderr_path, server._buffer = tmp_path / "err", b'{"exit": 0}\n'
    with pytest.raises(ForkServerError, match="did not fork"):
        server.start(["job", "result"], {}, None, tmp_path / "log", False)
    assert not server.alive()


def test_beyond_the_server_cap_an_environment_s_cells_spawn_and_say_why(tmp_path, monkeypatch):
    # Seeds are the innermost axis: a server per seed, up to the cap; the next seed's cells spawn, not evict.
    monkeypatch.setattr(launch_plan, "MAX_FORK_SERVERS", 1)
    run_sweep(SweepSpec(models=("gru",), seeds=(0, 1), launch="fork", **{**TINY, "epochs": 0}), tmp_path, quiet=True)
    rows = pd.read_csv(tmp_path / "cells.csv").set_index("seed")
    assert rows.loc[0, "launch"] == "fork" and rows.loc[1, "launch"] == "spawn"
    assert "launch: spawned (1 fork servers already serve this slot's other environments)" in rows.loc[1, "notes"]


def test_a_sweep_records_how_each_cell_started(tmp_path):
    assert SweepSpec().launch == "fork"  # the default, since forked cells measure what spawned ones do
    run_sweep(SweepSpec(models=("lstm", "gru"), **{**TINY, "epochs": 0}), tmp_path / "fork", quiet=True)
    forked = pd.read_csv(tmp_path / "fork" / "cells.csv")
    assert set(forked.launch) == {"fork"}
    assert not forked.notes.fillna("").str.contains("peak_rss_mb|launch").any()  # the same figures as a spawned cell's
    run_sweep(SweepSpec(models=("gru",), launch="spawn", **{**TINY, "epochs": 0}), tmp_path / "spawn", quiet=True)
    spawned = pd.read_csv(tmp_path / "spawn" / "cells.csv")
    assert set(spawned.launch) == {"spawn"} and not spawned.notes.fillna("").str.contains("fork").any()
    # Several speed processes sample fresh processes: they are spawned even when fork is asked for.
    run_sweep(SweepSpec(models=("gru",), processes=2, launch="fork", **{**TINY, "epochs": 0}), tmp_path / "procs",
              quiet=True)
    assert set(pd.read_csv(tmp_path / "procs" / "cells.csv").launch) == {"spawn"}
    # compare says when two rows started differently
    from rnnbench.storage.store import load_run
    from rnnbench.verdict.compare import compare_runs

    notes = [f.note for f in compare_runs(load_run(tmp_path / "spawn"), load_run(tmp_path / "fork")).findings
             if f.check == "speed"]
    assert notes and all("launch differ: spawn vs fork" in note for note in notes)
    assert any("started differently in the two runs" in note for note in compare_runs(
        load_run(tmp_path / "spawn"), load_run(tmp_path / "fork")).notes)


def test_no_fork_server_outlives_its_sweep(tmp_path):
    run_sweep(SweepSpec(models=("gru",), launch="fork", **{**TINY, "epochs": 0}), tmp_path, quiet=True)
    mine = str(os.getpid())
    servers = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if b"rnnbench.execute.fork_server" in cmd and ppid == mine:
            servers.append(pid)
    assert servers == []


def test_an_unknown_launch_is_refused():
    with pytest.raises(BadInput, match="unknown launch 'forkk'.*fork"):
        SweepSpec(launch="forkk")
    with pytest.raises(BadInput, match="launch must be one of"):
        Spawner(CellProcesses("/tmp", 10, launch="exec"))


def test_a_spawned_cell_exits_at_once_with_its_output_flushed(tmp_path):
    """The runner ends its process with os._exit once the result is written (the interpreter's teardown cost
    about 0.9 s a cell here); what the cell printed, through Python or C stdio, still reaches its log."""
    import os
    import subprocess
    import sys

    code = ("import ctypes, sys\n"
            "from rnnbench.cell.runner import exit_now\n"
            "print('from python', end='')\n"
            "ctypes.CDLL(None).printf(b' and from C')\n"
            "exit_now(3)\n"
            "print('never')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as a cell's log is
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 3 and done.stdout == "from python and from C"


def _rss_file_kb() -> int:
    """This process's resident file-backed memory (kB), from /proc/self/status."""
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    raise AssertionError("no RssFile in /proc/self/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/pagemap"), reason="Linux only")
def test_a_forked_child_reads_the_parents_resident_file_pages_into_its_own_resident_set():
    from rnnbench.execute.resident_pages import resident_file_pages, touch

    pages = resident_file_pages()
    parent_kb = _rss_file_kb()
    noted_kb = sum(size for _, size in pages) // 1024
    assert noted_kb > 0.8 * parent_kb  # what the parent holds of its libraries' mappings
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its file pages after touching the parent's, then leave at once
        try:
            touched = touch(pages)
            os.write(write, f"{touched} {_rss_file_kb()}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    touched, child_kb = map(int, os.read(read, 100).split())
    os.close(read)
    assert touched == sum(size for _, size in pages)  # every run read, none refused
    assert child_kb >= 0.95 * parent_kb  # the child's file pages now stand where the parent's do


@pytest.mark.skipif(not os.path.exists("/proc/self/pagemap"), reason="Linux only")
def test_pages_that_cannot_be_read_are_skipped_not_a_signal():
    """A run noted by the server may be gone or shrunk in the child: it is skipped, the cell goes on."""
    from rnnbench.execute.resident_pages import touch

    assert touch([(4096, 4096)]) == 0  # the first pages of the address space are never mapped
