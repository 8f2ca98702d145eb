"""Spawning one cell process (or the calibration's) and watching it: the mechanics every executor reuses.

A :class:`Spawner` starts ``python -P -m rnnbench.cell.runner JOB RESULT`` with the cell's backend, device
visibility and threads fixed in its environment, confined to its cores, in a session of its own (so a
timeout kills everything it started) that dies with the parent; it enforces the timeout and the memory
limit, and reads back the typed result (bench/storage/result.py). Scheduling (which cell when, how many
processes, pooling) is the executor's (bench/execute/executor.py), so another executor (slots in parallel,
Ray) reuses this process contract, the calibration and the result type unchanged.

With ``launch="fork"`` a CPU cell's process is forked from a fork server (bench/execute/fork_server.py) that has
already imported the framework in the very environment the cell would be spawned with, instead of a new
interpreter importing it again: the same process contract (own session, cores, environment, log,
timeout, memory limit, result file) at a fraction of the fixed cost. The row's ``launch`` column says
which way each cell started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnbench.config import launch as launch_plan
from rnnbench.config.launch import forks
from rnnbench.config.spec import LAUNCHES, Cell, resolve_threads
from rnnbench.errors import BadInput
from rnnbench.execute.devices import gpu_index
from rnnbench.execute.fork_server import (
    START_TIMEOUT_S,
    ForkRefused,
    ForkServer,
    ForkServerError,
    describe_exit,
    die_with_parent,
)
from rnnbench.execute.processes import CellProcesses
from rnnbench.storage import ownership
from rnnbench.storage.result import CellResult
from rnnbench.storage.store import SCRATCH_PREFIX

STDERR_TAIL_LINES = 5
WATCH_INTERVAL_S = 0.2


def _rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (0 when it is gone or /proc is absent)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def check_cpus(cpus: tuple[int, ...]) -> None:
    """Raise BadInput unless every core in ``cpus`` is one this process may run on."""
    usable = sorted(os.sched_getaffinity(0))
    missing = [c for c in cpus if c not in usable]
    if missing:
        raise BadInput(f"cpus: core {missing[0]} is not usable here; usable cores: {','.join(map(str, usable))}")


def default_memory_limit_mb() -> float:
    """80% of physical memory: a runaway cell is stopped before the machine starts swapping or the OOM
    killer picks the sweep itself."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.8


def child_env(cell: Cell, threads: int) -> dict[str, str]:
    """The environment a cell's process starts with: backend, device visibility and threads fixed."""
    return _env(cell.backend, cell.device, threads, cell.seed)


def _env(backend: str, device: str, threads: int, seed: int = 0) -> dict[str, str]:
    env = dict(os.environ)
    index = gpu_index(device)
    env.update(
        KERAS_BACKEND=backend,
        CUDA_VISIBLE_DEVICES="" if index is None else str(index),
        OMP_NUM_THREADS=str(threads),
        TF_NUM_INTRAOP_THREADS=str(threads),
        TF_NUM_INTEROP_THREADS="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONHASHSEED=str(seed),
        PYTHONUNBUFFERED="1",
        # With -P on the command line: the working directory (a user's project with its own models/ or
        # rnnbench/ package) never goes on sys.path, in the cell or in anything it starts.
        PYTHONSAFEPATH="1",
    )
    return env


def _child_setup(cpus: tuple[int, ...] | None) -> Callable[[], None]:
    """What a child runs before exec: die with the parent and, with ``cpus``, stay on those cores.

    Affinity is set before exec, so every thread the framework starts inherits it.
    """
    def setup() -> None:
        die_with_parent()
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


