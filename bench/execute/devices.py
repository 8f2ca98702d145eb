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


#: What ``rnnbench doctor`` asks each backend in a child: version, every device, GPUs, CUDA and cuDNN where reported.
_DESCRIBE = {
    "tensorflow": """
import tensorflow as tf
info = {"version": tf.__version__, "devices": [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()],
        "gpus": [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices("GPU")]}
build = tf.sysconfig.get_build_info()
info["cuda"], info["cudnn"] = build.get("cuda_version"), build.get("cudnn_version")
""",
    "jax": """
import jax
info = {"version": jax.__version__, "devices": [str(d) for d in jax.devices()]}
try:
    info["gpus"] = [str(d) for d in jax.devices("gpu")]
except RuntimeError:
    info["gpus"] = []
try:
    from jax._src.lib import cuda_versions
    if cuda_versions is not None and info["gpus"]:
        info["cuda"], info["cudnn"] = cuda_versions.cuda_runtime_get_version(), cuda_versions.cudnn_get_version()
except Exception:
    pass
""",
    "torch": """
import torch
gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
info = {"version": torch.__version__, "devices": ["cpu", *gpus], "gpus": gpus, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}
""",
}


def describe_backend(backend: str, timeout_s: float = 60.0) -> dict:
    """What ``backend`` reports about itself in a fresh process: ``installed``, and ``version``, ``devices``,
    ``gpus``, ``cuda``, ``cudnn`` (None where it does not say), or ``error`` when it failed or timed out.

    A child of its own per backend, so one framework's import cannot change what another reports.
    """
    if not backend_installed(backend):
        return {"installed": False}
    code = _DESCRIBE[backend] + "\nimport json,sys; sys.stdout.write('\\n'+json.dumps(info, default=str))"
    env = {**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"installed": True, "error": f"no answer in {timeout_s:.0f} s (import or device discovery hangs)"}
    except OSError as exc:
        return {"installed": True, "error": f"cannot start a child: {exc}"}
    try:
        return {"installed": True, **json.loads(out.stdout.strip().splitlines()[-1])}
    except (ValueError, IndexError):
        lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
        return {"installed": True, "error": f"exit {out.returncode}: {lines[-1] if lines else 'no output'}"}


def gpu_index(device: str) -> int | None:
    """``gpu`` -> 0, ``gpu:N`` -> N, ``cpu`` -> None."""
    if device == "cpu":
        return None
    return int(device.split(":")[1]) if ":" in device else 0
