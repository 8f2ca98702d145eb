"""The run directory: the only code that writes ``run.json``, ``cells.csv``, ``epochs.csv``, ``steps.csv``.

Durability rules, so that a kill at any moment loses at most the cell in flight:

* ``cells.csv`` is the commit record. It is rewritten whole for every finished cell, into a temporary
  file that is fsynced and renamed over the old one, so it is always either the old or the new table.
* ``epochs.csv`` and ``steps.csv`` (long form, possibly large) are appended to, one fsynced write per
  cell, *before* the cell's row is committed. Rows whose cell is not committed as ``ok`` (a kill came
  between the two writes) or that belong to a cell about to be rerun are dropped when a sweep opens
  the directory; a torn last line is detected and cut off then too.
* A lock file keeps a second sweep out of a directory in use; the lock dies with its process.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from bench.atomic import atomic_write
from bench.errors import BadInput
from bench.schema import CELL_COLUMNS, CELL_CORE_COLUMNS, EPOCH_COLUMNS, STATUSES, STEP_COLUMNS

CELLS, EPOCHS, STEPS, RUN_JSON, LOCK = "cells.csv", "epochs.csv", "steps.csv", "run.json", ".rnnbench.lock"


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
    required = CELL_CORE_COLUMNS if tuple(columns) == CELL_COLUMNS else tuple(columns)
    if tuple(header[: len(required)]) != required:
        raise BadInput(f"{path}: damaged or not an rnnbench file (header does not start with {', '.join(columns[:3])}, ...)")
    rows = []
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(header):
            raise BadInput(f"{path}: damaged at line {number} ({len(fields)} fields, expected {len(header)})")
        rows.append(dict(zip(header, fields, strict=False)))
    return rows


class RunStore:
    """An open run directory, locked for one sweep. Use as a context manager."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.dir = Path(run_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise BadInput(f"run directory {str(self.dir)!r} exists and is not a directory")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(self.dir / LOCK)
        self.rows: dict[str, dict[str, Any]] = {}

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
            for row in rows:
                if row["status"] not in STATUSES:
                    raise BadInput(f"{self.cells_path}: damaged row for cell {row['cell_id']!r} (status {row['status']!r})")
                self.rows[row["cell_id"]] = row

    def status(self, cell_id: str) -> str | None:
        row = self.rows.get(cell_id)
        return row["status"] if row else None

    def prepare(self, rerun: set[str]) -> None:
        """Before a sweep: drop long-form rows of cells not committed ok, or about to be rerun."""
        keep = {cid for cid, row in self.rows.items() if row["status"] == "ok" and cid not in rerun}
        for name, columns in ((EPOCHS, EPOCH_COLUMNS), (STEPS, STEP_COLUMNS)):
            path = self.dir / name
            if not path.exists():
                continue
            rows = read_table(path, columns, repair_tail=True)
            kept = [r for r in rows if r["cell_id"] in keep]
            if len(kept) != len(rows) or not path.read_text().endswith("\n"):
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
        atomic_write_text(self.cells_path, _csv_text(CELL_COLUMNS, self.rows.values()))

    def record(self, row: dict[str, Any], epochs: list[dict[str, Any]] = (), steps: list[dict[str, Any]] = ()) -> None:
        """Commit one finished cell: long-form rows first, then its row in cells.csv."""
        cid = row["cell_id"]
        self._append(EPOCHS, EPOCH_COLUMNS, [{"cell_id": cid, **e} for e in epochs])
        self._append(STEPS, STEP_COLUMNS, [{"cell_id": cid, **s} for s in steps])
        self.rows[cid] = {c: format_value(row.get(c)) for c in CELL_COLUMNS}
        self._write_cells()

    def write_run_json(self, payload: dict[str, Any]) -> None:
        atomic_write_text(self.dir / RUN_JSON, json.dumps(payload, indent=2, default=str) + "\n")

    def read_run_json(self) -> dict[str, Any] | None:
        path = self.dir / RUN_JSON
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (ValueError, OSError) as exc:
            raise BadInput(f"{path}: damaged run.json ({exc}); move it away to start a new run here") from None
