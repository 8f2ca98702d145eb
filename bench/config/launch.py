"""Which cells start from a fork server: a planning fact, read by the executor that starts them
(bench/execute/spawner.py) and by the cost model that estimates their start-up (bench/config/estimate.py).

How a fork server works and why forked figures mean what spawned ones do: bench/execute/fork_server.py
and docs/scale.md, "Fork server".
"""

from __future__ import annotations

import sys

from rnnbench.config.spec import Cell, SweepSpec

#: backends whose forked cells were checked against spawned ones, side by side (tests/test_fork_server.py,
#: docs/scale.md); the others are spawned. JAX's import starts threads of its own and was not checked;
#: torch is not installed on the machine the check ran on.
FORK_BACKENDS = ("tensorflow",)


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
