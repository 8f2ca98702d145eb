"""Sweep specs: the frozen, self-validating description of a grid, and its expansion into cells.

A spec comes from a preset (bench/config/presets.py), a TOML file, or either plus command-line
overrides. Every value is checked when the spec is made, and a bad one raises :class:`BadInput`
naming the key, the value and, where one is close, the valid name meant.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from rnnbench.datasets import DATASETS, textfile
from rnnbench.errors import BadInput
from rnnbench.models import KERNELS, get_spec, list_models

BACKENDS = ("tensorflow", "jax", "torch")
EXECUTORS = ("local", "ray")
#: how a cell's process starts (bench/execute/spawner.py)
LAUNCHES = ("fork", "spawn")
_DEVICE_RE = re.compile(r"^(cpu|gpu|gpu:\d+)$")
_MAX_MAXLEN = 100_000
#: The tutorial's recurrent width. A cell at this width hashes as cells did before ``units`` was an axis,
#: so ids in committed runs (the regression baseline) still match.
DEFAULT_UNITS = 32
_MAX_UNITS = 8192


def _int_in(value: Any, low: int, high: float) -> bool:
    """``value`` is an integer (not a bool, which Python counts as one) with ``low <= value <= high``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def resolve_threads(threads: int | None, cpus: tuple[int, ...] | None) -> int:
    """Framework threads per cell, resolved in one place: ``threads``, else one per ``cpus`` core, else
    every core this process may use."""
    return threads or (len(cpus) if cpus else len(os.sched_getaffinity(0)))


def _unique(name: str, values: list | tuple) -> tuple:
    """``values`` without repeats, order kept, in linear time. Keyed by type and value: ``false`` and ``0``
    (or ``1`` and ``true``) are different entries, so the type check after this names the wrong one
    instead of one silently swallowing the other."""
    seen, out = set(), []
    for v in values:
        try:
            key = (type(v), v)
            fresh = key not in seen
        except TypeError:  # a list or table where one value belongs
            raise BadInput(f"axis {name!r}: {v!r} is not a single value") from None
        if fresh:
            seen.add(key)
            out.append(v)
    return tuple(out)


def closest(value: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'lstm'?)`` when a choice is close to ``value``, else empty."""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def cell_label(values: Mapping[str, Any]) -> str:
    """A cell's settings in one short line, the same in progress lines, verdict tables and A/B output:
    ``lstm/generic tensorflow cpu jit_compile=false maxlen=100 batch=32 seed=0``. ``values`` is a Cell's
    fields or a stored row (text or typed); the units are named only when not the tutorial's 32."""
    units = values.get("units")
    width = "" if units in (None, "", DEFAULT_UNITS, str(DEFAULT_UNITS)) else f" units={units}"
    jit = str(values["jit_compile"]).lower()  # one spelling for XLA everywhere: jit_compile (bench/config/settings.py)
    return (f"{values['model']}/{values['kernel']}{width} {values['backend']} {values['device']} jit_compile={jit} "
            f"maxlen={values['maxlen']} batch={values['batch_size']} seed={values['seed']}")


@dataclass(frozen=True)
class Cell:
    """One point of the grid: everything a child process needs to run it, and nothing else."""

    model: str
    arch: str
    kernel: str
    backend: str
    device: str
    jit_compile: bool
    maxlen: int
    batch_size: int
    epochs: int
    seed: int
    dataset: str
    train_samples: int | None
    test_samples: int | None
    speed_target_s: float
    units: int = DEFAULT_UNITS  # each recurrent layer's width

    @functools.cached_property  # a frozen cell's id never changes: hashed once, not on every lookup
    def cell_id(self) -> str:
        """Stable hash of the parameters: the same cell gets the same id in every run and machine."""
        fields_ = dataclasses.asdict(self)
        if fields_["units"] == DEFAULT_UNITS:  # as before units was a parameter: committed ids stay valid
            del fields_["units"]
        payload = json.dumps(fields_, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"cell_id": self.cell_id, **dataclasses.asdict(self)}

    @property
    def label(self) -> str:
        return cell_label(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Cell:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d or f.name != "units"})


