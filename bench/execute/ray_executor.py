"""``--executor ray``: every cell is one Ray task, on whichever node of a Ray cluster has room for it.

The driver (the ``rnnbench run`` process) stays the only writer of the run directory: a task runs the
very same cell command as the local executor, through a :class:`~rnnbench.execute.spawner.Spawner` built inside
the task, and sends back the cell's result (or why it failed), the tail of its log, and the node it ran
on. The driver stores rows in completion order (``ray.wait``), so resume, ``--force``,
``--retry-failed``, the lock, skipped and failed rows are exactly the local executor's.

What differs from the local executor, and why:

* Cores. Ray grants a task a number of CPUs, not core ids, and a worker may run on every core of its
  node, so pinning "the first ``threads`` cores of the worker's affinity" would put two cells of one
  node on the same cores. Affinity is therefore left to the OS; a cell asks Ray for ``threads`` CPUs and
  its framework runs ``threads`` threads, so Ray never runs more cells on a node than its CPUs hold.
  ``--cpus`` (cores of one machine) and ``--parallel`` (slots of one machine) are refused with ``ray``.
* Threads. Unset, a cell's threads are the CPU count of the smallest node (the local default, "the whole
  machine", on a cluster of equal nodes).
* GPUs. A GPU cell asks Ray for one GPU and runs on the one Ray grants: on Ray, ``gpu:N`` means "a GPU"
  (and a cell is skipped when no node has N + 1 of them).
* Memory limit. Unset, a cell's share of its node's: 80% of the node's memory times its threads over the
  node's cores.
* Calibration. Measured once per node (and backend and device), in a task pinned to that node the
  first time a cell succeeds there, so a cell's ``efficiency`` is against its own node's matmul.
* Speed processes. ``processes`` > 1 runs in the local executor's interleaved rounds; a cell's later
  processes are pinned to the node its first one ran on, so the pooled speed is one node's.
* Files. Job, result and log files live in a temporary folder on the worker's node, removed when the
  task ends; the driver writes the log it gets back into the run directory's ``logs/``.
* Environment. A node's own environment is the cells'; only the test-only hooks (bench/cell/hooks.py) are
  taken from the driver, so a planted fault reaches a cell wherever it runs.
* Failures. A node or worker that dies mid-cell (NodeDiedError, WorkerCrashedError...) fails that cell,
  naming the node; Ray does not retry it (``max_retries=0``) and the sweep goes on.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnbench.cell.hooks import HOOK_ENVS
from rnnbench.config.plan import skip_reason
from rnnbench.config.spec import Cell
from rnnbench.errors import BadInput
from rnnbench.execute.devices import gpu_index
from rnnbench.execute.executor import CellOutcome, failed_outcome, ok_outcome
from rnnbench.execute.processes import CellProcesses
from rnnbench.execute.spawner import Spawner, default_memory_limit_mb
from rnnbench.storage.result import CellResult

INSTALL_HINT = "pip install 'rnnbench[ray]'"
#: the most of a cell's log a task sends back to the driver (its end is kept)
LOG_LIMIT_BYTES = 1 << 20


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BadInput(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


# --- inside a Ray worker -------------------------------------------------------------------------------


def _node() -> dict[str, Any]:
    import ray
    from rnnbench.storage.environment import cpu_info

    return {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
            "cpu_model": cpu_info().get("model")}


def _apply_hooks(hooks: dict[str, str]) -> None:
    for name in HOOK_ENVS:
        if name in hooks:
            os.environ[name] = hooks[name]
        else:
            os.environ.pop(name, None)


def _granted_gpu(device: str) -> int | None:
    """The GPU Ray granted this task (None for a CPU cell)."""
    if gpu_index(device) is None:
        return None
    import ray

    ids = ray.get_gpu_ids()
    return int(ids[0]) if ids else gpu_index(device)


def _cell_task(cell_data: dict[str, Any], extra: dict[str, Any], options: dict[str, Any], hooks: dict[str, str],
               prefix: str) -> dict[str, Any]:
    """One process of one cell, in a Ray worker: the local executor's command through a Spawner whose files
    are in a temporary folder of this node. Affinity is left to the OS (see the module's docstring)."""
    _apply_hooks(hooks)
    cell = Cell.from_dict(cell_data)
    threads = options["threads"]
    limit = options["memory_limit_mb"] or default_memory_limit_mb() * min(1.0, threads / len(os.sched_getaffinity(0)))
    work = Path(tempfile.mkdtemp(prefix="rnnbench-ray-"))
    try:
        spawner = Spawner(CellProcesses(work / "logs", options["timeout_s"], threads=threads, data=options["data"],
                                        memory_limit_mb=limit))
        log = spawner.log_path(cell)
        start = time.perf_counter()
        result, reason = spawner.spawn(cell, log, extra, gpu=_granted_gpu(cell.device))
        wall_s = time.perf_counter() - start
        error = "" if result is not None else spawner.failure(cell, prefix + reason)
        with open(log, "rb") as f:
            f.seek(max(0, log.stat().st_size - LOG_LIMIT_BYTES))
            log_bytes = f.read()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**_node(), "result": result.to_json() if result is not None else None, "error": error,
            "wall_s": wall_s, "log": log_bytes}


