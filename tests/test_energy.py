"""Energy, power, device memory and GPU isolation over a cell's timed window (bench/cell/energy.py).

No GPU and no readable RAPL here: NVML is a fake module put in place of :func:`energy.load_nvml`, RAPL a
fake powercap tree under tmp_path. Readings are driven by hand (the sampler's interval is an hour), so
nothing depends on timing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from rnnbench.cell import energy, rapl
from rnnbench.cell.energy import GPU_FIELDS, WindowMeter
from rnnbench.cell.rapl import RaplReading, Unavailable, rapl_energy_j, read_rapl
from rnnbench.storage.result import CellResult

HOUR = 3600.0  # a sampler interval no test reaches: every reading is one the test asks for
OWN = os.getpid()


class FakeNVMLError(Exception):
    pass


class FakeNvml:
    """The slice of pynvml the meter uses; each reading returns the next of its list (the last one repeats)."""

    NVMLError = FakeNVMLError

    def __init__(self, used_mb=(1000,), energy_mj=(0,), power_w=(100,), pids=((OWN,),), graphics=((),), count=1,
                 init_error=None, fail=()):
        self.used_mb, self.energy_mj, self.power_w = list(used_mb), list(energy_mj), list(power_w)
        self.pids, self.graphics = list(pids), list(graphics)
        self.count, self.init_error, self.fail = count, init_error, set(fail)
        self.calls: dict[str, int] = {}
        self.shut = False

    def _next(self, name, values):
        if name in self.fail:
            raise FakeNVMLError("Not Supported")
        n = self.calls.get(name, 0)
        self.calls[name] = n + 1
        return values[min(n, len(values) - 1)]

    def nvmlInit(self):
        if self.init_error:
            raise FakeNVMLError(self.init_error)

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        return ("index", i)

    def nvmlDeviceGetHandleByPciBusId(self, bus):
        return ("bus", bus)

    def nvmlDeviceGetHandleByUUID(self, uuid):
        return ("uuid", uuid)

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=self._next("memory", self.used_mb) * 2**20, total=141 * 2**30)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return self._next("energy", self.energy_mj)

    def nvmlDeviceGetPowerUsage(self, handle):
        return self._next("power", self.power_w) * 1000

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=p, usedGpuMemory=1) for p in self._next("processes", self.pids)]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle):
        return [SimpleNamespace(pid=p) for p in self._next("graphics", self.graphics)]

    def nvmlSystemGetDriverVersion(self):
        return "550.54.15"

    def nvmlDeviceGetName(self, handle):
        return "NVIDIA H200"


@pytest.fixture
def no_rapl(tmp_path, monkeypatch):
    """No powercap tree: the CPU figure is out of the way of the GPU tests."""
    monkeypatch.setenv(rapl.POWERCAP_ROOT_ENV, str(tmp_path / "no-powercap"))


def use(monkeypatch, fake):
    monkeypatch.setattr(energy, "load_nvml", lambda: fake)
    return fake


def measure_gpu(extra_samples=0, samples=600, **kw):
    """A GPU cell's window: begin, ``extra_samples`` sampler ticks, end; the meter's fields and notes."""
    meter = WindowMeter(gpu=True, interval_s=HOUR, visible="0", pci_bus_id=lambda: None, **kw)
    with meter:
        meter.begin()
        for _ in range(extra_samples):
            meter.gpu.sample(processes=True)
        meter.end()
    return meter.result(samples)


def result_with(fields, notes=(), cv_repeats=(100.0, 101.0, 99.0)) -> CellResult:
    steps = tuple({"repeat": r, "step": 0, "step_s": 0.01} for r in range(len(cv_repeats)))
    return CellResult(threads=1, params=10, repeat_samples_per_s=cv_repeats, steps_per_repeat=1, steps=steps,
                      compile_s=1.0, infer_samples_per_s=10.0, infer_latency_ms_p50=1.0, infer_latency_ms_p95=2.0,
                      peak_rss_mb=100.0, data_fingerprint="f", notes=tuple(notes), **fields)


# ---------------------------------------------------------------------------------------------- NVML

def test_memory_energy_and_power_over_the_window(monkeypatch, no_rapl):
    fake = use(monkeypatch, FakeNvml(used_mb=(1000, 3000, 2000, 1500), energy_mj=(10_000, 70_000),
                                     power_w=(100, 150, 200, 250)))
    fields, notes = measure_gpu(extra_samples=2, samples=600)
    assert fields["gpu_device_peak_mb"] == 3000  # the largest sample, not the last
    assert fields["gpu_energy_j_per_sample"] == pytest.approx(60.0 / 600)  # (70,000 - 10,000) mJ over 600 samples
    assert fields["gpu_power_w_mean"] == pytest.approx(175) and fields["gpu_power_w_max"] == 250
    assert fields["gpu_other_processes"] == 0
    assert not any(n.startswith(("gpu_device_peak_mb", "gpu_energy", "gpu_power", "gpu_other")) for n in notes), notes
    assert any(n.startswith("cpu_energy_j_per_sample: RAPL not readable: no powercap tree") for n in notes)
    assert fake.shut  # NVML shut down after the window


def test_only_the_last_fit_is_the_window(monkeypatch, no_rapl):
    """train_speed runs a warm-up fit (with compilation) and then the timed one: the meter keeps the last."""
    use(monkeypatch, FakeNvml(energy_mj=(0, 5_000_000, 6_000_000, 6_100_000), used_mb=(9000, 9000, 100, 200)))
    meter = WindowMeter(gpu=True, interval_s=HOUR, visible="0", pci_bus_id=lambda: None)
    with meter:
        meter.begin()
        meter.end()  # warm-up
        meter.begin()
        meter.end()  # timed
    fields, _ = meter.result(samples=100)
    assert fields["gpu_energy_j_per_sample"] == pytest.approx(100.0 / 100)
    assert fields["gpu_device_peak_mb"] == 200


def test_the_sampler_thread_samples_every_interval(monkeypatch, no_rapl):
    fake = use(monkeypatch, FakeNvml(used_mb=(100, 100, 500, 100), power_w=(50, 300, 50)))
    meter = WindowMeter(gpu=True, interval_s=0.001, visible="0", pci_bus_id=lambda: None)
    with meter:
        meter.begin()
        deadline = time.monotonic() + 30
        while fake.calls.get("power", 0) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        meter.end()
    fields, _ = meter.result(samples=10)
    assert fake.calls["power"] >= 5 and "processes" in fake.calls  # the thread read power, memory and processes
    assert fields["gpu_device_peak_mb"] == 500 and fields["gpu_power_w_max"] == 300


def test_another_process_on_the_gpu_is_noted_and_makes_the_row_unstable(monkeypatch, no_rapl):
    use(monkeypatch, FakeNvml(pids=((OWN,), (OWN, 4242), (OWN,)), graphics=((), (), (77,))))
    fields, notes = measure_gpu(extra_samples=1)
    assert fields["gpu_other_processes"] == 2  # 4242 (compute) and 77 (graphics), seen at different times
    (note,) = [n for n in notes if n.startswith("gpu_other_processes")]
    assert "pid 77" in note and "pid 4242" in note and "unstable" in note
    result = result_with(fields, notes)
    assert result.train_samples_per_s_cv < 0.1 and result.unstable
    assert result.metrics()["unstable"] is True and result.metrics()["gpu_other_processes"] == 2
    assert not result_with({**fields, "gpu_other_processes": 0}).unstable


def test_a_foreign_pid_namespace_is_not_guessed(monkeypatch, no_rapl):
    """In a container NVML reports host pids: the cell's own cannot be told apart, so no count is made up."""
    use(monkeypatch, FakeNvml(pids=((912345,),)))
    fields, notes = measure_gpu()
    assert fields["gpu_other_processes"] is None
    assert any("do not include this cell's own" in n and "PID namespace" in n for n in notes)
    use(monkeypatch, FakeNvml(pids=((),)))
    fields, notes = measure_gpu()
    assert fields["gpu_other_processes"] is None and any("not even this cell's" in n for n in notes)


