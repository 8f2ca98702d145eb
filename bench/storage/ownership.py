"""Which folders are the harness's own: the one rule every command that writes follows.

A folder is rnnbench's when it holds the marker file (``.rnnbench.json``) that the harness wrote when it
created or first used the folder, or, for run directories written before markers existed, a
``run.json`` that parses as this project's (a JSON object with an integer ``format`` field). A file's
*name* alone never makes a folder ours: a user's folder with a ``run.json`` or a ``cells/`` of its own
is theirs.

The rules (README, "Your files are safe"):

* A command writes only into a folder that is new, empty, or ours; a foreign non-empty folder is
  refused, untouched, before any lock, marker or scratch file is created (:func:`claim`).
* An output folder may not be, contain, or sit inside one of the command's inputs (:func:`claim`'s
  ``inputs``).
* A command deletes only folders it made itself, which carry the marker (:func:`fresh_subdir`,
  :func:`remove_own`); a folder of that name without the marker is refused, not removed.
* A command refused with bad input leaves nothing behind: :func:`output_dir` removes the folders it
  created for that command.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from rnnbench.errors import BadInput
from rnnbench.storage.schema import CELLS_CSV, CELLS_HEADER_START, RUN_JSON_FILE

#: The marker file: JSON ``{"rnnbench": KIND}``, KIND naming what the folder is ("run directory", ...).
MARKER = ".rnnbench.json"

#: Folders written before markers existed, known by the first line of the document the harness wrote
#: there (a report's REPORT.md, a history's HISTORY.md), not by the file's name alone.
_LEGACY_DOCUMENTS = (("REPORT.md", "# rnnbench report"), ("HISTORY.md", "# rnnbench history"),
                     (CELLS_CSV, CELLS_HEADER_START))


def _json_object(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def is_ours(folder: Path) -> bool:
    """Whether ``folder`` is a folder the harness made (module docstring); reading only, never raises."""
    marker = folder / MARKER
    if marker.is_file() and not marker.is_symlink():
        meta = _json_object(marker)
        if meta is not None and isinstance(meta.get("rnnbench"), str):
            return True
    run_json = folder / RUN_JSON_FILE  # the legacy sign of a run directory (its contents are checked)
    if run_json.is_file() and not run_json.is_symlink():
        meta = _json_object(run_json)
        version = None if meta is None else meta.get("format")
        return isinstance(version, int) and not isinstance(version, bool) and version >= 1
    for name, first_line in _LEGACY_DOCUMENTS:
        document = folder / name
        if document.is_file() and not document.is_symlink():
            try:
                with open(document, encoding="utf-8") as f:
                    if f.readline(200).startswith(first_line):
                        return True
            except (OSError, UnicodeDecodeError):
                pass
    return False


def mark(folder: Path, kind: str) -> None:
    """Write the marker into ``folder``, which the caller has found to be the harness's by its own older sign."""
    if not (folder / MARKER).exists():
        (folder / MARKER).write_text(json.dumps({"rnnbench": kind}) + "\n", encoding="utf-8")


def _overlap(out: Path, inputs: Iterable[Path | str]) -> str | None:
    o = out.resolve()
    for given in inputs:
        i = Path(given).resolve()
        if o == i:
            return f"is the input {str(given)!r}"
        if o.is_relative_to(i):
            return f"lies inside the input {str(given)!r}"
        if i.is_relative_to(o):
            return f"contains the input {str(given)!r}"
    return None


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s path that does not exist yet (what creating it creates)."""
    missing = None
    for p in (folder, *folder.parents):
        if p.exists() or p.is_symlink():
            break
        missing = p
    return missing


def claim(out: Path | str, kind: str, inputs: Iterable[Path | str] = (), flag: str = "--out") -> Path | None:
    """Make ``out`` a folder of kind ``kind`` this command may write into, or refuse it (BadInput).

    Returns the outermost folder this call created (None when ``out`` existed), so that a refused
    command can take it away again. Nothing is created when the folder is refused.
    """
    out = Path(out)
    if out.is_symlink() and not out.exists():
        raise BadInput(f"{flag} {str(out)!r} is a symlink to {str(out.readlink())!r}, which does not exist")
    if out.exists() and not out.is_dir():
        raise BadInput(f"{flag} {str(out)!r} exists and is not a directory")
    overlap = _overlap(out, inputs)
    if overlap:
        raise BadInput(f"{flag} {str(out)!r} {overlap}: writing there would mix the output with what is read; "
                       f"choose another {flag}")
    if out.is_dir() and any(out.iterdir()) and not is_ours(out):
        raise BadInput(f"{flag} {str(out)!r} is a non-empty folder that rnnbench did not make (no {MARKER} marker, "
                       f"no run.json of its own); nothing was written there: choose an empty or new {flag}")
    created = _first_missing(out)
    out.mkdir(parents=True, exist_ok=True)
    mark(out, kind)
    return created


@contextlib.contextmanager
def output_dir(out: Path | str, kind: str, inputs: Iterable[Path | str] = (), flag: str = "--out") -> Iterator[Path]:
    """:func:`claim` ``out`` for the length of a command; if the command is refused (BadInput), the
    folders this claim created are removed again, so that a refused command leaves nothing behind."""
    created = claim(out, kind, inputs, flag)
    try:
        yield Path(out)
    except BadInput:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def fresh_subdir(folder: Path, kind: str) -> Path:
    """An empty ``folder`` (inside one of ours), marked as ours: a previous one the harness made is
    removed first; one it did not make is refused, untouched."""
    make_way(folder)
    folder.mkdir(parents=True)
    mark(folder, kind)
    return folder


def own_subdir(folder: Path, kind: str) -> Path:
    """``folder`` (inside one of ours), created and marked if new; one that exists must be the harness's."""
    if not folder.exists() and not folder.is_symlink():
        # Made and marked in a folder of its own, then renamed into place: two slots of one sweep asking at
        # once cannot see it unmarked, and the one that loses the rename takes the winner's.
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.new-"))
        mark(staging, kind)
        try:
            staging.rename(folder)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    if not folder.is_dir() or folder.is_symlink() or not is_ours(folder):
        raise BadInput(f"{str(folder)!r} exists and rnnbench did not make it (no {MARKER} marker); it was left as "
                       "it is: move it away or choose another --out")
    return folder


def make_way(folder: Path) -> None:
    """Clear the way for a subfolder a command writes (now, or only if needed: a flagged cell's second
    A/B): an earlier one of ours is removed, so no stale files stay beside this run's; anything else of
    that name is refused before any work, untouched."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise BadInput(f"{str(folder)!r} exists and is not a folder rnnbench made; it was left as it is: move it away")
    if folder.exists():
        if not is_ours(folder):
            raise BadInput(f"{str(folder)!r} exists and rnnbench did not make it (no {MARKER} marker); it was "
                           "left as it is: move it away or choose another --out")
        shutil.rmtree(folder)


def remove_own(folder: Path) -> bool:
    """Remove ``folder`` if the harness made it (it carries the marker); True when it was removed."""
    if folder.is_dir() and not folder.is_symlink() and (folder / MARKER).is_file() and is_ours(folder):
        shutil.rmtree(folder, ignore_errors=True)
        return True
    return False
