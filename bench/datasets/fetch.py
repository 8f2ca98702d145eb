"""Downloading a data file safely: streamed, hashed while written, verified before it is put in place.

``fetch(url, dest, sha256)`` writes the response into a temporary file beside ``dest`` (same directory,
so the final step is a link, not a copy across file systems), hashing every block as it is written. Only
when the whole body has arrived and its sha256 is the expected one is the file fsynced and given its
name, with an exclusive create: a file already at ``dest``, or one that appears there meanwhile, is never
overwritten, and nothing but the download's own temporary file is ever removed. Every failure (an HTTP
error status, a refused connection, a timeout, a connection dropped half-way, a wrong hash, a directory
that cannot be written) is one :class:`~rnnbench.errors.BadInput` line naming the URL or the path.

``fetch_imdb`` is the tutorial's data set: Keras' own URL (or ``$RNNBENCH_IMDB_URL``, a mirror) into the
Keras cache the reader looks in, checked against the published sha256 in :mod:`rnnbench.datasets.imdb`.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import socket
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rnnbench.datasets import imdb
from rnnbench.errors import BadInput

#: Where ``keras.datasets.imdb.load_data`` downloads the file from.
DEFAULT_IMDB_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"
#: Environment variable naming a mirror of that file (``--url`` wins over it).
IMDB_URL_ENV = "RNNBENCH_IMDB_URL"
#: Infix of the temporary file's name: ``.imdb.npz.rnnbench-download-XXXXXXXX``.
TEMP_INFIX = ".rnnbench-download-"
BLOCK_SIZE = 1 << 16
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Fetched:
    """What :func:`fetch` left at ``path``: ``downloaded`` is False when a verified file was already there."""

    path: Path
    size: int
    sha256: str
    downloaded: bool


class _Failed(Exception):
    """One line describing why the transfer failed (turned into BadInput naming the URL)."""


def _line(text: object) -> str:
    return " ".join(str(text).split())


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _network_problem(exc: BaseException, timeout: float) -> str:
    """A short description of a network-side exception from urllib or http.client."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP error {exc.code} {_line(exc.reason)}".rstrip()
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, BaseException):
            return _network_problem(reason, timeout)
        return _line(reason)
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return f"timed out (no data for {timeout:g} s)"
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection dropped half-way (IncompleteRead: {len(exc.partial)} bytes read, more expected)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"host not found ({_line(exc.strerror or exc)}; no network, or a mirror is needed: --url or ${IMDB_URL_ENV})"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return f"connection dropped half-way ({type(exc).__name__}: {_line(exc.strerror or exc)})"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {_line(exc.strerror or exc)}"
    return f"{type(exc).__name__}: {_line(exc)}"


def _existing(dest: Path, sha256: str) -> Fetched | None:
    """None if nothing is at ``dest``; the verified file if it is the expected one; else BadInput."""
    if not os.path.lexists(dest):
        return None
    if not dest.is_file():
        raise BadInput(f"{str(dest)!r} already exists and is not a regular file; it was left untouched: "
                       "move it away or choose another destination (--dest)")
    try:
        digest = imdb.file_sha256(dest)
        size = dest.stat().st_size
    except OSError as exc:
        raise BadInput(f"{str(dest)!r} already exists but cannot be read ({_line(exc.strerror or exc)}); "
                       "it was left untouched") from None
    if digest != sha256:
        raise BadInput(f"{str(dest)!r} already exists with sha256 {digest}, not the expected {sha256}; "
                       "it was left untouched: move it away or choose another destination (--dest)")
    return Fetched(dest, size, digest, downloaded=False)


def _place(tmp: Path, dest: Path) -> None:
    """Give the finished temporary file the name ``dest``, failing if anything is there already.

    A hard link is atomic and exclusive; where the file system has none, an ``O_EXCL`` create and a copy
    (removed again, as ours, if the copy fails).
    """
    try:
        os.link(tmp, dest)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _file_mode())
    try:
        with os.fdopen(fd, "wb") as out, open(tmp, "rb") as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        dest.unlink(missing_ok=True)  # the file we just created exclusively, half written
        raise