def test_nvml_not_installed_leaves_every_gpu_column_empty_with_a_note(monkeypatch, no_rapl):
    def missing():
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr(energy, "load_nvml", missing)
    fields, notes = measure_gpu()
    assert all(fields[f] is None for f in GPU_FIELDS)
    assert f"{', '.join(GPU_FIELDS)}: NVML bindings not installed (pip install 'rnnbench[nvml]')" in notes


def test_nvml_init_failure_is_a_note(monkeypatch, no_rapl):
    use(monkeypatch, FakeNvml(init_error="Driver Not Loaded"))
    fields, notes = measure_gpu()
    assert all(fields[f] is None for f in GPU_FIELDS)
    assert any(n.endswith("NVML init failed: Driver Not Loaded") for n in notes)


def test_no_such_gpu_is_a_note(monkeypatch, no_rapl):
    use(monkeypatch, FakeNvml(count=1))
    meter = WindowMeter(gpu=True, interval_s=HOUR, visible="3", pci_bus_id=lambda: None)
    with meter:
        meter.begin()
        meter.end()
    fields, notes = meter.result(10)
    assert all(fields[f] is None for f in GPU_FIELDS) and any("no GPU 3 for NVML (it sees 1)" in n for n in notes)


def test_a_reading_the_gpu_lacks_is_empty_and_the_others_still_measured(monkeypatch, no_rapl):
    use(monkeypatch, FakeNvml(fail={"energy", "power"}, used_mb=(700,)))
    fields, notes = measure_gpu()
    assert fields["gpu_energy_j_per_sample"] is None and fields["gpu_power_w_mean"] is None
    assert fields["gpu_power_w_max"] is None and fields["gpu_device_peak_mb"] == 700
    assert any(n.startswith("gpu_energy_j_per_sample: NVML energy counter not readable (Not Supported") for n in notes)
    assert any(n.startswith("gpu_power_w_mean, gpu_power_w_max: NVML power not readable") for n in notes)


