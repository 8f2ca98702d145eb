"""The run directory: the only code that reads and writes ``run.json``, ``cells.csv`` and its long-form files
(``epochs.csv``, ``steps.csv``, ``predictions.csv``).

Reading: :func:`load_run` (every reader: report, compare, gate, the CLI) and :class:`RunStore` (the
sweep that writes). ``run.json`` carries a format version and is checked for types, so a valid JSON
file of the wrong shape is one line of bad input, not an AttributeError far away. CSV files are read
as text and each column converted explicitly by its declared type (bench/storage/schema.py): a ``cell_id``
that looks like a number stays a string. Columns an older file lacks are filled empty; columns a
newer version wrote, unknown here, are kept and written back.

Durability rules, so that a kill at any moment loses at most the cell in flight:

* ``cells.csv`` is the commit record. It is rewritten whole for every finished cell, into a temporary
  file that is fsynced and renamed over the old one, so it is always either the old or the new table.
* ``epochs.csv``, ``steps.csv`` and ``predictions.csv`` (long form, possibly large) are appended to, one fsynced write per
  cell, *before* the cell's row is committed. Rows whose cell is not committed as ``ok`` (a kill came
  between the two writes) or that belong to a cell about to be rerun are dropped when a sweep opens
  the directory; a torn last line is detected and cut off then too.
* A lock file keeps a second sweep out of a directory in use; the lock dies with its process.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout
from rnnbench.errors import BadInput
from rnnbench.storage import ownership
from rnnbench.storage.atomic import atomic_write
from rnnbench.storage.predictions import Predictions, digest
from rnnbench.storage.run_meta import FORMAT_VERSION, RunMeta
from rnnbench.storage.schema import (
    BOOL_COLUMNS,
    CELL_COLUMNS,
    CELL_CORE_COLUMNS,
    CELLS_CSV,
    EPOCH_COLUMNS,
    EPOCHS_CSV,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    PREDICTION_COLUMNS,
    PREDICTIONS_CSV,
    RUN_JSON_FILE,
    STATUSES,
    STEP_COLUMNS,
    STEP_CORE_COLUMNS,
    STEPS_CSV,
)

#: The run directory's files (bench/storage/schema.py declares them with their columns).
CELLS, EPOCHS, STEPS, RUN_JSON, LOCK = CELLS_CSV, EPOCHS_CSV, STEPS_CSV, RUN_JSON_FILE, ".rnnbench.lock"
PREDICTIONS = PREDICTIONS_CSV
#: The long-form files, each with its columns: rows keyed by cell_id, written before the cell's row commits.
LONG_FORM = ((EPOCHS, EPOCH_COLUMNS), (STEPS, STEP_COLUMNS), (PREDICTIONS, PREDICTION_COLUMNS))
#: Held by a command that runs more than one sweep in a directory (gate, ab) for its whole length.
COMMAND_LOCK = ".rnnbench-command.lock"
#: A sweep process's scratch folder in the run directory (its cells' job and result files), named with
#: this prefix and the process id; the clean-up removes only those that carry the harness's marker.
SCRATCH_PREFIX = ".rnnbench-scratch-"

def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers see the old or the new file, never a mix."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def format_value(value: Any) -> str:
    """CSV text for a value: empty for unmeasured, 6 significant digits for floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if value != value else f"{value:.6g}"  # NaN means unmeasured
    return str(value)


def _csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]], header: bool = True) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row.get(c)) for c in columns])
    return buf.getvalue()


