"""What can run here: installed backends and the GPUs each backend itself can see.

Discovery asks the cell's backend (TensorFlow, JAX or PyTorch) in a spawned child, because the
parent never imports a framework, and because "TensorFlow sees no GPU" says nothing about JAX.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import cache

_PROBE = {
    "tensorflow": "import tensorflow as tf; names=[d.name for d in tf.config.list_physical_devices('GPU')]",
    "jax": "import jax\ntry: names=[str(d) for d in jax.devices('gpu')]\nexcept RuntimeError: names=[]",
    "torch": "import torch; names=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]",
}


def backend_installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


@cache
def visible_gpus(backend: str) -> tuple[str, ...]:
    """GPU names ``backend`` reports in a fresh process (empty when none, or when it fails to start)."""
    code = _PROBE[backend] + "\nimport json,sys; sys.stdout.write('\\n'+json.dumps(names))"
    try:
        out = subprocess.run(
            [sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=300,
            env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        return tuple(json.loads(out.stdout.strip().splitlines()[-1]))
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return ()


def gpu_index(device: str) -> int | None:
    """``gpu`` -> 0, ``gpu:N`` -> N, ``cpu`` -> None."""
    if device == "cpu":
        return None
    return int(device.split(":")[1]) if ":" in device else 0
