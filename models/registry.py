"""The model registry: frozen specs, a registering decorator, lookup by name or fnmatch pattern.

Modelled on timm's registry: an entry is a small builder function plus a frozen :class:`ModelSpec`;
``list_models`` filters with fnmatch patterns; unknown names fail with the known ones listed. Nothing
here imports Keras, so the sweep planner can validate names without paying TensorFlow's import.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: Kernels a recurrent layer can run on. ``cudnn`` and ``generic`` map to ``use_cudnn=True/False``;
#: "auto" is never used, so a cell never silently runs on a kernel other than the one it names.
KERNELS = ("generic", "cudnn")

Builder = Callable[..., Any]


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one architecture, without building it."""

    name: str
    arch: str
    kernels: tuple[str, ...]
    description: str
    defaults: Mapping[str, Any]
    builder: Builder = field(repr=False, compare=False)
    #: kernel -> why this entry cannot run on it although its layers have that kernel
    #: (e.g. recurrent dropout has no cuDNN implementation). The sweep keeps such cells as skipped rows.
    unsupported: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.kernels) - set(KERNELS)
        if unknown:
            raise ValueError(f"model {self.name!r}: unknown kernel(s) {sorted(unknown)}; known: {list(KERNELS)}")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "unsupported", MappingProxyType(dict(self.unsupported)))


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    arch: str,
    kernels: tuple[str, ...] = ("generic",),
    description: str,
    unsupported: Mapping[str, str] | None = None,
    **defaults: Any,
) -> Callable[[Builder], Builder]:
    """Register ``builder`` under ``name``; ``defaults`` are its hyper-parameters (overridable)."""

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name, arch, tuple(kernels), description, defaults, builder, unsupported or {})
        return builder

    return decorate


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(*patterns: str) -> list[str]:
    """Registered names matching any fnmatch pattern (all when none), in natural sort order."""
    names = sorted(_REGISTRY, key=_natural_key)
    if not patterns:
        return names
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def unknown_model_message(name: str) -> str:
    """One line naming the unknown model, the closest known name and the known ones."""
    close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown model {name!r}{hint}; known models: {', '.join(list_models())}"


def get_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``; KeyError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(unknown_model_message(name)) from None


def create_model(name: str, kernel: str = "generic", maxlen: int | None = None, **overrides: Any) -> Any:
    """Build the uncompiled Keras model ``name`` on ``kernel``.

    ``maxlen`` fixes the input length (None: variable length); ``overrides`` replace the spec's default
    hyper-parameters and must name existing ones.
    """
    spec = get_spec(name)
    if kernel not in spec.kernels:
        raise ValueError(f"model {name!r} has no kernel {kernel!r}; it has: {', '.join(spec.kernels)}")
    if kernel in spec.unsupported:
        raise ValueError(f"model {name!r} cannot run on kernel {kernel!r}: {spec.unsupported[kernel]}")
    bad = set(overrides) - set(spec.defaults)
    if bad:
        raise TypeError(f"model {name!r} has no hyper-parameter(s) {sorted(bad)}; it has: {sorted(spec.defaults)}")
    params = {**spec.defaults, **overrides}
    return spec.builder(kernel=kernel, maxlen=maxlen, **params)