def read_table(path: Path, columns: Sequence[str], repair_tail: bool = False) -> list[dict[str, str]]:
    """Rows of a result CSV as dicts of strings; BadInput naming the file and line if damaged.

    With ``repair_tail`` a last line cut short by a kill (no final newline, wrong field count) is
    reported by the caller's rewrite instead of being an error.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    if repair_tail and text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # drop the torn line; the file is rewritten by the caller
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        raise BadInput(f"{path}: empty file, expected a header row")
    header = lines[0]
    required = {CELL_COLUMNS: CELL_CORE_COLUMNS, STEP_COLUMNS: STEP_CORE_COLUMNS}.get(tuple(columns), tuple(columns))
    if tuple(header[: len(required)]) != required:
        raise BadInput(f"{path}: damaged or not an rnnbench file (header does not start with {', '.join(columns[:3])}, ...)")
    rows = []
    missing = [c for c in columns if c not in header]  # extension columns an older version did not write
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(header):
            raise BadInput(f"{path}: damaged at line {number} ({len(fields)} fields, expected {len(header)})")
        rows.append({**dict(zip(header, fields, strict=True)), **dict.fromkeys(missing, "")})
    return rows


def convert(column: str, text: str, where: str) -> Any:
    """A stored value as its column's type (bench/storage/schema.py); ``""`` is None (not measured).

    BadInput names ``where`` (file and cell) when the text is not of the column's type.
    """
    if not isinstance(text, str):
        return text  # already converted (a row load_run gave)
    if text == "" or column not in INT_COLUMNS | FLOAT_COLUMNS | BOOL_COLUMNS:
        return None if text == "" else text
    try:
        if column in BOOL_COLUMNS:
            return {"True": True, "False": False}[text]
        if column in INT_COLUMNS:
            return int(text)
        return float(text)
    except (KeyError, ValueError):
        raise BadInput(f"{where}: damaged value {text!r} in column {column!r}") from None


def typed(row: dict[str, str], where: str) -> dict[str, Any]:
    """Every column of a stored row converted by :func:`convert`."""
    return {column: convert(column, text, where) for column, text in row.items()}


def read_run_json(path: Path) -> RunMeta | None:
    """A checked run.json, or None when there is none."""
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise BadInput(f"{path}: damaged run.json ({exc}); move it away to start a new run here") from None
    return RunMeta.from_json(meta, path)


#: A stored row, each column converted by its declared type (bench/storage/schema.py); None: not measured.
Row = dict[str, Any]


@dataclass
class Run:
    """A run directory as read back: run.json, typed cells by id and epochs, and raw step times."""

    path: Path
    meta: RunMeta
    cells: dict[str, Row]
    #: per cell, each timed step's wall-clock cycle (the gap before it and the step), in stored order;
    #: the steps alone for runs from before gaps were recorded
    steps: dict[str, np.ndarray]
    epochs: list[Row] = field(default_factory=list)
    step_repeats: dict[str, np.ndarray] = field(default_factory=dict)  # the repeat each step time belongs to
    #: per ok cell that evaluated on its test split, each example's predicted class and correctness
    predictions: dict[str, Predictions] = field(default_factory=dict)

    def calibration(self, backend: str, device: str) -> float | None:
        return self.meta.calibration_gflops(backend, device)


def load_run(path: str | Path) -> Run:
    """Read a run directory; BadInput naming the file and what is wrong when it is not a readable run.

    An unknown status or a cell twice is damage, not something to drop or let the last row win; raw
    step times must be finite and positive: a statistic over a NaN decides nothing.
    """
    p = Path(path)
    if not p.is_dir():
        raise BadInput(f"{str(p)!r} is not a run directory (it does not exist)")
    if not (p / CELLS).is_file():
        raise BadInput(f"{str(p)!r} is not a run directory (no cells.csv)")
    meta = read_run_json(p / RUN_JSON) or RunMeta()
    cells: dict[str, Row] = {}
    for number, row in enumerate(read_table(p / CELLS, CELL_COLUMNS), start=2):
        if row["status"] not in STATUSES:
            raise BadInput(f"{p / CELLS}: line {number}: unknown status {row['status']!r} for cell {row['cell_id']!r} "
                           f"(known: {', '.join(STATUSES)})")
        if row["cell_id"] in cells:
            raise BadInput(f"{p / CELLS}: line {number}: cell {row['cell_id']!r} appears twice")
        # Every typed column converts, or it is damage; readers get the typed row, never the text.
        cells[row["cell_id"]] = typed(row, f"{p / CELLS}: line {number}, cell {row['cell_id']!r}")
    steps: dict[str, list[float]] = {}
    gaps: dict[str, list[float]] = {}
    repeats: dict[str, list[int]] = {}
    if (p / STEPS).is_file():
        for r in read_table(p / STEPS, STEP_COLUMNS):
            step_s = _positive_time(r["step_s"])
            if step_s is None or step_s <= 0:
                raise BadInput(f"{p / STEPS}: damaged step time {r['step_s']!r} for cell {r['cell_id']!r}")
            gap_s = _positive_time(r["gap_s"]) if r["gap_s"] else math.nan  # empty: a run from before gaps
            if gap_s is None:
                raise BadInput(f"{p / STEPS}: damaged gap time {r['gap_s']!r} for cell {r['cell_id']!r}")
            steps.setdefault(r["cell_id"], []).append(step_s)
            gaps.setdefault(r["cell_id"], []).append(gap_s)
            repeats.setdefault(r["cell_id"], []).append(convert("repeat", r["repeat"], f"{p / STEPS}, cell {r['cell_id']!r}"))
    # A step's wall-clock cycle is its gap and itself, so a repeat's cycles sum to its wall (the headline
    # throughput's definition); runs from before gaps were recorded have the steps alone.
    cycles = {cid: np.array(v) + (np.array(gaps[cid]) if not np.isnan(gaps[cid]).any() else 0.0) for cid, v in steps.items()}
    epochs = ([typed(r, f"{p / EPOCHS}, cell {r['cell_id']!r}") for r in read_table(p / EPOCHS, EPOCH_COLUMNS)]
              if (p / EPOCHS).is_file() else [])
    return Run(p, meta, cells, cycles, epochs, {k: np.array(v) for k, v in repeats.items()}, _predictions(p, cells))


def _predictions(p: Path, cells: dict[str, Row]) -> dict[str, Predictions]:
    """``predictions.csv`` read back and checked row by row against its cell (bench/storage/predictions.py).

    A row of a cell the table does not hold as ok is what a kill between the two writes leaves: ignored,
    as the next sweep drops it. A cell twice, or a row that does not match its cell's accuracy, is damage.
    """
    found: dict[str, Predictions] = {}
    if not (p / PREDICTIONS).is_file():
        return found
    for number, r in enumerate(read_table(p / PREDICTIONS, PREDICTION_COLUMNS), start=2):
        cid = r["cell_id"]
        cell = cells.get(cid)
        if cell is None or cell["status"] != "ok":
            continue
        where = f"{p / PREDICTIONS}: line {number}, cell {cid!r}"
        if cid in found:
            raise BadInput(f"{where}: the cell's predictions appear twice")
        found[cid] = Predictions.from_row(r, where, cell)
    return found


def _positive_time(text: str) -> float | None:
    """A stored duration in seconds: a finite number >= 0, else None (damage)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