def test_the_gpu_is_found_by_uuid_then_pci_bus_then_index():
    fake = FakeNvml(count=2)
    assert energy.gpu_handle(fake, "GPU-8d2c", lambda: "0000:3B:00.0") == (("uuid", "GPU-8d2c"), None)
    assert energy.gpu_handle(fake, "1", lambda: "0000:3B:00.0") == (("bus", "0000:3B:00.0"), None)
    handle, why = energy.gpu_handle(fake, "1", lambda: None)
    assert handle == ("index", 1) and "index 1" in why  # two GPUs, no bus id: the choice is said
    assert energy.gpu_handle(FakeNvml(count=1), "0", lambda: None) == (("index", 0), None)
    with pytest.raises(Unavailable, match="no GPU 2"):
        energy.gpu_handle(fake, "2", lambda: None)


def test_a_cpu_cell_never_touches_nvml(monkeypatch, no_rapl):
    def boom():
        raise AssertionError("NVML loaded for a cpu cell")

    monkeypatch.setattr(energy, "load_nvml", boom)
    meter = WindowMeter(gpu=False)
    with meter:
        meter.begin()
        meter.end()
    fields, notes = meter.result(10)
    assert all(v is None for v in fields.values())
    assert notes == [f"cpu_energy_j_per_sample: RAPL not readable: no powercap tree at {rapl.powercap_root()} "
                     "(not Linux, or no RAPL driver: a VM or a non-x86 CPU)"]


def test_a_window_never_marked_is_said(no_rapl):
    fields, notes = WindowMeter(gpu=False).result(10)
    assert all(v is None for v in fields.values()) and notes == ["cpu_energy_j_per_sample: the timed window was never marked"]


# ---------------------------------------------------------------------------------------------- RAPL

