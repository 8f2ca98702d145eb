"""Every sweep setting, declared once: its TOML key, flag, type, help, whether it is part of a cell's
identity, and the ``cells.csv`` column that records it.

The command line's options and override table (bench/cli/) and the README's settings table are
generated from :data:`SETTINGS`; the defaults are :class:`~rnnbench.config.spec.SweepSpec`'s, and tests keep
the three in step (every spec field declared once, every identity setting a ``Cell`` field and a column).
``python -m rnnbench.config.settings`` prints the README's table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str  # the SweepSpec field and TOML key
    flag: str  # the command-line option
    kind: type  # the type of one value
    help: str
    axis: bool = False  # a list; the grid is the product of the axes
    listed: bool = False  # a comma-separated list on the command line that is not an axis
    samples: bool = False  # a sample count that also accepts "all"
    metavar: str | None = None
    aliases: tuple[str, ...] = ()  # older spellings of the flag, still accepted
    column: str | None = None  # the cells.csv column that records it
    identity: bool = False  # part of a cell's identity (its cell_id)
    unset: str = ""  # what leaving it unset (None) means

    def text(self, value: object) -> str:
        """One value as the command line spells it (``true``, ``all``, ``1.5``)."""
        if value is None and self.samples:
            return "all"
        if isinstance(value, bool):
            return str(value).lower()
        return f"{value:g}" if isinstance(value, float) else str(value)


SETTINGS: tuple[Setting, ...] = (
    Setting("models", "--models", str, "fnmatch patterns over the registry, e.g. 'lstm*,gru'", axis=True, column="model", identity=True),
    Setting("kernels", "--kernels", str, "generic, cudnn", axis=True, column="kernel", identity=True),
    Setting("maxlen", "--maxlen", int, "sequence lengths, e.g. 100,500", axis=True, column="maxlen", identity=True),
    Setting("batch_size", "--batch-size", int, "batch sizes, e.g. 32,128", axis=True, column="batch_size", identity=True),
    Setting("devices", "--devices", str, "cpu, gpu, gpu:N", axis=True, column="device", identity=True),
    Setting("jit_compile", "--jit-compile", bool, "XLA compilation: false,true", axis=True, aliases=("--jit",),
            column="jit_compile", identity=True),
    Setting("backends", "--backends", str, "Keras backends: tensorflow, jax, torch", axis=True, column="backend", identity=True),
    Setting("seeds", "--seeds", int, "seeds, e.g. 0,1,2", axis=True, column="seed", identity=True),
    Setting("units", "--units", int, "recurrent units per layer, e.g. 32,128,512 (the tutorial: 32)", axis=True,
            column="units", identity=True),
    Setting("epochs", "--epochs", int, "training epochs per cell (0: speed only)", column="epochs", identity=True),
    Setting("dataset", "--dataset", str, "data set name (see 'rnnbench data list') or a .csv/.tsv/.jsonl file of labelled texts",
            metavar="NAME|FILE", column="dataset", identity=True),
    Setting("text_column", "--text-column", str, "a data file's text column (JSON Lines: field)", metavar="NAME"),
    Setting("label_column", "--label-column", str, "a data file's integer label column (JSON Lines: field)", metavar="NAME"),
    Setting("train_samples", "--train-samples", int, "use the first N training samples, or all", samples=True,
            metavar="N|all", column="train_samples", identity=True, unset="all"),
    Setting("test_samples", "--test-samples", int, "use the first N test samples, or all", samples=True,
            metavar="N|all", column="test_samples", identity=True, unset="all"),
    Setting("speed_target_s", "--speed-target", float, "seconds of timed training steps per cell", metavar="S",
            column="speed_target_s", identity=True),
    Setting("timeout_s", "--timeout", float, "seconds before a cell is killed and recorded as failed", metavar="S"),
    Setting("memory_limit_mb", "--memory-limit", float, "kill a cell whose resident memory exceeds MB", metavar="MB",
            unset="80% of RAM"),
    Setting("threads", "--threads", int, "framework threads per cell", metavar="N", column="threads",
            unset="one per --cpus core, else every usable core"),
    Setting("cpus", "--cpus", int, "cores every cell process is confined to, e.g. 1 or 0,1", listed=True, metavar="LIST",
            column="cpus", unset="every usable core"),
    Setting("processes", "--processes", int, "independent processes timing each cell's speed, pooled", metavar="N",
            column="processes"),
    Setting("max_cells", "--max-cells", int, "refuse a sweep of more than N cells", metavar="N"),
    Setting("parallel", "--parallel", int, "cells run at once, each on its own cores (and GPU); 1: one at a time",
            metavar="N"),
    Setting("launch", "--launch", str, "how a TensorFlow CPU cell's process starts: fork (the default; from a server "
            "that imported the framework: ~2.3 s less per cell, the same figures) or spawn (a new interpreter); "
            "--processes N > 1 always spawns", metavar="fork|spawn", column="launch"),
    Setting("executor", "--executor", str, "where cells run: local (this machine) or ray (Ray tasks on a cluster; "
            "pip install 'rnnbench[ray]')", metavar="local|ray"),
    Setting("ray_address", "--ray-address", str, "with --executor ray: the cluster to use, e.g. auto or HOST:6379",
            metavar="ADDR", unset="a local Ray instance for the run"),
)

BY_NAME = {s.name: s for s in SETTINGS}
#: The settings that make a cell's identity (its cell_id): each one's column is also its ``Cell`` field.
IDENTITY_SETTINGS = tuple(s for s in SETTINGS if s.identity)


def markdown_table() -> str:
    """The README's settings table."""
    from rnnbench.config.spec import SweepSpec

    default = SweepSpec()
    lines = ["| TOML key | flag | what | default | part of `cell_id` | `cells.csv` column |",
             "| --- | --- | --- | --- | --- | --- |"]
    for s in SETTINGS:
        value = getattr(default, s.name)
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else s.unset if value is None else str(value)
        flags = ", ".join(f"`{f}`" for f in (s.flag, *s.aliases))
        text = s.help.replace("|", "\\|")
        lines.append(f"| `{s.name}` | {flags} | {text} | {shown.lower() if s.kind is bool else shown} | "
                     f"{'yes' if s.identity else ''} | {f'`{s.column}`' if s.column else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import contextlib
    import os
    import sys

    with contextlib.suppress(BrokenPipeError):  # `| head` closes the pipe: no traceback for that
        print(markdown_table(), flush=True)
        sys.exit(0)
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
