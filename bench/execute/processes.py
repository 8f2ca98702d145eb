"""How a sweep's cell processes run, in one object every executor takes (local slots, Ray tasks) and
hands to the spawner of each process."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CellProcesses:
    """Where the cells' logs go, how long a cell may run, its framework threads (None: one per core it
    gets), the data options every cell receives (keyword arguments of ``rnnbench.datasets.padded``), the
    memory limit per cell, speed processes per cell, the cores the processes are confined to, the cells
    run at once (slots) and how a process starts (spawn or fork)."""

    log_dir: Path
    timeout_s: float
    threads: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    memory_limit_mb: float | None = None
    processes: int = 1
    cpus: tuple[int, ...] | None = None
    parallel: int = 1
    launch: str = "spawn"

    def __post_init__(self) -> None:
        object.__setattr__(self, "log_dir", Path(self.log_dir))
        object.__setattr__(self, "data", dict(self.data or {}))
        object.__setattr__(self, "cpus", tuple(self.cpus) if self.cpus else None)

    def replace(self, **changes: Any) -> CellProcesses:
        return dataclasses.replace(self, **changes)
