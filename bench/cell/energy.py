"""Energy, power and device memory over a cell's timed training window: NVML for the GPU, RAPL for the CPU.

Inside a cell's process, :class:`WindowMeter` wraps the timed training (``measure.train_speed``); its
Keras callback marks the window, the last ``fit`` of the call, which is the timed one (the warm-up fit
before it, with its compilation, is left out). Over that window it measures:

* on a GPU cell, through NVML (nvidia-ml-py, imported as ``pynvml``; ``pip install 'rnnbench[nvml]'``):
  the GPU's total-energy counter delta (``nvmlDeviceGetTotalEnergyConsumption``, mJ) per trained sample,
  mean and largest power of samples every :data:`SAMPLE_INTERVAL_S` (``nvmlDeviceGetPowerUsage``, mW),
  the largest device-level used memory of those samples (everything on the GPU, not only this framework's
  allocations; a spike shorter than the interval can fall between two samples), and the other processes
  on the GPU (compute and graphics), which make the row unstable;
* on any cell, through RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``), the CPU packages' energy
  per trained sample: machine-level, since a package counts everything running on it, not the cell alone.

A figure that cannot be measured is None with a note saying why (NVML not installed, its init failed,
no such GPU, a counter the GPU lacks, RAPL root-only...): never 0. Nothing here may fail a cell: every
reading's error becomes a note.

RAPL's reader is bench/cell/rapl.py. Tests point the powercap root at a fake tree (argument, or
``RNNBENCH_POWERCAP_ROOT``) and replace :func:`load_nvml` with a function returning a fake module.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnbench.cell.rapl import RaplReading, Unavailable, rapl_energy_j, read_rapl
from rnnbench.storage.schema import METERED, NVML, RAPL

#: Seconds between two NVML power and memory samples.
SAMPLE_INTERVAL_S = 0.1
#: The GPU's processes are listed every this many samples (a second), and at the window's two ends.
PROCESS_EVERY = 10

#: The columns this module's meters fill (declared in bench/storage/schema.py).
GPU_FIELDS, CPU_FIELDS = METERED[NVML], METERED[RAPL]
NVML_INSTALL = "pip install 'rnnbench[nvml]'"


def load_nvml():
    """The NVML bindings module (nvidia-ml-py's ``pynvml``); ImportError when not installed.

    Tests replace this function with one returning a fake module.
    """
    import pynvml

    return pynvml


def open_nvml():
    """NVML, initialised; :class:`Unavailable` saying why not (bindings missing, no driver...)."""
    try:
        nvml = load_nvml()
    except ImportError:
        raise Unavailable(f"NVML bindings not installed ({NVML_INSTALL})") from None
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError: no driver, no library, version mismatch
        raise Unavailable(f"NVML init failed: {nvml_error_text(exc)}") from None
    return nvml


def close_nvml(nvml) -> None:
    """Shut NVML down; an error there (a driver gone meanwhile) changes nothing for the caller."""
    try:
        nvml.nvmlShutdown()
    except Exception:
        pass


def nvml_error_text(exc: BaseException) -> str:
    """An NVML error's message, or its type's name where the message needs the library to look up."""
    try:
        return str(exc) or type(exc).__name__
    except Exception:  # an NVMLError whose message cannot be looked up without the library
        return type(exc).__name__


def cuda_pci_bus_id() -> str | None:
    """PCI bus id of CUDA device 0 of this process (the cell's GPU: its parent set CUDA_VISIBLE_DEVICES),
    from the CUDA driver itself, so that NVML, which numbers GPUs its own way, picks the same one."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        device, buf = ctypes.c_int(), ctypes.create_string_buffer(64)
        if cuda.cuInit(0) or cuda.cuDeviceGet(ctypes.byref(device), 0) or cuda.cuDeviceGetPCIBusId(buf, 64, device):
            return None
        return buf.value.decode() or None
    except (OSError, AttributeError):
        return None


def gpu_handle(nvml, visible: str | None = None, bus_id: Callable[[], str | None] | None = None) -> tuple[Any, str | None]:
    """NVML's handle of this process's GPU and a note when the choice is uncertain.

    By UUID when CUDA_VISIBLE_DEVICES names one; else by the PCI bus id CUDA reports for its device 0;
    else by CUDA_VISIBLE_DEVICES' index. :class:`Unavailable` when there is no such GPU.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "") if visible is None else visible
    first = visible.split(",")[0].strip()
    try:
        if first.startswith(("GPU-", "MIG-")):
            return nvml.nvmlDeviceGetHandleByUUID(first), None
        bus = (bus_id or cuda_pci_bus_id)()
        if bus:
            return nvml.nvmlDeviceGetHandleByPciBusId(bus), None
        index = int(first) if first.isdigit() else 0
        count = nvml.nvmlDeviceGetCount()
        if index >= count:
            raise Unavailable(f"no GPU {index} for NVML (it sees {count})")
        why = None
        if count > 1:
            why = (f"NVML GPU chosen by index {index} (CUDA's PCI bus id unavailable; CUDA's and NVML's order "
                   "can differ on a machine of mixed GPUs)")
        return nvml.nvmlDeviceGetHandleByIndex(index), why
    except Unavailable:
        raise
    except Exception as exc:
        raise Unavailable(f"NVML cannot find this cell's GPU ({first or 'device 0'}): {nvml_error_text(exc)}") from None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass
class _Readings:
    """What the sampler and the window's ends collected; appended from two threads (list appends are atomic)."""

    memory: list[tuple[float, float]] = field(default_factory=list)  # (time, used MB)
    power: list[tuple[float, float]] = field(default_factory=list)  # (time, W)
    processes: list[tuple[float, frozenset[int]]] = field(default_factory=list)  # (time, pids)
    errors: dict[str, str] = field(default_factory=dict)  # reading -> its first error


class _Gpu:
    """One GPU's NVML readings."""

    def __init__(self, nvml, handle) -> None:
        self.nvml, self.handle = nvml, handle
        self.readings = _Readings()

    def _try(self, what: str, read: Callable[[], Any]) -> Any:
        if what in self.readings.errors:
            return None  # failed once (most often: not supported on this GPU): not asked again
        try:
            return read()
        except Exception as exc:
            self.readings.errors.setdefault(what, nvml_error_text(exc))
            return None

    def energy_mj(self) -> int | None:
        return self._try("energy", lambda: int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)))

    def sample(self, processes: bool = False) -> None:
        now = time.perf_counter()
        used = self._try("memory", lambda: self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used)
        if used is not None:
            self.readings.memory.append((now, used / 2**20))
        power = self._try("power", lambda: self.nvml.nvmlDeviceGetPowerUsage(self.handle))
        if power is not None:
            self.readings.power.append((now, power / 1e3))
        if processes:
            pids = self._try("processes", self._pids)
            if pids is not None:
                self.readings.processes.append((now, pids))

    def _pids(self) -> frozenset[int]:
        pids = set()
        for lister in (self.nvml.nvmlDeviceGetComputeRunningProcesses, self.nvml.nvmlDeviceGetGraphicsRunningProcesses):
            pids.update(int(p.pid) for p in lister(self.handle))
        return frozenset(pids)


