"""Sweep files and command-line lists: a TOML table or a comma-separated override turned into a
checked :class:`~rnnbench.config.spec.SweepSpec`; unknown keys and bad values are one line of bad input."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from rnnbench.config.spec import SweepSpec, closest
from rnnbench.errors import BadInput

_FIELDS = {f.name: f for f in fields(SweepSpec)}


def from_mapping(data: dict[str, Any], base: SweepSpec | None = None, source: str = "sweep") -> SweepSpec:
    """Build a spec from a TOML-like mapping on top of ``base``; unknown keys are rejected by name."""
    if not isinstance(data, dict):
        raise BadInput(f"{source}: expected a table of settings, got {type(data).__name__}")
    unknown = [k for k in data if k not in _FIELDS]
    if unknown:
        k = str(unknown[0])
        raise BadInput(f"{source}: unknown key {k!r}{closest(k, tuple(_FIELDS))}; known keys: {', '.join(_FIELDS)}")
    values = dict(data)
    if "parts" in values and isinstance(values["parts"], list):
        values["parts"] = tuple(values["parts"])
    for name in SweepSpec.AXES:
        if name in values and isinstance(values[name], list):
            values[name] = tuple(values[name])
    return dataclasses.replace(base or SweepSpec(), **values)


def from_toml(path: str | Path, base: SweepSpec | None = None) -> SweepSpec:
    """Read a sweep file; a missing or malformed file raises BadInput naming it and the problem."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise BadInput(f"sweep file {str(p)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"sweep file {str(p)!r} cannot be read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"sweep file {str(p)!r} is not valid TOML: {exc}") from None
    # A [sweep] table is accepted as well as top-level keys, so the file can grow other sections.
    if set(data) == {"sweep"} and isinstance(data["sweep"], dict):
        data = data["sweep"]
    return from_mapping(data, base, source=f"sweep file {str(p)!r}")


def parse_list(text: str, kind: type, name: str) -> tuple[Any, ...]:
    """Parse a comma-separated override (``--maxlen 100,500``) into typed values."""
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise BadInput(f"--{name}: expected a comma-separated list, got {text!r}")
    out = []
    for t in items:
        if kind is bool:
            low = t.lower()
            if low not in ("true", "false", "1", "0", "on", "off"):
                raise BadInput(f"--{name}: expected true or false, got {t!r}")
            out.append(low in ("true", "1", "on"))
        elif kind is int:
            try:
                out.append(int(t))
            except ValueError:
                raise BadInput(f"--{name}: expected integers, got {t!r}") from None
        else:
            out.append(t)
    return tuple(out)