@contextlib.contextmanager
def command_lock(run_dir: Path, command: str, inputs: Sequence[Path | str] = ()):
    """Claim ``run_dir`` for ``command`` (bench/storage/ownership.py: a foreign folder is refused before the lock
    is made, and a refused command leaves nothing behind), then keep a second ``gate`` or ``ab`` out of it
    while this one runs (its sweeps lock the run directory one at a time; between them the A/B's files
    there are in use too)."""
    with ownership.output_dir(run_dir, f"rnnbench {command} output", inputs):
        lock = FileLock(run_dir / COMMAND_LOCK)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise BadInput(f"{str(run_dir)!r} is in use by another rnnbench {command} (lock {COMMAND_LOCK}); "
                           "wait for it or use another --out") from None
        try:
            yield
        finally:
            lock.release()


class RunStore:
    """An open run directory, locked for one sweep. Use as a context manager."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.dir = Path(run_dir)
        # Someone's own folder is refused before anything is written into it (bench/storage/ownership.py).
        ownership.claim(self.dir, "run directory")
        self._lock = FileLock(self.dir / LOCK)
        self.rows: dict[str, dict[str, Any]] = {}
        self.extra_columns: list[str] = []  # columns a newer version wrote: kept, in their order

    def __enter__(self) -> RunStore:
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise BadInput(f"run directory {str(self.dir)!r} is in use by another rnnbench run (lock {LOCK}); wait for it or use another --out") from None
        try:
            self._load()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    @property
    def cells_path(self) -> Path:
        return self.dir / CELLS

    def _load(self) -> None:
        if self.cells_path.exists():
            rows = read_table(self.cells_path, CELL_COLUMNS, repair_tail=True)
            self.extra_columns = [c for c in (rows[0] if rows else {}) if c not in CELL_COLUMNS]
            for row in rows:
                if row["status"] not in STATUSES:
                    raise BadInput(f"{self.cells_path}: damaged row for cell {row['cell_id']!r} (status {row['status']!r})")
                self.rows[row["cell_id"]] = row

    def status(self, cell_id: str) -> str | None:
        row = self.rows.get(cell_id)
        return row["status"] if row else None

    def prepare(self) -> None:
        """Before a sweep: drop long-form rows of cells not committed ok (a kill came between the two writes).

        Rows of cells about to be rerun stay until their new row is committed (:meth:`record`), so an
        interrupted ``--force`` loses nothing of the cells it did not reach.
        """
        keep = {cid for cid, row in self.rows.items() if row["status"] == "ok"}
        for name, columns in LONG_FORM:
            path = self.dir / name
            if not path.exists():
                continue
            rows = read_table(path, columns, repair_tail=True)
            kept = [r for r in rows if r["cell_id"] in keep]
            if name == PREDICTIONS:  # and not a killed rerun's, whose cell row still commits to the old ones
                kept = [r for r in kept if self.rows[r["cell_id"]].get("predictions_digest") in ("", None, digest(r))]
            text = path.read_text()
            # A file an older version wrote lacks the newer columns: rewrite it with them (empty) before
            # appending rows that have them.
            older = tuple(text.partition("\n")[0].strip().split(",")) != tuple(columns)
            if len(kept) != len(rows) or not text.endswith("\n") or older:
                atomic_write_text(path, _csv_text(columns, kept))
        # Rewrite cells.csv too when its tail was torn (read_table already dropped that line).
        if self.cells_path.exists() and not self.cells_path.read_text().endswith("\n"):
            self._write_cells()

    def _append(self, name: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        path = self.dir / name
        new = not path.exists()
        with open(path, "a", newline="") as f:
            f.write(_csv_text(columns, rows, header=new))  # one write: a kill leaves at most a torn tail
            f.flush()
            os.fsync(f.fileno())

    def _write_cells(self) -> None:
        atomic_write_text(self.cells_path, _csv_text(CELL_COLUMNS + tuple(self.extra_columns), self.rows.values()))

    def _replace(self, name: str, columns: Sequence[str], cid: str, rows: list[dict[str, Any]]) -> None:
        """Swap a rerun cell's long-form rows for its new ones in one atomic rewrite of the file."""
        path = self.dir / name
        old = read_table(path, columns) if path.exists() else []
        if not any(r["cell_id"] == cid for r in old):
            self._append(name, columns, rows)
            return
        atomic_write_text(path, _csv_text(columns, [*(r for r in old if r["cell_id"] != cid), *rows]))

    def record(self, row: dict[str, Any], epochs: list[dict[str, Any]] = (), steps: list[dict[str, Any]] = (),
               predictions: list[dict[str, Any]] = ()) -> None:
        """Commit one finished cell: long-form rows first (replacing a rerun cell's old ones, so that a rerun
        without predictions leaves none of the old run's), then its row in cells.csv."""
        cid = row["cell_id"]
        rerun = cid in self.rows
        long_rows = (epochs, steps, predictions)
        for (name, columns), rows in zip(LONG_FORM, long_rows, strict=True):
            rows = [{"cell_id": cid, **r} for r in rows]
            if rerun:
                self._replace(name, columns, cid, rows)
            else:
                self._append(name, columns, rows)
        self.rows[cid] = {c: format_value(row.get(c)) for c in CELL_COLUMNS}
        self._write_cells()

    def write_run_json(self, meta: RunMeta | dict[str, Any]) -> None:
        """Write run.json (a RunMeta, or a plain object as tests and older callers give) atomically."""
        payload = meta.to_json() if isinstance(meta, RunMeta) else meta
        payload = {"format": FORMAT_VERSION, **{k: v for k, v in payload.items() if k != "format"}}
        atomic_write_text(self.dir / RUN_JSON, json.dumps(payload, indent=2, default=str) + "\n")

    def read_run_json(self) -> RunMeta | None:
        return read_run_json(self.dir / RUN_JSON)
