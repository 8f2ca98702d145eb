"""Deciding, before anything runs, which cells cannot run on this machine and why.

Such cells are kept as ``skipped`` rows with the reason, never dropped and never run another way
(a cuDNN cell without a GPU does not quietly fall back to the generic kernel).
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rnnbench.config.spec import Cell
from rnnbench.execute.devices import backend_installed, gpu_index, visible_gpus
from rnnbench.models import get_spec


def keras_version() -> tuple[int, ...]:
    """The installed Keras's version as numbers ((0,) when Keras is not installed)."""
    try:
        return tuple(int(p) for p in re.findall(r"\d+", importlib.metadata.version("keras"))[:3])
    except importlib.metadata.PackageNotFoundError:
        return (0,)


def cudnn_rule(cell: Cell, keras: tuple[int, ...]) -> str | None:
    """Why Keras cannot give ``cell`` the cuDNN kernel on its backend at all, whatever the machine.

    Keras's own rules (keras/src/layers/rnn/lstm.py and gru.py, keras/src/backend/*/rnn.py, Keras 3.15),
    applied when the plan is made, so an impossible cell is a skipped row naming the rule rather than a
    failure at fit time or, worse, a cell quietly run another way.
    """
    if cell.kernel != "cudnn":
        return None
    arch = get_spec(cell.model).arch
    if cell.backend == "tensorflow" and cell.jit_compile:
        return ("on TensorFlow a layer that can take the cuDNN path sets supports_jit=False, so cuDNN with XLA "
                "cannot run (Keras would drop XLA with only a warning)")
    if cell.backend == "jax" and arch.startswith("GRU"):
        return "Keras has no cuDNN GRU on JAX (only the generic lax.scan)"
    if cell.backend == "jax" and keras < (3, 14):
        return f"a cuDNN LSTM on JAX needs Keras 3.14 or later (installed: {'.'.join(map(str, keras))})"
    if cell.backend == "torch" and cell.jit_compile:
        return "PyTorch takes the cuDNN path only without compilation"
    return None


def skip_reason(
    cell: Cell,
    installed: Callable[[str], bool] = backend_installed,
    gpus: Callable[[str], tuple[str, ...]] = visible_gpus,
    keras: Callable[[], tuple[int, ...]] = keras_version,
) -> str | None:
    """Why ``cell`` cannot run here, or None if it can. ``installed``/``gpus``/``keras`` are injectable for tests."""
    unsupported = get_spec(cell.model).unsupported.get(cell.kernel)
    if unsupported:
        return f"{cell.model} cannot use the {cell.kernel} kernel: {unsupported}"
    rule = cudnn_rule(cell, keras())
    if rule:
        return f"{cell.model} cannot use the cudnn kernel here: {rule}"
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


@dataclass(frozen=True)
class SkipGroup:
    """The skipped cells that share one reason (the model's name taken out of it, so that "lstm cannot use
    the cudnn kernel here: ..." and the same for gru are one group)."""

    reason: str
    models: tuple[str, ...]
    cell_ids: tuple[str, ...]

    def line(self) -> str:
        """``16 cells (gru, lstm): cannot use the cudnn kernel here: ...``; the reason in full."""
        count = f"{len(self.cell_ids)} cell{'s' if len(self.cell_ids) != 1 else ''}"
        return f"{count} ({', '.join(self.models)}): {self.reason}"


def group_skips(skipped: Iterable[tuple[str, str, str]]) -> list[SkipGroup]:
    """(cell_id, model, reason) of skipped cells as groups by reason, the largest first, in first-seen order
    among equals. A first run on a laptop skips dozens of GPU and cuDNN cells for two or three reasons:
    said once each, they leave the screen to the cells that ran."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for cell_id, model, reason in skipped:
        reason = " ".join(str(reason or "no reason recorded").split())
        if reason.startswith(f"{model} "):
            reason = reason[len(model) + 1:]
        ids, models = groups.setdefault(reason, ([], []))
        ids.append(cell_id)
        if model not in models:
            models.append(model)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1][0]))
    return [SkipGroup(reason, tuple(sorted(models)), tuple(ids)) for reason, (ids, models) in ordered]