def zone(root: Path, name: str, label: str | None, energy_uj: int | None, max_uj: int | None = 262_143_328_850):
    z = root / name
    z.mkdir(parents=True)
    if label is not None:
        (z / "name").write_text(f"{label}\n")
    if energy_uj is not None:
        (z / "energy_uj").write_text(f"{energy_uj}\n")
    if max_uj is not None:
        (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return z


def set_energy(z: Path, uj: int) -> None:
    (z / "energy_uj").write_text(f"{uj}\n")


def cpu_window(root, after=(), samples=100):
    """A CPU cell's window over a fake tree, its counters set to ``after`` (zone, µJ) inside the window."""
    meter = WindowMeter(gpu=False, powercap_root=root)
    with meter:
        meter.begin()
        for z, uj in after:
            set_energy(z, uj)
        meter.end()
    return meter.result(samples)


def test_rapl_delta_of_one_package(tmp_path):
    pkg = zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    fields, notes = cpu_window(tmp_path, after=[(pkg, 51_000_000)], samples=100)
    assert fields["cpu_energy_j_per_sample"] == pytest.approx(50.0 / 100)
    assert any(n.startswith("cpu_energy_j_per_sample: machine-level") and "not this cell alone" in n for n in notes)


def test_rapl_counter_wrap_uses_the_max_energy_range(tmp_path):
    top = 262_143_328_850
    pkg = zone(tmp_path, "intel-rapl:0", "package-0", top - 2_000_000, max_uj=top)
    fields, _ = cpu_window(tmp_path, after=[(pkg, 3_000_000)], samples=5)
    assert fields["cpu_energy_j_per_sample"] == pytest.approx(5.0 / 5)  # 2 J to the top, 3 J after the wrap


def test_rapl_wrap_without_its_range_is_a_note(tmp_path):
    start = RaplReading({"intel-rapl:0": 10}, {"intel-rapl:0": None})
    with pytest.raises(Unavailable, match="wrapped"):
        rapl_energy_j(start, RaplReading({"intel-rapl:0": 5}, {"intel-rapl:0": None}))


def test_two_packages_are_summed_and_subzones_psys_and_mmio_left_out(tmp_path):
    p0 = zone(tmp_path, "intel-rapl:0", "package-0", 0)
    p1 = zone(tmp_path, "intel-rapl:1", "package-1", 0)
    core = zone(tmp_path, "intel-rapl:0:0", "core", 0)  # inside package 0's count already
    dram = zone(tmp_path, "intel-rapl:1:0", "dram", 0)
    psys = zone(tmp_path, "intel-rapl:2", "psys", 0)  # the whole platform, packages included
    mmio = zone(tmp_path, "intel-rapl-mmio:0", "package-0", 0)  # the same package through MMIO
    (tmp_path / "intel-rapl").mkdir()  # the control type's own directory
    assert list(read_rapl(tmp_path).energy_uj) == ["intel-rapl:0", "intel-rapl:1"]
    edits = [(p0, 3_000_000), (p1, 7_000_000), (core, 10**9), (dram, 10**9), (psys, 10**9), (mmio, 10**9)]
    fields, notes = cpu_window(tmp_path, after=edits, samples=10)
    assert fields["cpu_energy_j_per_sample"] == pytest.approx(10.0 / 10)
    assert any("2 CPU package(s)" in n for n in notes)


def test_the_powercap_root_comes_from_the_environment(tmp_path, monkeypatch):
    zone(tmp_path, "intel-rapl:0", "package-0", 42)
    monkeypatch.setenv(rapl.POWERCAP_ROOT_ENV, str(tmp_path))
    assert rapl.powercap_root() == tmp_path and read_rapl().energy_uj == {"intel-rapl:0": 42}
    assert rapl.powercap_root("/elsewhere") == Path("/elsewhere")  # an argument beats the variable


@pytest.mark.parametrize("damage, why", [
    ("missing", "energy_uj does not exist"),
    ("directory", "cannot read"),
    ("garbage", "does not hold a number"),
    ("permission", "permission denied reading"),
    ("no zone", "no RAPL package zone"),
    ("no tree", "no powercap tree"),
])
def test_unreadable_rapl_is_empty_with_a_note(tmp_path, monkeypatch, damage, why):
    root = tmp_path / "powercap"
    if damage != "no tree":
        root.mkdir()
    if damage == "missing":
        zone(root, "intel-rapl:0", "package-0", None)
    elif damage == "directory":
        (zone(root, "intel-rapl:0", "package-0", None) / "energy_uj").mkdir()
    elif damage == "garbage":
        (zone(root, "intel-rapl:0", "package-0", None) / "energy_uj").write_text("n/a\n")
    elif damage == "permission":  # as root, chmod 000 is no obstacle: refuse the read itself
        zone(root, "intel-rapl:0", "package-0", 5)
        real = Path.read_text

        def read_text(self, *args, **kwargs):
            if self.name == "energy_uj":
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "read_text", read_text)
    elif damage == "no zone":
        zone(root, "intel-rapl:0:0", "core", 5)
    fields, notes = cpu_window(root)
    assert fields["cpu_energy_j_per_sample"] is None
    (note,) = notes
    assert note.startswith("cpu_energy_j_per_sample: RAPL not readable: ") and why in note, note


# ---------------------------------------------------------------------------------------------- the result and the row

FIELDS = {"gpu_device_peak_mb": 2048.0, "gpu_energy_j_per_sample": 0.25, "gpu_power_w_mean": 310.5,
          "gpu_power_w_max": 402.0, "gpu_other_processes": 0, "cpu_energy_j_per_sample": 0.02}


def test_new_fields_round_trip_through_json_and_become_columns():
    from rnnbench.storage.schema import CELL_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS

    r = result_with(FIELDS, notes=["cpu_energy_j_per_sample: machine-level"])
    assert CellResult.from_json(r.to_json()) == r
    m = r.metrics()
    assert {k: m[k] for k in FIELDS} == FIELDS and set(m) <= set(CELL_COLUMNS)
    assert set(FIELDS) - {"gpu_other_processes"} <= FLOAT_COLUMNS and "gpu_other_processes" in INT_COLUMNS
    assert CELL_COLUMNS.index("gpu_peak_mb") < CELL_COLUMNS.index("wall_s") < CELL_COLUMNS.index("gpu_device_peak_mb")


