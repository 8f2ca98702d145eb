"""``rnnbench doctor``: one screen saying what this machine can run and measure.

Python; each backend (installed or not, its version, the devices it sees, CUDA and cuDNN where it
reports them), each asked in a child process of its own as the harness asks it; whether NVML (GPU
energy, power, device memory) and RAPL (CPU energy) are readable, and why not; the cores a cell may
use and the threads it would get. Nothing here fails: what cannot be found is said.
"""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rnnbench.cell import energy, rapl
from rnnbench.config.spec import BACKENDS
from rnnbench.errors import BadInput
from rnnbench.execute.devices import describe_backend
from rnnbench.storage.environment import package_version

NAME = "doctor"
HELP = ("what this machine can run: Python, backends and their devices, CUDA, "
        "NVML and RAPL (energy), cores and threads")

#: Seconds one backend's child may take to import and list its devices.
PROBE_TIMEOUT_S = 120.0


def _cores(cores: set[int]) -> str:
    """0,1,2,3,8 -> 0-3,8"""
    runs: list[list[int]] = []
    for c in sorted(cores):
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)


def backend_line(backend: str, info: dict[str, Any]) -> str:
    if not info.get("installed"):
        extra = {"jax": " (pip install 'rnnbench[jax]')", "torch": " (pip install 'rnnbench[torch]')"}.get(backend, "")
        return f"  {backend:<11} not installed{extra}"
    if "error" in info:
        return f"  {backend:<11} {package_version(backend) or '?'}, but it failed in a child process: {info['error']}"
    gpus = info.get("gpus") or []
    parts = [f"devices: {', '.join(info.get('devices') or []) or 'none'}",
             f"{len(gpus)} GPU(s)" if gpus else "no GPU"]
    if info.get("cuda") or info.get("cudnn"):
        how = "runtime" if backend == "jax" else "built for"  # TensorFlow and PyTorch report their build's
        parts.append(f"{how} CUDA {info.get('cuda') or '?'}, cuDNN {info.get('cudnn') or '?'}")
    return f"  {backend:<11} {info.get('version')}; " + "; ".join(parts)


def nvml_lines() -> list[str]:
    """Whether NVML answers, and per GPU what a GPU cell's energy columns can read."""
    try:
        nvml = energy.open_nvml()
    except energy.Unavailable as exc:
        return [f"NVML (GPU energy, power, device memory): not readable: {exc}"]
    lines = []
    try:
        def ask(read, *args):
            try:
                value = read(*args)
                return value.decode() if isinstance(value, bytes) else value
            except Exception as exc:
                return exc

        driver, count = ask(nvml.nvmlSystemGetDriverVersion), ask(nvml.nvmlDeviceGetCount)
        if isinstance(count, Exception):
            return [f"NVML (GPU energy, power, device memory): initialised, but cannot count GPUs: {energy.nvml_error_text(count)}"]
        driver = "?" if isinstance(driver, Exception) else driver
        lines.append(f"NVML (GPU energy, power, device memory): readable; driver {driver}, {count} GPU(s)"
                     + ("" if count else ": no GPU"))
        for i in range(count):
            handle = ask(nvml.nvmlDeviceGetHandleByIndex, i)
            if isinstance(handle, Exception):
                lines.append(f"  GPU {i}: not readable: {energy.nvml_error_text(handle)}")
                continue
            name, memory = ask(nvml.nvmlDeviceGetName, handle), ask(nvml.nvmlDeviceGetMemoryInfo, handle)
            can = [what for what, read in (("energy counter", nvml.nvmlDeviceGetTotalEnergyConsumption),
                                           ("power", nvml.nvmlDeviceGetPowerUsage))
                   if not isinstance(ask(read, handle), Exception)]
            total = "" if isinstance(memory, Exception) else f", {memory.total / 2**30:.0f} GiB"
            lines.append(f"  GPU {i}: {'?' if isinstance(name, Exception) else name}{total}; "
                         f"{' and '.join(can) + ' readable' if can else 'no energy counter or power reading'}")
    finally:
        energy.close_nvml(nvml)
    return lines


def rapl_line() -> str:
    try:
        reading = rapl.read_rapl()
    except energy.Unavailable as exc:
        return f"RAPL (CPU package energy): not readable: {exc}"
    zones = ", ".join(reading.energy_uj)
    return f"RAPL (CPU package energy): readable ({zones} under {rapl.powercap_root()}); machine-level, not per cell"


def report(timeout_s: float = PROBE_TIMEOUT_S) -> list[str]:
    """The doctor's lines."""
    from rnnbench.config.spec import resolve_threads

    with ThreadPoolExecutor(len(BACKENDS)) as pool:
        infos = dict(zip(BACKENDS, pool.map(lambda b: describe_backend(b, timeout_s), BACKENDS), strict=True))
    gpus = sorted({g for info in infos.values() for g in info.get("gpus") or []})
    lines = [
        "rnnbench doctor: what this machine can run",
        f"Python {sys.version.split()[0]} ({sys.executable}); rnnbench {package_version('rnnbench') or '?'}, "
        f"keras {package_version('keras') or 'not installed'}",
        "Backends (each asked in a child process of its own):",
        *(backend_line(b, infos[b]) for b in BACKENDS),
        f"GPUs: {'no GPU seen by any backend: cells run on the CPU only' if not gpus else ', '.join(gpus)}",
        *nvml_lines(),
        rapl_line(),
    ]
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    threads = resolve_threads(None, None)
    lines += [
        f"Cores a cell may use: {len(cores)} ({_cores(cores)})",
        f"Threads a cell gets by default: {threads} (framework intra-op {threads}, inter-op 1, OMP_NUM_THREADS={threads}); "
        "--threads and --cpus change it",
    ]
    return lines


def main(timeout_s: float = PROBE_TIMEOUT_S) -> int:
    print("\n".join(report(timeout_s)))
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds each backend's child may take to import and list its devices (default 120)")


def run(args: argparse.Namespace) -> int:
    if not args.timeout > 0:
        raise BadInput(f"--timeout must be more than 0 seconds, got {args.timeout}")
    return main(args.timeout)