def _calibration_task(backend: str, device: str, threads: int, hooks: dict[str, str]) -> dict[str, Any]:
    """The calibration matmul on this node, set up like its cells (threads, granted GPU)."""
    _apply_hooks(hooks)
    work = Path(tempfile.mkdtemp(prefix="rnnbench-ray-"))
    try:
        gpu = _granted_gpu(device)
        spawner = Spawner(CellProcesses(work / "logs", 600, threads=threads))
        figure = spawner.calibrate(backend, device if gpu is None else f"gpu:{gpu}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    node = _node()
    return {**node, "calibration": None if figure is None else {**figure, "device": device, "host": node["host"],
                                                                   "node_id": node["node_id"]}}


# --- in the driver -------------------------------------------------------------------------------------


@dataclass
class _Cell:
    """A cell in flight: its processes' results so far, where its first one ran, its seconds so far."""

    cell: Cell
    results: list[CellResult] = field(default_factory=list)
    wall_s: float = 0.0
    node: dict[str, Any] | None = None


def _node_of(error: Exception) -> str | None:
    """The node id a Ray error names, if it names one."""
    match = re.search(r"node[ _]id:?\s*([0-9a-f]{16,})", str(error), re.IGNORECASE)
    return match.group(1) if match else None


def _describe(error: Exception) -> str:
    """A Ray error in one short line: an exception raised in the task by itself, else the error's first sentence."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, Exception):
        return f"{type(cause).__name__}: {' '.join(str(cause).split())[:300]}"
    return f"{type(error).__name__}: {' '.join(str(error).split()).split('. ')[0][:300]}"


class RayExecutor:
    """Runs every cell as a Ray task (``num_cpus`` = its threads, ``num_gpus=1`` on a GPU, a fresh worker
    each: ``max_calls=1``) and yields outcomes as they complete. See the module docstring for how it
    differs from :class:`~rnnbench.execute.executor.LocalExecutor`.

    ``address``: the cluster to connect to; None starts a local Ray instance (``num_cpus`` = this process's
    usable cores) that :meth:`close` shuts down. A process already connected to Ray (``ray.init`` before)
    keeps its connection and nothing is shut down. ``task_options(cell)``: further Ray options for a
    cell's tasks (``resources={...}`` to send it to some nodes), for Python callers.
    """

    def __init__(self, config: CellProcesses, address: str | None = None,
                 task_options: Callable[[Cell], dict[str, Any]] | None = None) -> None:
        threads = config.threads
        if config.cpus:
            raise BadInput("--cpus confines cells to cores of this machine; with --executor ray, Ray places each cell "
                           "on a node's CPUs: set --threads instead")
        if config.parallel != 1:
            raise BadInput("--parallel runs cells in slots of this machine; with --executor ray, Ray runs as many cells "
                           "at once as the cluster's CPUs hold: leave --parallel at 1")
        ray = _import_ray()
        self.log_dir = config.log_dir
        self.timeout_s, self.data, self.memory_limit_mb = config.timeout_s, config.data, config.memory_limit_mb
        self.processes = config.processes
        self.task_options = task_options or (lambda cell: {})
        self.calibrations: dict[tuple[str, ...], dict[str, Any] | None] = {}
        self._owned = False
        if not ray.is_initialized():
            try:
                if address is None:
                    # "local": a new instance even where RAY_ADDRESS or a `ray start` cluster would be found
                    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                    ray.init(address="local", num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False,
                             log_to_driver=False, logging_level=logging.ERROR)
                else:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray instance"
                raise BadInput(f"--executor ray: cannot start or reach {where}: {str(exc).splitlines()[0]}") from None
            self._owned = True
        try:
            cpus = self._node_cpus()
            if not cpus:
                raise BadInput("--executor ray: no node of the Ray cluster has a CPU to run cells on")
            self.threads = threads or int(min(cpus))
            if self.threads > max(cpus):
                raise BadInput(f"threads = {self.threads}, but the largest node of the Ray cluster has {max(cpus):g} CPU(s); "
                               "lower --threads")
        except BaseException:
            self.close()
            raise
        self._cell_remote = ray.remote(max_calls=1, max_retries=0)(_cell_task)
        self._calibration_remote = ray.remote(max_calls=1, max_retries=0)(_calibration_task)
        self._hosts: dict[str, str] = {}  # node id -> host name, of every node seen
        self._cpu_models: dict[str, str | None] = {}  # node id -> CPU model, of nodes a cell came back from

    def close(self) -> None:
        """Shut down the Ray instance this executor started (nothing when it connected to a running one)."""
        if self._owned:
            import ray

            ray.shutdown()
            self._owned = False

    # -- the cluster

    @staticmethod
    def _alive() -> list[dict[str, Any]]:
        import ray

        return [n for n in ray.nodes() if n.get("Alive")]

    def _node_cpus(self) -> list[float]:
        return [n["Resources"]["CPU"] for n in self._alive() if n.get("Resources", {}).get("CPU", 0) >= 1]

    def _capacity(self) -> int:
        """How many cells may run at once now: every alive node's CPUs over a cell's threads."""
        return max(1, sum(int(c // self.threads) for c in self._node_cpus()))

    def _host(self, node_id: str | None) -> str:
        import ray

        if node_id and node_id not in self._hosts:
            self._hosts.update({n["NodeID"]: n.get("NodeManagerHostname") or n.get("NodeManagerAddress") or "?"
                                for n in ray.nodes()})
        return self._hosts.get(node_id or "", "an unknown node")

    def skip_reason(self, cell: Cell) -> str | None:
        """Why ``cell`` cannot run on the cluster: the planner's rules, with the GPUs of the cluster's nodes
        instead of this machine's (the backend must be installed here and, like rnnbench, on every node)."""
        reason = skip_reason(cell, gpus=lambda backend: ("any",) * 1024)
        if reason:
            return reason
        index = gpu_index(cell.device)
        most = max((n.get("Resources", {}).get("GPU", 0) for n in self._alive()), default=0)
        if index is not None and index >= most:
            return f"{cell.device} requested but no node of the Ray cluster has {index + 1} GPU(s) (the most: {most:g})"
        return None

    # -- running

    def _hooks(self) -> dict[str, str]:
        return {name: os.environ[name] for name in HOOK_ENVS if name in os.environ}

    def _submit(self, state: _Cell, k: int):
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        cell = state.cell
        extra = {} if k == 1 else {"speed_only": True, "steps": state.results[0].steps_per_repeat,
                                   "repeats": state.results[0].repeats}
        options: dict[str, Any] = {"num_cpus": self.threads, "num_gpus": 0 if gpu_index(cell.device) is None else 1,
                                   **self.task_options(cell)}
        if k > 1:  # the same node as the first process: one node's speed, pooled
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(state.node["node_id"], soft=False)
        prefix = "" if k == 1 else f"speed process {k} of {self.processes}: "
        settings = {"threads": self.threads, "timeout_s": self.timeout_s, "data": self.data,
                    "memory_limit_mb": self.memory_limit_mb}
        return self._cell_remote.options(**options).remote(cell.to_dict(), extra, settings, self._hooks(), prefix)

    def _calibrate_on(self, node_id: str, cell: Cell):
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return self._calibration_remote.options(
            num_cpus=self.threads, num_gpus=0 if gpu_index(cell.device) is None else 1,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(cell.backend, cell.device, self.threads, self._hooks())

    def _write_log(self, cell: Cell, data: bytes, k: int) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{cell.cell_id}.log", "wb" if k == 1 else "ab") as f:
            f.write(data)

    def run(self, cells: Iterable[Cell], on_start: Callable[[Cell], None] | None = None) -> Iterator[CellOutcome]:
        """Run ``cells``, yielding each one's outcome when it is complete (see LocalExecutor.run: with several
        processes, interleaved rounds; a cell killed before its last round is rerun by a resumed sweep).

        At most as many tasks are in flight as the cluster's CPUs hold (recounted as nodes come and go), so
        ``on_start`` is called about when a cell starts. A cell done on a node not yet calibrated waits for
        that node's calibration before it is yielded.
        """
        import ray

        pending = {c.cell_id: _Cell(c) for c in cells}
        held: dict[tuple[str, ...], list[_Cell]] = {}  # calibration key -> complete cells waiting for it
        calibrating: dict[Any, tuple[str, ...]] = {}  # calibration task -> its key
        for k in range(1, self.processes + 1):
            queue = list(pending.values())
            in_flight: dict[Any, tuple[_Cell, float]] = {}  # task -> its cell, when it was submitted
            while queue or in_flight:
                capacity = self._capacity()
                while queue and len(in_flight) < capacity:
                    state = queue.pop(0)
                    if on_start:
                        on_start(state.cell)
                    in_flight[self._submit(state, k)] = (state, time.perf_counter())
                [ref], _ = ray.wait([*in_flight, *calibrating], num_returns=1)
                if ref in calibrating:
                    yield from self._calibrated(ref, calibrating, held)
                    continue
                state, submitted = in_flight.pop(ref)
                outcome = self._finish(ray, ref, state, k, submitted)
                if outcome is not None:  # failed
                    del pending[state.cell.cell_id]
                    yield outcome
                    continue
                key = (state.node["node_id"], state.cell.backend, state.cell.device)
                if key not in self.calibrations and key not in calibrating.values():
                    calibrating[self._calibrate_on(key[0], state.cell)] = key
                if k == self.processes:
                    del pending[state.cell.cell_id]
                    if key in self.calibrations:
                        yield self._ok(state)
                    else:
                        held.setdefault(key, []).append(state)
        while calibrating:
            [ref], _ = ray.wait(list(calibrating), num_returns=1)
            yield from self._calibrated(ref, calibrating, held)

    def _finish(self, ray, ref, state: _Cell, k: int, submitted: float) -> CellOutcome | None:
        """Take one finished task into ``state``; the failed outcome when the process (or its node) failed."""
        cell = state.cell
        prefix = "" if k == 1 else f"speed process {k} of {self.processes}: "
        try:
            back = ray.get(ref)
        except ray.exceptions.RayError as exc:
            node_id = _node_of(exc) or (state.node or {}).get("node_id")
            host = self._host(node_id)
            where = f"node {host} ({node_id[:12]})" if node_id else "an unknown node"
            state.wall_s += time.perf_counter() - submitted  # no figure from the task: the driver's, queueing included
            error = f"{prefix}Ray task on {where} failed: {_describe(exc)}"
            return self._failed(state, error, {"node_id": node_id, "host": host if node_id else None,
                                               "cpu_model": self._cpu_models.get(node_id or "")})
        self._write_log(cell, back.pop("log"), k)
        state.wall_s += back["wall_s"]
        state.node = state.node or {key: back[key] for key in ("node_id", "host", "cpu_model")}
        self._hosts[back["node_id"]] = back["host"]
        self._cpu_models[back["node_id"]] = back["cpu_model"]
        if back["result"] is None:
            return self._failed(state, back["error"], state.node)
        try:
            state.results.append(CellResult.from_json(back["result"]))
        except (ValueError, TypeError) as exc:
            return self._failed(state, f"{prefix}the cell's result did not survive the trip from its node ({exc})", state.node)
        return None

    def _calibrated(self, ref, calibrating: dict, held: dict) -> Iterator[CellOutcome]:
        import ray

        key = calibrating.pop(ref)
        try:
            self.calibrations[key] = ray.get(ref)["calibration"]
        except ray.exceptions.RayError:
            self.calibrations[key] = None  # the node went: its cells' efficiency stays empty
        for state in held.pop(key, []):
            yield self._ok(state)

    def _settings(self, node: dict[str, Any] | None) -> dict[str, Any]:
        node = node or {}
        # launch: a Ray task runs one cell (max_calls=1), so a fork server there would import as often as it saves
        return {"threads": self.threads, "cpus": None, "host": node.get("host"), "cpu_model": node.get("cpu_model"),
                "launch": "spawn"}

    def _ok(self, state: _Cell) -> CellOutcome:
        calibration = self.calibrations.get((state.node["node_id"], state.cell.backend, state.cell.device))
        return ok_outcome(state.cell, state.results, state.wall_s, calibration, self._settings(state.node))

    def _failed(self, state: _Cell, error: str, node: dict[str, Any] | None) -> CellOutcome:
        return failed_outcome(state.cell, error, state.wall_s, self._settings(node))
