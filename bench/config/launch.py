"""Which cells start from a fork server: a planning fact, read by the executor that starts them
(bench/execute/spawner.py) and by the cost model that estimates their start-up (bench/config/estimate.py).

How a fork server works and why forked figures mean what spawned ones do: bench/execute/fork_server.py
and docs/scale.md, "Fork server".
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

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


def forked_cells(cells: Iterable[Cell], launch: str, processes: int = 1) -> set[str]:
    """The ids of ``cells``, in the order they run, that start from a fork server: those :func:`forks`
    allows whose environment is among the first :data:`MAX_FORK_SERVERS` such environments met (the
    cells of a later one spawn). Exact for one slot; parallel slots each meet the environments in about
    the plan's order too, so each slot's cap falls on the same environments."""
    served: list[tuple[str, str, int]] = []
    forked = set()
    for cell in cells:
        if not forks(cell, launch, processes):
            continue
        env = fork_environment(cell)
        if env not in served:
            if len(served) >= MAX_FORK_SERVERS:
                continue
            served.append(env)
        forked.add(cell.cell_id)
    return forked
