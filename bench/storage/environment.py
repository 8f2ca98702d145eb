"""The machine and software a run was measured on, recorded in ``run.json`` next to the numbers.

Collected without importing a framework (package versions come from installed metadata), so the
parent process stays light; GPU facts come from ``nvidia-smi`` when it exists.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

_PACKAGES = ("rnnbench", "tensorflow", "keras", "jax", "jaxlib", "torch", "numpy", "pandas")
_CPU_FLAGS = ("avx", "avx2", "avx512f", "avx512_bf16", "avx512_vnni", "fma", "amx_tile", "neon", "asimd")


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_info() -> dict[str, Any]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "flags": sorted(flags & set(_CPU_FLAGS)),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
    }


def _gpus() -> list[dict[str, str]]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        name, driver, memory = (part.strip() for part in line.split(",", 2))
        gpus.append({"name": name, "driver": driver, "memory": memory})
    return gpus


def _cudnn_version() -> str | None:
    """cuDNN version TensorFlow was built against, asked in a child so the parent stays framework-free."""
    if not package_version("tensorflow"):
        return None
    code = "import tensorflow as tf; print(tf.sysconfig.get_build_info().get('cudnn_version'))"
    try:
        out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else None


def git_commit() -> str | None:
    """The commit the harness's code is at, with ``+dirty`` when tracked files differ from it."""
    root = Path(__file__).resolve().parents[2]  # the repository: bench/storage/environment.py
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        # Dirty means the code differs from the commit; re-recorded results under results/ do not count.
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip() if out.returncode == 0 else None
    return f"{commit}+dirty" if commit and dirty else commit


def short_commit(commit: str) -> str:
    """``abc1234`` for a commit id (``abc1234*`` for one with uncommitted changes), or empty."""
    return (commit[:7] + ("*" if commit.endswith("+dirty") else "")) if commit else ""


def collect() -> dict[str, Any]:
    """Everything about this machine that can change a measurement."""
    gpus = _gpus()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: v for p in _PACKAGES if (v := package_version(p))},
        "cpu": cpu_info(),
        "gpus": gpus,
        "cudnn": _cudnn_version() if gpus else "n/a: no GPU",
        "host": socket.gethostname(),
        "git_commit": git_commit(),
        "started_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


#: Packages whose version changes a cell's speed: Keras, and each backend's framework.
_BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}


def differences(recorded: dict[str, Any], current: dict[str, Any], backends: tuple[str, ...] = ("tensorflow",)) -> list[str]:
    """What differs between two environments in a way that makes their speed figures incomparable.

    CPU model, its vector flags and core count, the GPUs, Python, and the versions of Keras and of the
    frameworks of ``backends``. The host name is left out: machines of one kind get other names, and
    one machine can be renamed. An empty list: the same kind of machine and software.
    """
    def cpu(env: dict, key: str) -> Any:
        value = (env.get("cpu") or {}).get(key) if isinstance(env.get("cpu"), dict) else None
        return sorted(map(str, value)) if isinstance(value, list) else value

    def gpus(env: dict) -> list:
        return sorted(str(g.get("name")) for g in env.get("gpus") or [] if isinstance(g, dict))

    def package(env: dict, name: str) -> Any:
        packages = env.get("packages")
        return packages.get(name) if isinstance(packages, dict) else None

    pairs = [("CPU", cpu(recorded, "model"), cpu(current, "model")),
             ("CPU flags", cpu(recorded, "flags"), cpu(current, "flags")),
             ("cores", cpu(recorded, "logical_cores"), cpu(current, "logical_cores")),
             ("GPUs", gpus(recorded), gpus(current)),
             ("Python", recorded.get("python"), current.get("python"))]
    for name in ("keras", *(p for b in backends for p in _BACKEND_PACKAGES.get(b, ()))):
        pairs.append((name, package(recorded, name), package(current, name)))
    return [f"{what}: {_show(a)} vs {_show(b)}" for what, a, b in pairs if a != b]


def _show(value: Any) -> str:
    if value in (None, [], ""):
        return "none"
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