def _tail(path: Path, lines: int = STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


class Spawner:
    """Starts and watches one child process at a time for the cells of one run directory."""

    def __init__(self, config: CellProcesses) -> None:
        """``config.cpus`` are this spawner's cores (a slot's, for a local executor with slots)."""
        if config.launch not in LAUNCHES:
            raise BadInput(f"launch must be one of {', '.join(LAUNCHES)}, got {config.launch!r}")
        if config.cpus:
            check_cpus(config.cpus)
        self.log_dir = config.log_dir
        self.timeout_s = config.timeout_s
        self.memory_limit_mb = config.memory_limit_mb
        self.cpus = config.cpus
        self.threads = resolve_threads(config.threads, self.cpus)
        #: keyword arguments of rnnbench.datasets.padded for every cell (file, columns, opt-ins)
        self.data = config.data
        self.launch = config.launch
        #: fork servers by the environment they serve (insertion order: oldest first)
        self._servers: dict[tuple[tuple[str, str], ...], ForkServer] = {}
        #: why the fork server could not serve an environment: its cells spawn, and say so once
        self._refused: dict[tuple[tuple[str, str], ...], str] = {}
        #: how each cell's last process started, for its row, and why it was spawned when fork was asked for
        self._launched: dict[str, tuple[str, str | None]] = {}

    def work_dir(self) -> Path:
        """Job and result files live in the run directory, in a scratch folder named for this sweep process,
        which the sweep removes when it ends (and a later sweep if this one was killed), so nothing is left
        in /tmp and no folder of the user's is touched."""
        # Marked as the harness's, so that the clean-up removes it by what it holds, not by its name.
        return ownership.own_subdir(self.log_dir.parent / f"{SCRATCH_PREFIX}{os.getpid()}", "cell scratch")

    def calibrate(self, backend: str, device: str) -> dict[str, Any] | None:
        """Matmul GFLOP/s for cells on ``backend``/``device``, measured in a child set up like a cell's; None
        if it fails."""
        with tempfile.TemporaryDirectory(dir=self.work_dir()) as tmp:
            result = Path(tmp) / "calibration.json"
            proc = subprocess.run(
                [sys.executable, "-P", "-m", "rnnbench.cell.calibrate", str(result), str(self.threads)],
                env=_env(backend, device, self.threads), capture_output=True, timeout=600,
                preexec_fn=_child_setup(self.cpus),
            )
            if proc.returncode != 0 or not result.is_file():
                return None
            return {**json.loads(result.read_text()), "device": device, "cpus": self.settings()["cpus"]}

    def _stop_reason(self, deadline: float, pid: int) -> str | None:
        """Why a running child must be killed now (past its deadline, over the memory limit), or None."""
        if time.monotonic() > deadline:
            return f"timed out after {self.timeout_s:g} s"
        if self.memory_limit_mb and (rss := _rss_mb(pid)) > self.memory_limit_mb:
            return f"exceeded the memory limit of {self.memory_limit_mb:g} MB (resident {rss:.0f} MB)"
        return None

    def _watch(self, proc: subprocess.Popen) -> tuple[int, str | None]:
        """Wait for the child; kill its process group past the timeout or the memory limit."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return proc.wait(timeout=WATCH_INTERVAL_S), None
            except subprocess.TimeoutExpired:
                pass
            if reason := self._stop_reason(deadline, proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
                return proc.wait(), reason

    def _fork_server(self, env: dict[str, str], key: tuple) -> ForkServer | None:
        """The fork server for ``env`` (``key``: its items, sorted), started on first use; or None when none can
        serve it: it refused or failed to start (remembered: that environment's cells spawn), or
        launch_plan.MAX_FORK_SERVERS already run."""
        server = self._servers.get(key)
        if server is not None and not server.alive():  # died, or stopped when it answered out of step: a new one
            del self._servers[key]
            server.close()
            server = None
        if server is None and key not in self._refused:
            if len(self._servers) >= launch_plan.MAX_FORK_SERVERS:  # read here: the estimate models the same cap
                # No eviction: with seeds the innermost axis, cells cycle through environments, and evicting
                # would start a server (a full import) for nearly every cell, dearer than spawning it.
                self._refused[key] = (f"{launch_plan.MAX_FORK_SERVERS} fork servers already serve this slot's other "
                                      "environments")
                return None
            err = Path(tempfile.mkstemp(prefix="fork-server-", suffix=".err", dir=self.work_dir())[1])
            try:
                server = ForkServer(env, self.cpus, err, preexec=_child_setup(self.cpus),
                                    start_timeout_s=min(START_TIMEOUT_S, self.timeout_s))
            except (ForkServerError, OSError) as exc:  # refused, or could not start: its cells are spawned
                self._refused[key] = str(exc)
                return None
            self._servers[key] = server
        return server

    def close(self) -> None:
        """Stop this spawner's fork servers."""
        for server in self._servers.values():
            server.close()
        self._servers.clear()

    def spawn(self, cell: Cell, log_path: Path, extra: dict[str, Any], gpu: int | None = None) -> tuple[CellResult | None, str]:
        """One child process for ``cell``: its result, or None and why it failed. ``gpu``: the GPU index a
        parallel slot gave this GPU cell (default: the one its device names)."""
        env = {**child_env(cell, self.threads), **({} if gpu is None else {"CUDA_VISIBLE_DEVICES": str(gpu)})}
        key = tuple(sorted(env.items()))
        forkable = forks(cell, self.launch)  # the executor spawns every cell with several speed processes
        spawned_at = time.time()  # before a fork server's start: the first cell it serves pays for that
        server = self._fork_server(env, key) if forkable else None
        if server is None:
            spawned_at = time.time()  # a server that refused or failed is not this spawned cell's start-up
        with tempfile.TemporaryDirectory(prefix=f"{cell.cell_id}-", dir=self.work_dir()) as tmp:
            job, result = Path(tmp) / "job.json", Path(tmp) / "result.json"
            job.write_text(json.dumps({
                "cell": cell.to_dict(), "threads": self.threads,
                "data": self.data, "spawned_at": spawned_at,
                **extra,
            }))
            # The first process of a cell starts its log; further speed processes append to it.
            append = bool(extra.get("speed_only"))
            forked = why = None
            if server is not None:
                forked, why = self._run_forked(server, [str(job), str(result)], env, key, log_path, append)
            elif self.launch == "fork":
                # A cell of a kind that never forks (GPU, another backend) is spawned as documented, without a
                # note on every such row; a server that refused says why.
                why = self._refused.get(key) if forkable else None
            self._launched[cell.cell_id] = ("fork", None) if forked is not None else ("spawn", why)
            if forked is not None:
                code, stop_reason = forked
            else:
                with open(log_path, "ab" if append else "wb") as log:
                    # A new session, so a timeout kills the child and anything it started.
                    proc = subprocess.Popen(
                        [sys.executable, "-P", "-m", "rnnbench.cell.runner", str(job), str(result)],
                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                        start_new_session=True, preexec_fn=_child_setup(self.cpus),
                    )
                    code, stop_reason = self._watch(proc)
            if stop_reason is None and code == 0 and result.is_file():
                try:
                    return CellResult.from_json(result.read_text()), ""
                except (ValueError, TypeError) as exc:
                    return None, f"the cell process wrote an unreadable result ({exc})"
        return None, stop_reason or describe_exit(code)

    def _run_forked(self, server: ForkServer, argv: list[str], env: dict[str, str], key: tuple, log_path: Path,
                    append: bool) -> tuple[tuple[int, str | None] | None, str | None]:
        """A cell's process forked by ``server``, watched like a spawned one (timeout, memory limit): (its exit
        code and why it was stopped, None); or (None, why) when no child was forked, so the cell is spawned."""
        try:
            pid = server.start(argv, env, self.cpus, log_path, append)
        except ForkRefused as exc:
            self._refused[key] = str(exc)
            return None, str(exc)
        except ForkServerError as exc:  # gone or out of step: stopped, and the next cell starts a new one
            return None, str(exc)
        deadline = time.monotonic() + self.timeout_s
        try:
            while (code := server.wait(WATCH_INTERVAL_S)) is None:
                if reason := self._stop_reason(deadline, pid):
                    try:
                        os.killpg(pid, signal.SIGKILL)  # the child leads its own session and group
                    except ProcessLookupError:
                        pass
                    if server.wait(60.0) is None:  # no exit answer: stop it rather than read it as the next cell's
                        server.close()
                    return (-signal.SIGKILL, reason), None
        except ForkServerError as exc:
            return (1, str(exc)), None
        return (code, None), None

    def log_path(self, cell: Cell) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{cell.cell_id}.log"

    def failure(self, cell: Cell, reason: str) -> str:
        """A failed cell's error: why, and the tail of its log."""
        log_path = self.log_path(cell)
        tail = _tail(log_path)
        return f"{reason}; log {log_path.name}" + (f": {tail}" if tail else "")

    def settings(self, cell: Cell | None = None) -> dict[str, Any]:
        """The executor's settings a row records: threads, the cores when confined to some, and (with
        ``cell``) how its process started."""
        row = {"threads": self.threads, "cpus": ",".join(map(str, self.cpus)) if self.cpus else None}
        if cell is not None:
            row["launch"] = self._launched.get(cell.cell_id, (None, None))[0]
        return row

    def launch_note(self, cell: Cell) -> str | None:
        """Why ``cell`` was spawned although fork was asked for (None: it was not)."""
        return self._launched.get(cell.cell_id, (None, None))[1]
