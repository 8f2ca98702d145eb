"""Which cells start from a fork server: a planning fact, read by the executor that starts them
(bench/execute/spawner.py) and by the cost model that estimates their start-up (bench/config/estimate.py).

How a fork server works and why forked figures mean what spawned ones do: bench/execute/fork_server.py
and docs/scale.md, "Fork server".
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from rnnbench.config.spec import Cell, SweepSpec

#: backends whose forked cells were checked against spawned ones, side by side (tests/test_fork_server.py,
#: docs/scale.md); the others are spawned. JAX's import starts threads of its own and was not checked;
#: torch is not installed on the machine the check ran on.
FORK_BACKENDS = ("tensorflow",)
#: fork servers one slot runs at most, one per environment; the cells of a further environment are spawned
#: (bench/execute/spawner.py). Each server holds an imported framework (docs/scale.md: its memory).
MAX_FORK_SERVERS = 4


def forks(cell: Cell, launch: str, processes: int = 1) -> bool:
    """Whether ``cell`` starts from a fork server under ``launch`` with ``processes`` speed processes: a CPU
    cell of a checked backend, with one speed process (several exist to sample fresh processes), on Linux.
    A fork server's import never touches a GPU, but no GPU run has checked that here, so GPU cells spawn.
    (Ray tasks always spawn: bench/execute/ray_executor.py.)"""
    return (launch == "fork" and processes == 1 and cell.device == "cpu" and cell.backend in FORK_BACKENDS
            and sys.platform == "linux")  # the server reads /proc to fork safely and to count memory alike


def requested_launch(spec: SweepSpec) -> str:
    """The launch ``spec``'s cells are asked for: its ``launch`` on this machine's executor; Ray tasks always
    spawn (bench/execute/ray_executor.py). :func:`forks` then decides per cell."""
    return spec.launch if spec.executor == "local" else "spawn"


def fork_environment(cell: Cell) -> tuple[str, str, int]:
    """What sets one sweep's forkable cells' environments apart (bench/execute/spawner.py, ``child_env``: the
    threads are the sweep's, and a forked cell is a CPU cell): its backend, device and seed."""
    return cell.backend, cell.device, cell.seed


@dataclass(frozen=True)
class ForkPlan:
    """Which of a plan's cells start from a fork server, and which of those wait for their server's start."""

    forked: frozenset[str]  # cell ids
    server_starts: frozenset[str]  # the ids of each server's first cell


def plan_forks(cells: Iterable[Cell], launch: str, processes: int = 1, slots: int = 1) -> ForkPlan:
    """How ``cells``, in the order they run, will start: a cell forks if :func:`forks` allows it and its
    slot serves its environment, one server per environment up to :data:`MAX_FORK_SERVERS` a slot (the
    cells of a slot's later environments spawn: bench/execute/spawner.py). Exact for one slot; with
    ``slots`` the cells are dealt to the slots in turn, as slots of cells of similar length take them."""
    served: list[list[tuple[str, str, int]]] = [[] for _ in range(max(1, slots))]
    forked, starts = set(), set()
    for i, cell in enumerate(cells):
        if not forks(cell, launch, processes):
            continue
        slot, env = served[i % len(served)], fork_environment(cell)
        if env not in slot:
            if len(slot) >= MAX_FORK_SERVERS:
                continue
            slot.append(env)
            starts.add(cell.cell_id)
        forked.add(cell.cell_id)
    return ForkPlan(frozenset(forked), frozenset(starts))
