"""Native stdio: silencing TensorFlow's native start-up logging in commands that import it in the parent
process, and flushing C stdio buffers before a process ends with ``os._exit``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block.

    TensorFlow's C++ logging (oneDNN notices, "could not find cuda drivers") goes straight to fd 2 and
    ignores TF_CPP_MIN_LOG_LEVEL before absl is initialised; Python's sys.stderr is untouched.
    """
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def flush_c_stdio() -> None:
    """Flush C stdio buffers (a library's printf to the log): ``os._exit`` would drop them."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
