"""rnnbench: a benchmark and model-comparison harness for recurrent networks.

The public API, for scripts and notebooks (the ``rnnbench`` command is ``rnnbench.cli``)::

    from rnnbench import SweepSpec, run_sweep, load_run, compare_runs
    spec = SweepSpec(models=("lstm", "gru"), maxlen=(100,), epochs=2)
    run_sweep(spec, "runs/mine")
    comparison = compare_runs(load_run("runs/base"), load_run("runs/mine"))
    print(comparison.to_markdown(), len(comparison.regressions))

- :class:`SweepSpec`: what to run (every axis and setting; ``rnnbench.config.spec``).
- :func:`run_sweep`: runs a spec's cells, each in its own process, into a run directory.
- :func:`load_run`: a run directory's typed rows and metadata (``rnnbench.storage.store``).
- :func:`compare_runs`: the regression verdict of one run against a baseline (``rnnbench.verdict``).
- :func:`create_model`, :func:`list_models`, :func:`register_model`, :func:`get_spec`: the registry.

The names are resolved on first use, so importing the package (as every cell's process does) loads
none of the harness's modules and no framework.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it.
_EXPORTS = {
    "SweepSpec": "rnnbench.config.spec",
    "Cell": "rnnbench.config.spec",
    "run_sweep": "rnnbench.execute.sweep",
    "load_run": "rnnbench.storage.store",
    "compare_runs": "rnnbench.verdict.compare",
    "create_model": "rnnbench.models",
    "list_models": "rnnbench.models",
    "register_model": "rnnbench.models",
    "get_spec": "rnnbench.models",
    "BadInput": "rnnbench.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rnnbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