def _progress_bar(enabled: bool, total: int | None, label: str):
    """A rich progress bar on stderr (a no-op when disabled or stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    show = enabled and sys.stderr.isatty()
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=Console(file=sys.stderr), disable=not show, transient=True)
    return bar, bar.add_task(label, total=total)


#: The longest silence a download may be given (a day): beyond it the socket layer overflows.
MAX_TIMEOUT_S = 86_400.0


def fetch(url: str, dest: str | os.PathLike, sha256: str, *, timeout: float = DEFAULT_TIMEOUT,
          progress: bool = True) -> Fetched:
    """Download ``url`` to ``dest`` if, and only if, its sha256 is ``sha256``; return what is at ``dest``.

    - A file already at ``dest`` is never touched: with the expected hash it is returned as it is
      (``downloaded=False``, no request made), with another hash, or not a regular file, BadInput.
    - The body is streamed in blocks into ``.<name>.rnnbench-download-XXXX`` in ``dest``'s directory
      (created when missing), hashed while written, with a rich progress bar on stderr when ``progress``
      is true and stderr is a terminal.
    - The hash is checked before the file is used or named; then it is fsynced and linked to ``dest``
      exclusively, so a file that appeared meanwhile is not clobbered either.
    - ``timeout`` is the seconds the connection may stay silent (connecting, or between two blocks).
    - Every failure is one BadInput line naming the URL (or the path) and the problem; only the
      download's own temporary file is removed, whatever happened.
    """
    dest = Path(dest).expanduser()
    sha256 = sha256.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise BadInput(f"expected sha256 must be 64 hexadecimal digits, got {sha256!r}")
    if not 0 < timeout <= MAX_TIMEOUT_S:  # also NaN and inf, which the socket layer cannot take
        raise BadInput(f"the timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}, got {timeout!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):  # a CR/LF would also split the error message in two
        raise BadInput(f"cannot download {url!r}: the URL holds control characters")
    try:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise BadInput(f"cannot download {url!r}: not a valid URL ({exc})") from None
    if scheme not in ("http", "https"):
        raise BadInput(f"cannot download {url!r}: only http:// and https:// URLs are supported")
    present = _existing(dest, sha256)
    if present is not None:
        return present
    created: list[Path] = []  # directories this call made, outermost first: removed again (if empty) on failure
    try:
        _make_dirs(dest.parent, created)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}{TEMP_INFIX}")
    except OSError as exc:
        _remove_dirs(created)
        raise BadInput(f"cannot write the download into {str(dest.parent)!r}: {_line(exc.strerror or exc)}") from None
    tmp = Path(tmp_name)
    placed = False
    try:
        try:
            os.fchmod(fd, _file_mode())
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            size, digest = _download(url, f, timeout, progress, dest.name)
            if digest != sha256:
                raise BadInput(f"download of {url} has sha256 {digest} ({size:,} bytes), not the expected {sha256}; "
                               f"it was discarded and nothing was written to {str(dest)!r}")
            f.flush()
            os.fsync(f.fileno())
        try:
            _place(tmp, dest)
        except FileExistsError:
            raise BadInput(f"{str(dest)!r} appeared while {url} was downloading; it was left untouched and the "
                           "download discarded") from None
        placed = True
        _fsync_dir(dest.parent)
    except OSError as exc:  # our side: a full disk, a file system that refuses the write
        where = exc.filename or tmp
        raise BadInput(f"cannot write the download of {url} to {str(where)!r}: {_line(exc.strerror or exc)}") from None
    finally:
        tmp.unlink(missing_ok=True)  # our temporary file only; after a link, dest keeps the data
        if not placed:
            _remove_dirs(created)
    return Fetched(dest, size, digest, downloaded=True)


def _make_dirs(path: Path, created: list[Path]) -> None:
    """``mkdir -p path``, appending to ``created`` each directory made here (not one made meanwhile by another)."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        created.append(d)


def _remove_dirs(created: list[Path]) -> None:
    """Remove the directories ``_make_dirs`` made, innermost first, while they are empty."""
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            return


def _download(url: str, out, timeout: float, progress: bool, label: str) -> tuple[int, str]:
    """Stream ``url``'s body into ``out`` hashing it; return (bytes, sha256). BadInput on any network failure."""
    h = hashlib.sha256()
    size = 0
    expected: int | None = None
    request = urllib.request.Request(url, headers={"User-Agent": "rnnbench", "Accept-Encoding": "identity"})
    try:
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()
            raise _Failed(_network_problem(exc, timeout)) from None
        with response:
            length = response.headers.get("Content-Length")
            if length is not None and length.strip().isdigit() and len(length.strip()) <= 18:  # int's digit limit
                expected = int(length)
            bar, task = _progress_bar(progress, expected, label)
            with bar:
                while True:
                    try:
                        block = response.read(BLOCK_SIZE)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Failed(_network_problem(exc, timeout)) from None
                    if not block:
                        break
                    out.write(block)  # an OSError here is ours (disk), reported by the caller
                    h.update(block)
                    size += len(block)
                    bar.advance(task, len(block))
    except _Failed as exc:
        raise BadInput(f"download of {url} failed after {size:,} bytes: {exc}" if size else
                       f"download of {url} failed: {exc}") from None
    if expected is not None and size < expected:
        raise BadInput(f"download of {url} failed: connection dropped half-way ({size:,} of {expected:,} bytes received)")
    return size, h.hexdigest()


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def imdb_url(url: str | None = None) -> str:
    """``url`` if given, else ``$RNNBENCH_IMDB_URL``, else Keras' own URL."""
    return url or os.environ.get(IMDB_URL_ENV) or DEFAULT_IMDB_URL


def imdb_dest(dest: str | os.PathLike | None = None) -> Path:
    """Where ``fetch_imdb`` puts the file.

    ``dest`` if given (a directory means ``dest/imdb.npz``); else the file ``$RNNBENCH_IMDB_PATH`` names
    when it exists (it is the one the reader would read: it is verified, never replaced); else the Keras
    cache, ``$KERAS_HOME/datasets/imdb.npz``. ``$RNNBENCH_IMDB_PATH`` naming a missing file is BadInput:
    the reader would not look anywhere else, so a download into the cache would not be read.
    """
    keras_cache = imdb.candidate_paths()[-1]
    if dest is not None:
        p = Path(dest).expanduser()
        return p / imdb.FILE_NAME if p.is_dir() else p
    named = os.environ.get("RNNBENCH_IMDB_PATH")
    if named:
        p = Path(named).expanduser()
        if not p.is_file():
            raise BadInput(f"RNNBENCH_IMDB_PATH names {named!r}, which is not a file; pass --dest {named} to download "
                           f"it there, or unset RNNBENCH_IMDB_PATH to download into {keras_cache}")
        return p
    return keras_cache


def fetch_imdb(url: str | None = None, dest: str | os.PathLike | None = None, *, timeout: float = DEFAULT_TIMEOUT,
               progress: bool = True) -> Fetched:
    """Download the tutorial's ``imdb.npz`` (see :func:`imdb_url`, :func:`imdb_dest`), verified against the
    published sha256 (``imdb.SHA256``), with :func:`fetch`'s guarantees."""
    return fetch(imdb_url(url), imdb_dest(dest), imdb.SHA256, timeout=timeout, progress=progress)