class WindowMeter:
    """Energy, power, device memory and the GPU's other processes over one timed window of a cell.

    ``with WindowMeter(gpu=...) as meter:`` around the timed call, :meth:`keras_callback` among its
    callbacks (or :meth:`begin` and :meth:`end` around the window by hand), then :meth:`result` with the
    number of samples trained in the window. Every error is kept for the notes; none is raised.
    """

    def __init__(self, gpu: bool, *, powercap_root: str | os.PathLike | None = None,
                 interval_s: float = SAMPLE_INTERVAL_S, visible: str | None = None,
                 pci_bus_id: Callable[[], str | None] | None = None, own_pid: int | None = None) -> None:
        self.gpu_cell = gpu
        self.root = powercap_root
        self.interval_s = interval_s
        self.visible, self.pci_bus_id = visible, pci_bus_id
        self.own_pid = os.getpid() if own_pid is None else own_pid
        self.gpu: _Gpu | None = None
        self.gpu_why: str | None = "cpu cell" if not gpu else None
        self.gpu_choice: str | None = None
        self.cpu_why: str | None = None
        self.window: tuple[float, float] | None = None
        self._t0: float | None = None
        self._energy0: int | None = None
        self._energy: tuple[int | None, int | None] = (None, None)
        self._rapl0: RaplReading | None = None
        self._rapl: tuple[RaplReading, RaplReading] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- life cycle
    def __enter__(self) -> WindowMeter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            read_rapl(self.root)
        except Unavailable as exc:
            self.cpu_why = f"RAPL not readable: {exc}"
        if not self.gpu_cell:
            return
        try:
            nvml = open_nvml()
        except Unavailable as exc:
            self.gpu_why = str(exc)
            return
        try:
            handle, self.gpu_choice = gpu_handle(nvml, self.visible, self.pci_bus_id)
        except Unavailable as exc:
            self.gpu_why = str(exc)
            close_nvml(nvml)
            return
        self.gpu = _Gpu(nvml, handle)
        self._thread = threading.Thread(target=self._sample_loop, name="rnnbench-nvml-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.gpu is not None:
            close_nvml(self.gpu.nvml)


    def _sample_loop(self) -> None:
        n = 0
        while not self._stop.wait(self.interval_s):
            n += 1
            self.gpu.sample(processes=n % PROCESS_EVERY == 0)

    # -- the window; a later begin starts it again, so the last fit of the timed call is the window
    def begin(self) -> None:
        self._t0 = time.perf_counter()
        self._rapl0 = self._try_rapl()
        if self.gpu is not None:
            self._energy0 = self.gpu.energy_mj()
            self.gpu.sample(processes=True)

    def end(self) -> None:
        if self._t0 is None:
            return
        rapl1 = self._try_rapl()
        self._rapl = (self._rapl0, rapl1) if self._rapl0 is not None and rapl1 is not None else None
        if self.gpu is not None:
            self._energy = (self._energy0, self.gpu.energy_mj())
            self.gpu.sample(processes=True)
        self.window = (self._t0, time.perf_counter())
        self._t0 = None

    def _try_rapl(self) -> RaplReading | None:
        if self.cpu_why is not None:
            return None
        try:
            return read_rapl(self.root)
        except Unavailable as exc:
            self.cpu_why = f"RAPL not readable: {exc}"
            return None

    def keras_callback(self):
        """A Keras callback marking each ``fit`` as the window (the last one wins)."""
        import keras

        meter = self

        class EnergyWindow(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                meter.begin()

            def on_train_end(self, logs=None):
                meter.end()

        return EnergyWindow()

    # -- what was measured
    def result(self, samples: int) -> tuple[dict[str, Any], list[str]]:
        """The cell's fields (:data:`GPU_FIELDS`, :data:`CPU_FIELDS`; None where not measured) and their notes."""
        fields: dict[str, Any] = dict.fromkeys(GPU_FIELDS + CPU_FIELDS)
        notes: list[str] = []
        if self.window is None or samples <= 0:
            missing = CPU_FIELDS + (GPU_FIELDS if self.gpu_cell else ())
            why = "the timed window was never marked" if self.window is None else "no sample trained in the timed window"
            notes.append(f"{', '.join(missing)}: {why}")
            return fields, notes
        self._cpu(fields, notes, samples)
        if self.gpu_cell:
            self._gpu(fields, notes, samples)
        return fields, notes

    def _cpu(self, fields: dict[str, Any], notes: list[str], samples: int) -> None:
        if self._rapl is None:
            notes.append(f"cpu_energy_j_per_sample: {self.cpu_why or 'RAPL not read'}")
            return
        try:
            joules = rapl_energy_j(*self._rapl)
        except Unavailable as exc:
            notes.append(f"cpu_energy_j_per_sample: {exc}")
            return
        fields["cpu_energy_j_per_sample"] = joules / samples
        packages = len(self._rapl[0].energy_uj)
        notes.append(f"cpu_energy_j_per_sample: machine-level, RAPL of {packages} CPU package(s) over the timed window: "
                     "everything running on them, not this cell alone")

    def _gpu(self, fields: dict[str, Any], notes: list[str], samples: int) -> None:
        if self.gpu is None:
            notes.append(f"{', '.join(GPU_FIELDS)}: {self.gpu_why}")
            return
        if self.gpu_choice:
            notes.append(self.gpu_choice)
        r, (t0, t1) = self.gpu.readings, self.window
        errors = r.errors

        def within(values):  # the window's own two samples are inside it
            return [v for t, v in values if t0 <= t <= t1]

        memory = within(r.memory)
        if memory:
            fields["gpu_device_peak_mb"] = max(memory)
        else:
            notes.append(f"gpu_device_peak_mb: NVML memory not readable ({errors.get('memory', 'no sample')})")

        e0, e1 = self._energy
        if e0 is None or e1 is None:
            notes.append(f"gpu_energy_j_per_sample: NVML energy counter not readable ({errors.get('energy', 'no reading')}; "
                         "it needs a Volta or newer GPU)")
        elif e1 < e0:
            notes.append("gpu_energy_j_per_sample: NVML energy counter went back during the window (driver reloaded?)")
        else:
            fields["gpu_energy_j_per_sample"] = (e1 - e0) / 1e3 / samples

        power = within(r.power)
        if power:
            fields["gpu_power_w_mean"] = sum(power) / len(power)
            fields["gpu_power_w_max"] = max(power)
        else:
            notes.append(f"gpu_power_w_mean, gpu_power_w_max: NVML power not readable ({errors.get('power', 'no sample')})")

        lists = within(r.processes)
        seen = frozenset().union(*lists) if lists else frozenset()
        if not lists:
            notes.append(f"gpu_other_processes: NVML process list not readable ({errors.get('processes', 'no sample')})")
        elif self.own_pid not in seen:
            what = ("NVML lists no process on the GPU, not even this cell's" if not seen else
                    f"NVML's pids ({', '.join(map(str, sorted(seen)))}) do not include this cell's own ({self.own_pid})")
            notes.append(f"gpu_other_processes: {what}: another PID namespace (a container without the host's), "
                         "so other processes cannot be told apart")
        else:
            others = sorted(seen - {self.own_pid})
            fields["gpu_other_processes"] = len(others)
            if others:
                named = ", ".join(f"pid {p} ({_comm(p)})" for p in others)
                notes.append(f"gpu_other_processes: {len(others)} other process(es) on this cell's GPU during the timed "
                             f"window: {named}; row marked unstable")