def test_a_result_of_before_these_fields_still_reads():
    data = json.loads(result_with({}).to_json())
    for key in FIELDS:
        del data[key]
    old = CellResult.from_json(json.dumps(data))
    assert all(getattr(old, k) is None for k in FIELDS) and not old.unstable


def test_pooling_processes_takes_medians_and_largest_and_keeps_a_later_process_note():
    a = result_with(FIELDS, notes=["first"])
    b = result_with({**FIELDS, "gpu_energy_j_per_sample": 0.35, "gpu_power_w_max": 450.0, "gpu_other_processes": 1,
                     "gpu_device_peak_mb": 1024.0, "cpu_energy_j_per_sample": None},
                    notes=["first", "gpu_other_processes: 1 other process(es) ... pid 9"])
    pooled = CellResult.pool([a, b])
    assert pooled.gpu_energy_j_per_sample == pytest.approx(0.30) and pooled.gpu_power_w_max == 450.0
    assert pooled.gpu_device_peak_mb == 2048.0 and pooled.gpu_other_processes == 1 and pooled.unstable
    assert pooled.cpu_energy_j_per_sample == 0.02  # the one process that measured it
    assert pooled.notes == ("first", "speed process 2: gpu_other_processes: 1 other process(es) ... pid 9")
    nothing = CellResult.pool([result_with({}), result_with({})])
    assert all(getattr(nothing, k) is None for k in FIELDS)


def test_a_cells_csv_without_the_new_columns_still_loads(tmp_path):
    from rnnbench.storage.schema import CELL_COLUMNS
    from rnnbench.storage.store import RunStore, load_run, typed

    old_columns = CELL_COLUMNS[: CELL_COLUMNS.index("gpu_device_peak_mb")]
    row = {c: "" for c in old_columns} | {"cell_id": "abc", "model": "lstm", "status": "ok", "train_samples_per_s": "12.5"}
    pd.DataFrame([row], columns=list(old_columns)).to_csv(tmp_path / "cells.csv", index=False)
    (cell,) = load_run(tmp_path).cells.values()
    cell = typed(cell, "test")
    assert cell["train_samples_per_s"] == 12.5 and cell["gpu_device_peak_mb"] is None and cell["gpu_other_processes"] is None
    with RunStore(tmp_path) as store:  # a resumed run writes the new columns, empty for the old row
        store.record({"cell_id": "def", "status": "ok", **FIELDS})
    stored = pd.read_csv(tmp_path / "cells.csv").set_index("cell_id")
    assert list(stored.reset_index().columns) == list(CELL_COLUMNS)
    assert pd.isna(stored.loc["abc", "gpu_energy_j_per_sample"]) and stored.loc["def", "gpu_power_w_max"] == 402.0


def test_a_measured_zero_is_kept_apart_from_not_measured():
    m = result_with({**FIELDS, "gpu_other_processes": 0}).metrics()
    from rnnbench.storage.store import format_value

    assert format_value(m["gpu_other_processes"]) == "0" and format_value(result_with({}).metrics()["gpu_energy_j_per_sample"]) == ""


# ---------------------------------------------------------------------------------------------- a real cell

@pytest.mark.slow
def test_a_real_cpu_cell_fills_the_columns_or_says_why(tmp_path):
    """One tiny cell through the whole harness, its RAPL a fake (static) tree: the plumbing, child to row."""
    root = tmp_path / "powercap"
    zone(root, "intel-rapl:0", "package-0", 123_456)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", rapl.POWERCAP_ROOT_ENV: str(root)}
    out = tmp_path / "run"
    args = ["run", "--preset", "smoke", "--models", "simple_rnn", "--kernels", "generic", "--maxlen", "16",
            "--epochs", "0", "--train-samples", "200", "--test-samples", "100", "--speed-target", "0.2",
            "--out", str(out), "--no-report", "--quiet"]
    done = subprocess.run([sys.executable, "-m", "rnnbench", *args], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    (row,) = pd.read_csv(out / "cells.csv").to_dict("records")
    assert row["status"] == "ok"
    assert row["cpu_energy_j_per_sample"] == 0  # a counter that did not move: measured, and zero
    assert all(pd.isna(row[f]) for f in ("gpu_peak_mb", *GPU_FIELDS))
    assert f"gpu_peak_mb, {', '.join(GPU_FIELDS)}: cpu cell" in row["notes"]
    assert "cpu_energy_j_per_sample: machine-level" in row["notes"]


def test_fields_of_the_result_and_the_meter_agree():
    names = {f.name for f in dataclasses.fields(CellResult)}
    assert set(energy.GPU_FIELDS + energy.CPU_FIELDS) <= names
