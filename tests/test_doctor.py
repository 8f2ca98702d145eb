"""``rnnbench doctor``: what this machine can run, on this machine for real and with a fake GPU and RAPL."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest
from rnnbench.cell import energy, rapl
from rnnbench.cli import doctor
from rnnbench.execute import devices
from test_energy import FakeNvml, zone


def test_doctor_on_this_machine_exits_0_and_says_what_it_found():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "rnnbench", "doctor"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"tensorflow  {importlib.metadata.version('tensorflow')}; devices: CPU:0" in out
    assert f"Python {sys.version.split()[0]}" in out
    has_gpu = os.path.exists("/dev/nvidia0")
    if not has_gpu:
        assert "GPUs: no GPU seen by any backend" in out
    nvml, rapl = [line for line in out.splitlines() if line.startswith(("NVML", "RAPL"))]
    assert ": readable" in nvml or ": not readable: " in nvml
    assert ": readable" in rapl or ": not readable: " in rapl
    cores = os.sched_getaffinity(0)
    assert f"Cores a cell may use: {len(cores)}" in out and f"Threads a cell gets by default: {len(cores)}" in out
    for backend in ("jax", "torch"):
        line = next(x for x in out.splitlines() if x.strip().startswith(backend))
        try:
            assert importlib.metadata.version(backend) in line
        except importlib.metadata.PackageNotFoundError:
            assert "not installed" in line


def test_doctor_with_a_gpu_nvml_and_rapl(monkeypatch, tmp_path):
    info = {"installed": True, "version": "9.9", "devices": ["CPU:0", "GPU:0"], "gpus": ["GPU:0"], "cuda": "12.4", "cudnn": "9"}
    monkeypatch.setattr(doctor, "describe_backend", lambda b, t: info if b == "tensorflow" else {"installed": False})
    monkeypatch.setattr(energy, "load_nvml", lambda: FakeNvml(count=1))
    zone(tmp_path, "intel-rapl:0", "package-0", 5)
    monkeypatch.setenv(rapl.POWERCAP_ROOT_ENV, str(tmp_path))
    lines = doctor.report()
    text = "\n".join(lines)
    assert "tensorflow  9.9; devices: CPU:0, GPU:0; 1 GPU(s); built for CUDA 12.4, cuDNN 9" in text
    assert "torch       not installed (pip install 'rnnbench[torch]')" in text
    assert "GPUs: GPU:0" in text
    assert "NVML (GPU energy, power, device memory): readable; driver 550.54.15, 1 GPU(s)" in text
    assert "  GPU 0: NVIDIA H200, 141 GiB; energy counter and power readable" in text
    assert f"RAPL (CPU package energy): readable (intel-rapl:0 under {tmp_path})" in text


def test_doctor_says_why_nvml_and_rapl_are_not_readable(monkeypatch, tmp_path):
    monkeypatch.setattr(energy, "load_nvml", lambda: FakeNvml(init_error="Driver Not Loaded"))
    assert doctor.nvml_lines() == ["NVML (GPU energy, power, device memory): not readable: NVML init failed: Driver Not Loaded"]
    monkeypatch.setattr(energy, "load_nvml", lambda: FakeNvml(fail={"energy", "power"}))
    assert doctor.nvml_lines()[1] == "  GPU 0: NVIDIA H200, 141 GiB; no energy counter or power reading"
    zone(tmp_path, "intel-rapl:0", "package-0", None)
    (tmp_path / "intel-rapl:0" / "energy_uj").mkdir()
    monkeypatch.setenv(rapl.POWERCAP_ROOT_ENV, str(tmp_path))
    assert doctor.rapl_line().startswith(f"RAPL (CPU package energy): not readable: cannot read {tmp_path}/intel-rapl:0/energy_uj")


def test_a_backend_that_hangs_or_breaks_is_reported_not_fatal(monkeypatch):
    monkeypatch.setattr(devices, "backend_installed", lambda b: True)
    monkeypatch.setitem(devices._DESCRIBE, "tensorflow", "import time; time.sleep(60)")
    assert devices.describe_backend("tensorflow", timeout_s=1) == {"installed": True, "error": "no answer in 1 s (import or device discovery hangs)"}
    monkeypatch.setitem(devices._DESCRIBE, "tensorflow", "import sys; sys.exit('broken install')")
    got = devices.describe_backend("tensorflow", timeout_s=60)
    assert got == {"installed": True, "error": "exit 1: broken install"}
    assert "failed in a child process: exit 1: broken install" in doctor.backend_line("tensorflow", got)


@pytest.mark.parametrize("cores, text", [({0, 1}, "0,1"), ({0, 1, 2, 3, 8}, "0-3,8"), ({5}, "5")])
def test_cores_are_shown_as_ranges(cores, text):
    assert doctor._cores(cores) == text


def test_doctor_is_a_command():
    from rnnbench.cli import build_parser, main

    assert build_parser().parse_args(["doctor", "--timeout", "5"]).timeout == 5
    assert main(["doctor", "--timeout", "0"]) == 2