@dataclass(frozen=True)
class SweepSpec:
    """Axes (tuples: the grid is their product) and fixed settings of one sweep."""

    models: tuple[str, ...] = ("*",)
    kernels: tuple[str, ...] = ("generic",)
    maxlen: tuple[int, ...] = (500,)
    batch_size: tuple[int, ...] = (128,)
    devices: tuple[str, ...] = ("cpu",)
    jit_compile: tuple[bool, ...] = (False,)
    backends: tuple[str, ...] = ("tensorflow",)
    seeds: tuple[int, ...] = (0,)
    #: recurrent units per layer (the tutorial's 32); parameter and FLOP counts follow
    units: tuple[int, ...] = (DEFAULT_UNITS,)
    epochs: int = 10
    #: a built-in data set's name, or the path of a labelled-text file (.csv, .tsv, .jsonl)
    dataset: str = "synthetic"
    #: the columns (JSON Lines: fields) of a labelled-text file that hold the text and its integer label
    text_column: str = "text"
    label_column: str = "label"
    train_samples: int | None = None
    test_samples: int | None = None
    #: seconds of timed training steps per cell (the step budget adapts to it)
    speed_target_s: float = 3.0
    #: a cell running longer than this is killed and recorded as failed
    timeout_s: float = 3600.0
    #: a cell whose resident memory exceeds this is killed and recorded as failed (None: 80% of RAM)
    memory_limit_mb: float | None = None
    #: framework threads per cell (None: one per core of ``cpus``, else every usable core). Fewer threads
    #: than cores leave room for the machine's own background work, which steadies timings on a small machine.
    threads: int | None = None
    #: CPU cores every cell process is confined to (Linux scheduler affinity, like ``taskset -c``; None:
    #: every core this process may use). With fewer cores than the machine has, the others take the OS,
    #: the sweep process and background work, and a cell's threads stop migrating between cores.
    #: ``threads`` defaults to their number.
    cpus: tuple[int, ...] | None = None
    #: independent processes that time each cell's speed (pyperf's approach): on a shared machine a
    #: process's speed drifts by more than its own repeats show, so one process cannot stand for the cell.
    #: The first process also trains for accuracy; the others only time. Not part of the cell's identity.
    processes: int = 1
    #: the most cells a sweep may have; a larger grid is refused before anything is built or run (a typo
    #: such as a seed range of 100,000 should not start a week of work). Not part of a cell's identity.
    max_cells: int = 10_000
    #: cells run at once on this machine, each in a slot of its own cores (and, on a GPU cell, its own GPU).
    #: 1 (the default) gives a cell the whole machine, the cleanest timings; README "Scale" says what N costs.
    parallel: int = 1
    #: how a CPU cell's process starts (bench/execute/spawner.py): "fork" (the default), from a fork server that has
    #: imported the framework (bench/execute/fork_server.py), or "spawn", a new interpreter. Forked cells start ~2.3 s
    #: sooner and measure the same: same training, the same peak_rss_mb (the child re-reads the server's library
    #: pages), throughput side by side in docs/scale.md, "Fork server". Only TensorFlow CPU cells with one speed
    #: process fork; the rest are spawned. Not part of a cell's identity.
    launch: str = "fork"
    #: where cells run: "local" (this machine) or "ray" (one Ray task per cell, on a cluster:
    #: bench/execute/ray_executor.py). Not part of a cell's identity.
    executor: str = "local"
    #: with executor "ray": the cluster to connect to ("auto", "HOST:PORT"); None starts a local Ray
    #: instance for the run and shuts it down after. Not part of a cell's identity.
    ray_address: str | None = None
    #: sub-grids of one sweep: each part is a table of cell settings (axes, epochs, sample counts, speed
    #: target) that replace this spec's own for that part's cells; the sweep is their union, run into one
    #: directory. The default preset has three: a speed grid, an accuracy part and the XLA fast-path check. A command-line override
    #: replaces the setting in every part too. Empty: the spec's own grid.
    parts: tuple[dict[str, Any], ...] = ()

    AXES = ("models", "kernels", "maxlen", "batch_size", "devices", "jit_compile", "backends", "seeds", "units")
    #: what a part may set: a cell's settings; the rest (data set, threads, cores, timeouts) is the sweep's
    PART_KEYS = (*AXES, "epochs", "train_samples", "test_samples", "speed_target_s")

    def __post_init__(self) -> None:
        for name in self.AXES:
            value = getattr(self, name)
            if isinstance(value, (str, int, float, bool)):
                value = (value,)
            if not isinstance(value, (list, tuple)) or not value:
                raise BadInput(f"axis {name!r} must be a non-empty list, got {value!r}")
            object.__setattr__(self, name, _unique(name, value))
        self._check_axes()
        self._check_settings()
        self._check_parts()

    def _check_parts(self) -> None:
        parts = self.parts
        if isinstance(parts, dict) or not isinstance(parts, (list, tuple)):
            raise BadInput(f"parts must be a list of tables of settings, got {parts!r}")
        normal = []
        for i, part in enumerate(parts, start=1):
            if not isinstance(part, dict):  # an empty one is the spec's own grid
                raise BadInput(f"part {i} must be a table of settings, got {part!r}")
            bad = [k for k in part if k not in self.PART_KEYS]
            if bad:
                raise BadInput(f"part {i}: {bad[0]!r} cannot be set per part{closest(str(bad[0]), self.PART_KEYS)}; "
                               f"a part may set: {', '.join(self.PART_KEYS)}")
            normal.append({k: tuple(v) if isinstance(v, list) else v for k, v in part.items()})
        object.__setattr__(self, "parts", tuple(normal))
        self.part_specs()  # each part's values, checked as a whole spec's are
    def _check_axes(self) -> None:
        for pattern in self.models:
            if not isinstance(pattern, str) or not list_models(pattern):
                raise BadInput(_unknown_model(pattern))
        for kernel in self.kernels:
            if kernel not in KERNELS:
                raise BadInput(f"unknown kernel {kernel!r}{closest(str(kernel), KERNELS)}; known kernels: {', '.join(KERNELS)}")
        for name in ("maxlen", "batch_size"):
            for v in getattr(self, name):
                if not _int_in(v, 1, _MAX_MAXLEN):
                    raise BadInput(f"{name} must be an integer between 1 and {_MAX_MAXLEN}, got {v!r}")
        for device in self.devices:
            if not isinstance(device, str) or not _DEVICE_RE.match(device):
                raise BadInput(f"unknown device {device!r}; use cpu, gpu or gpu:N")
        for v in self.jit_compile:
            if not isinstance(v, bool):
                raise BadInput(f"jit_compile values must be true or false, got {v!r}")
        for backend in self.backends:
            if backend not in BACKENDS:
                raise BadInput(f"unknown backend {backend!r}{closest(str(backend), BACKENDS)}; known backends: {', '.join(BACKENDS)}")
        for v in self.seeds:
            if not _int_in(v, 0, 2**31 - 1):
                raise BadInput(f"seeds must be integers in [0, 2**31), got {v!r}")
        for v in self.units:
            if not _int_in(v, 1, _MAX_UNITS):
                raise BadInput(f"units must be integers between 1 and {_MAX_UNITS}, got {v!r}")

    def _check_settings(self) -> None:
        if not _int_in(self.epochs, 0, 10_000):
            raise BadInput(f"epochs must be an integer >= 0 (0 measures speed only), got {self.epochs!r}")
        if not isinstance(self.dataset, str) or (self.dataset not in DATASETS and not textfile.is_file_dataset(self.dataset)):
            raise BadInput(f"unknown dataset {self.dataset!r}{closest(str(self.dataset), tuple(DATASETS))}; known datasets: "
                           f"{', '.join(DATASETS)}, or a file of labelled texts ({', '.join(textfile.SUFFIXES)})")
        for name in ("text_column", "label_column"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise BadInput(f"{name} must be a non-empty column name, got {getattr(self, name)!r}")
        for name in ("train_samples", "test_samples"):
            v = getattr(self, name)
            if v is not None and not _int_in(v, 10, math.inf):
                raise BadInput(f"{name} must be an integer >= 10 (or absent for the whole split), got {v!r}")
        if self.threads is not None and not _int_in(self.threads, 1, 1024):
            raise BadInput(f"threads must be an integer between 1 and 1024 (or absent for every core), got {self.threads!r}")
        if self.cpus is not None:
            cpus = (self.cpus,) if isinstance(self.cpus, int) and not isinstance(self.cpus, bool) else self.cpus
            if not isinstance(cpus, (list, tuple)) or not cpus or not all(_int_in(c, 0, 4095) for c in cpus):
                raise BadInput(f"cpus must be a non-empty list of core numbers (0, 1, ...), got {self.cpus!r}")
            object.__setattr__(self, "cpus", tuple(sorted(set(cpus))))
        if not _int_in(self.processes, 1, 100):
            raise BadInput(f"processes must be an integer between 1 and 100, got {self.processes!r}")
        if not _int_in(self.parallel, 1, 1024):
            raise BadInput(f"parallel must be an integer between 1 and 1024, got {self.parallel!r}")
        if self.launch not in LAUNCHES:
            raise BadInput(f"unknown launch {self.launch!r}{closest(str(self.launch), LAUNCHES)}; known: {', '.join(LAUNCHES)}")
        if self.executor not in EXECUTORS:
            raise BadInput(f"unknown executor {self.executor!r}{closest(str(self.executor), EXECUTORS)}; known executors: "
                           f"{', '.join(EXECUTORS)}")
        if self.ray_address is not None and (not isinstance(self.ray_address, str) or not self.ray_address.strip()):
            raise BadInput(f"ray_address must be a cluster address such as auto or HOST:6379, got {self.ray_address!r}")
        if not _int_in(self.max_cells, 1, math.inf):
            raise BadInput(f"max_cells must be a positive integer, got {self.max_cells!r}")
        for name in ("speed_target_s", "timeout_s", "memory_limit_mb"):
            v = getattr(self, name)
            if v is None and name == "memory_limit_mb":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1e6:
                raise BadInput(f"{name} must be a positive number, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: (list(v) if isinstance(v, tuple) else v) for f in fields(self) for v in [getattr(self, f.name)]}
        out["parts"] = [{k: list(v) if isinstance(v, tuple) else v for k, v in p.items()} for p in self.parts]
        return out

    def part_specs(self) -> list[SweepSpec]:
        """One spec per part (this spec with the part's settings), or this spec alone when it has no parts."""
        if not self.parts:
            return [self]
        out = []
        for i, part in enumerate(self.parts, start=1):
            try:
                out.append(dataclasses.replace(self, parts=(), **part))
            except BadInput as exc:
                raise BadInput(f"part {i}: {exc}") from None
        return out

    def expand(self) -> list[Cell]:
        """The sweep's cells: each part's grid in turn (a cell two parts share, once), in a stable order."""
        if self.parts:
            cells = list({c.cell_id: c for sub in self.part_specs() for c in sub.expand()}.values())
            if len(cells) > self.max_cells:
                raise BadInput(f"the sweep has {len(cells):,} cells, more than max_cells = {self.max_cells:,}; narrow an "
                               "axis, or raise the limit with --max-cells (sweep key max_cells) if you mean it")
            return cells
        return self._grid()

    def _grid(self) -> list[Cell]:
        """The grid's cells, in a stable order.

        Order: model (patterns in the order given, registry order within a pattern, each model once), kernel, units, backend, device,
        jit_compile, maxlen, batch_size, seed, each axis in the order given. A kernel a model does not
        have (cuDNN for SimpleRNN) is not generated; every other combination is, and the planner marks
        those that cannot run here as skipped.
        """
        names = list(dict.fromkeys(n for p in self.models for n in list_models(p)))
        per_kernel = math.prod(len(getattr(self, a)) for a in self.AXES if a not in ("models", "kernels"))
        count = sum(len([k for k in self.kernels if k in get_spec(n).kernels]) for n in names) * per_kernel
        if count > self.max_cells:
            raise BadInput(f"the sweep has {count:,} cells, more than max_cells = {self.max_cells:,}; narrow an axis, "
                           "or raise the limit with --max-cells (sweep key max_cells) if you mean it")
        cells = []
        for name in names:
            spec = get_spec(name)
            kernels = [k for k in self.kernels if k in spec.kernels]
            for kernel, units, backend, device, jit, maxlen, batch, seed in itertools.product(
                kernels, self.units, self.backends, self.devices, self.jit_compile, self.maxlen, self.batch_size, self.seeds
            ):
                cells.append(
                    Cell(name, spec.arch, kernel, backend, device, jit, maxlen, batch, self.epochs, seed,
                         self.dataset, self.train_samples, self.test_samples, float(self.speed_target_s), units)
                )
        return cells

    @property
    def cell_threads(self) -> int:
        """Framework threads each cell uses (:func:`resolve_threads` of this spec's settings)."""
        return resolve_threads(self.threads, self.cpus)

    def replace(self, **changes: Any) -> SweepSpec:
        """This spec with ``changes``; a changed cell setting is taken out of every part, so it applies to all."""
        if self.parts and "parts" not in changes:
            # A part left empty stays: it is then the spec's own grid, as its other parts are theirs.
            changes["parts"] = tuple({k: v for k, v in p.items() if k not in changes} for p in self.parts)
        return dataclasses.replace(self, **changes)

    @property
    def all_backends(self) -> tuple[str, ...]:
        """Every backend the sweep's cells use, over all parts."""
        return tuple(dict.fromkeys(b for sub in self.part_specs() for b in sub.backends))


def _unknown_model(pattern: Any) -> str:
    names = list_models()
    return f"no registered model matches {pattern!r}{closest(str(pattern), names)}; known models: {', '.join(names)}"
