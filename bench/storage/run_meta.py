"""``run.json``, typed: what a run directory says about its sweep, data, machine and calibration.

:meth:`RunMeta.from_json` is the one place a stored ``run.json`` is checked (a valid JSON file of the
wrong shape is one line of bad input, not an AttributeError far away); readers get typed fields, never
``meta.get("environment") or {}``. Keys a newer version wrote are kept in :attr:`RunMeta.extra`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnbench.errors import BadInput

#: run.json's format. 1: the first versioned one (a run.json without "format" is from before, read alike).
#: A reader refuses a newer format rather than guess what its fields mean.
FORMAT_VERSION = 1

#: run.json's top-level fields with their JSON types, in the order they are written.
_FIELDS: dict[str, type] = {"format": int, "spec": dict, "preset": str, "cells": int, "data": dict, "environment": dict,
                            "first_started_at": str, "calibration": list, "resumes": list}
_ENVIRONMENT: dict[str, type] = {"cpu": dict, "gpus": list, "packages": dict, "host": str, "git_commit": str, "python": str}


@dataclass
class RunMeta:
    """A run's metadata: the sweep's spec, preset and cell count, the data it read (name, fingerprint),
    the environment its rows were measured in (bench/storage/environment.py), when it first started, the
    calibration matmul per backend and device, and the resumes on other machines or commits."""

    spec: dict[str, Any] = field(default_factory=dict)
    preset: str | None = None
    cells: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    first_started_at: str | None = None
    calibration: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    format: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # keys of a newer version, kept as they were

    @property
    def started_at(self) -> str | None:
        """When the run first started (older runs: when its environment was taken)."""
        return self.first_started_at or self.environment.get("started_at")

    @property
    def commit(self) -> str:
        """The commit the environment was taken at (``+dirty`` for uncommitted changes), or empty."""
        return str(self.environment.get("git_commit") or "")

    def calibration_gflops(self, backend: str, device: str) -> float | None:
        """The calibration matmul's GFLOP/s measured for ``backend`` on ``device``, if any."""
        for c in self.calibration:
            if c.get("backend") == backend and c.get("device") == device and c.get("matmul_gflops"):
                return float(c["matmul_gflops"])
        return None

    def to_json(self) -> dict[str, Any]:
        """The JSON object to write, fields in their fixed order (``resumes`` only when there are any)."""
        out: dict[str, Any] = {"format": FORMAT_VERSION}
        for key in _FIELDS:
            value = getattr(self, key)
            if key != "format" and not (key == "resumes" and not value):
                out[key] = value
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, meta: Any, path: Path) -> RunMeta:
        """A stored run.json's object; BadInput naming the first field that does not have run.json's shape."""
        def bad(what: str) -> BadInput:
            return BadInput(f"{path}: damaged run.json ({what}); move it away to start a new run here")

        if not isinstance(meta, dict):
            raise bad(f"expected an object, got {type(meta).__name__}")
        version = meta.get("format", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise bad(f"format must be an integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise BadInput(f"{path}: written by a newer rnnbench (run.json format {version}, this one reads up to "
                           f"{FORMAT_VERSION}); upgrade rnnbench to read it")
        for key, kind in _FIELDS.items():
            if key != "format" and meta.get(key) is not None and not isinstance(meta[key], kind):
                raise bad(f"{key} must be {'an' if kind is int else 'a'} {kind.__name__}, got {type(meta[key]).__name__}")
        env = meta.get("environment") or {}
        for key, kind in _ENVIRONMENT.items():
            if env.get(key) is not None and not isinstance(env[key], kind):
                raise bad(f"environment.{key} must be a {kind.__name__}, got {type(env[key]).__name__}")
        if not all(isinstance(g, dict) for g in env.get("gpus") or []):
            raise bad("environment.gpus must be a list of objects")
        for c in meta.get("calibration") or []:
            if not isinstance(c, dict):
                raise bad("calibration must be a list of objects")
            gflops = c.get("matmul_gflops")
            if gflops is not None and (not isinstance(gflops, (int, float)) or isinstance(gflops, bool)
                                       or not math.isfinite(gflops) or gflops <= 0):
                raise bad(f"calibration matmul_gflops must be a positive finite number, got {gflops!r}")
        if not all(isinstance(r, dict) for r in meta.get("resumes") or []):
            raise bad("resumes must be a list of objects")
        empty = {list: list, dict: dict}
        known = {k: meta[k] if meta.get(k) is not None else empty.get(kind, lambda: None)()
                 for k, kind in _FIELDS.items() if k != "format"}
        return cls(**known, format=version, extra={k: v for k, v in meta.items() if k not in _FIELDS})
