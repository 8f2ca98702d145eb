"""Deciding, before anything runs, which cells cannot run on this machine and why.

Such cells are kept as ``skipped`` rows with the reason, never dropped and never run another way
(a cuDNN cell without a GPU does not quietly fall back to the generic kernel).
"""

from __future__ import annotations

from collections.abc import Callable

from rnnbench.devices import backend_installed, gpu_index, visible_gpus
from rnnbench.models import get_spec
from rnnbench.spec import Cell


def skip_reason(
    cell: Cell,
    installed: Callable[[str], bool] = backend_installed,
    gpus: Callable[[str], tuple[str, ...]] = visible_gpus,
) -> str | None:
    """Why ``cell`` cannot run here, or None if it can. ``installed``/``gpus`` are injectable for tests."""
    unsupported = get_spec(cell.model).unsupported.get(cell.kernel)
    if unsupported:
        return f"{cell.model} cannot use the {cell.kernel} kernel: {unsupported}"
    if cell.kernel == "cudnn" and cell.device == "cpu":
        return "the cuDNN kernel runs only on a GPU; this cell's device is cpu"
    if not installed(cell.backend):
        return f"backend {cell.backend} is not installed (pip install 'rnnbench[{cell.backend}]')"
    index = gpu_index(cell.device)
    if index is not None:
        seen = gpus(cell.backend)
        if index >= len(seen):
            return f"{cell.device} requested but {cell.backend} sees {len(seen) or 'no'} GPU(s) on this machine"
    return None
