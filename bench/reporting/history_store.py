"""The gate's history folder (``rnnbench gate --history DIR``): one entry per gate run, copied whole
or not at all, in a folder that is rnnbench's own; ``rnnbench history DIR`` reads it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from rnnbench.errors import BadInput
from rnnbench.reporting.history import COMMIT_HEX, parse_time
from rnnbench.storage import ownership
from rnnbench.storage.schema import RESULT_FILES
from rnnbench.storage.store import CELLS, load_run


def check_history_dir(history_dir: str | Path, out: str | Path) -> None:
    """Before the gate runs: BadInput for a ``--history`` that cannot hold entries beside its ``--out``."""
    history, out = Path(history_dir), Path(out)
    if history.exists() and not history.is_dir():
        raise BadInput(f"--history {str(history)!r} exists and is not a directory")
    h, o = history.resolve(), out.resolve()
    if h == o or o.is_relative_to(h):
        raise BadInput(f"--out {str(out)!r} is, or lies inside, --history {str(history)!r}: the gate's working directory "
                       "would read as one more entry of the history; choose them apart")
    if (history / CELLS).exists():
        raise BadInput(f"--history {str(history)!r} is a run directory; name a folder to hold one entry per gate")
    if history.is_dir() and not _history_store(history):
        _refuse_foreign_store(history)


def _refuse_foreign_store(history: Path) -> None:
    raise BadInput(f"--history {str(history)!r} is a non-empty folder that rnnbench did not make (no "
                   f"{ownership.MARKER} marker, and not only run directories in it); nothing was written there: "
                   "name a new or empty folder")


def _history_store(folder: Path) -> bool:
    """Whether ``folder`` may take history entries: empty, marked as rnnbench's, or (written before
    markers) holding nothing but run directories."""
    children = [c for c in folder.iterdir() if c.name != ownership.MARKER]
    return ownership.is_ours(folder) or all(c.is_dir() and ownership.is_ours(c) for c in children)


def record_entry(run_dir: str | Path, history_dir: str | Path) -> Path:
    """Copy ``run_dir``'s run.json, cells.csv, steps.csv and epochs.csv into a new entry of ``history_dir``,
    ``<UTC start time>-<short commit>/``, and return it. The entry appears whole or not at all (copied
    into a hidden folder, checked with load_run, then renamed); an entry of the same name gets a suffix."""
    run = load_run(run_dir)
    env = run.meta.environment
    started = parse_time(env.get("started_at")) or parse_time(run.meta.first_started_at) or dt.datetime.now(dt.UTC)
    commit = run.meta.commit
    sha = commit.removesuffix("+dirty")
    short = (sha[:7] if COMMIT_HEX.fullmatch(sha) else "nocommit") + ("-dirty" if commit.endswith("+dirty") else "")
    name = f"{started.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{short}"
    history = Path(history_dir)
    if history.exists() and not history.is_dir():
        raise BadInput(f"--history {str(history)!r} exists and is not a directory")
    if history.is_dir() and any(history.iterdir()):
        if not _history_store(history):
            _refuse_foreign_store(history)
        ownership.mark(history, "history store")  # a store from before markers is marked on first use
    else:
        ownership.claim(history, "history store", flag="--history")
    partial = ownership.fresh_subdir(history / f".{name}.partial-{os.getpid()}", "history entry in the making")
    try:
        for file in RESULT_FILES:
            if (run.path / file).is_file():
                shutil.copy2(run.path / file, partial / file)
        load_run(partial)  # what was copied reads back as a run
        for n in range(1, 1000):
            dest = history / (name if n == 1 else f"{name}-{n}")
            if not dest.exists():
                try:
                    partial.rename(dest)
                except OSError:
                    if dest.exists():
                        continue  # another gate took the name in between
                    raise
                return dest
        raise BadInput(f"{str(history)!r} already holds 999 entries named {name}*")
    finally:
        ownership.remove_own(partial)
