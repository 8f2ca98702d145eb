"""Which recurrent kernel Keras actually ran in a cell process: the ``kernel_effective`` column.

Keras' LSTM and GRU layers try the backend's fused implementation, ``keras.src.backend.lstm`` /
``gru`` (cuDNN on TensorFlow and PyTorch, ``jax.experimental.rnn`` for a JAX LSTM), only when the layer
is allowed to (``use_cudnn`` True or "auto"); the backend raises ``NotImplementedError`` where it cannot
(no GPU, a mask it cannot take, an activation cuDNN lacks) and the layer falls back to its generic loop,
or, with ``use_cudnn=True``, fails. The probe wraps those two backend functions for the life of the cell
process and counts the calls that returned: any such call means the fused kernel ran. A cell whose
effective kernel is not the one it asked for is a failed row (:func:`check`), never a row under the
wrong label. SimpleRNN has no fused kernel: its effective kernel is always ``generic``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_FUSED = ("lstm", "gru")


@dataclass
class KernelProbe:
    """Counts successful calls of the backend's fused recurrent functions since :meth:`install`."""

    fused_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_FUSED, 0))
    installed: list[str] = field(default_factory=list)

    def install(self, backend_module: Any = None) -> KernelProbe:
        """Wrap ``backend_module``'s fused functions (default: ``keras.src.backend``), which the layers
        look up at call time; a function the backend lacks is left alone."""
        if backend_module is None:
            import keras.src.backend as backend_module
        for name in _FUSED:
            original = getattr(backend_module, name, None)
            if original is None or getattr(original, "_rnnbench_probe", False):
                continue

            def counted(*args, _original=original, _name=name, **kwargs):
                out = _original(*args, **kwargs)  # NotImplementedError propagates: the layer falls back
                self.fused_calls[_name] += 1
                return out

            counted._rnnbench_probe = True
            setattr(backend_module, name, counted)
            self.installed.append(name)
        return self

    @property
    def effective(self) -> str:
        """``cudnn`` when a fused kernel ran (the registry's name for it), else ``generic``."""
        return "cudnn" if any(self.fused_calls.values()) else "generic"


def check(requested: str, effective: str) -> None:
    """Raise when the kernel that ran is not the one the cell asked for."""
    if requested != effective:
        raise RuntimeError(f"the cell asked for the {requested} kernel but Keras ran the {effective} one "
                           "(kernel_effective); recorded as failed, not under the wrong label")
