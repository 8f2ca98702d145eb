"""A fork server: one process that has imported the framework, forking a fresh child per cell.

Most of a small cell's fixed cost is importing the framework (about 2.4 s of TensorFlow and Keras on
this project's 2-core VM, docs/scale.md), paid again by every cell because every cell is a new
interpreter. A fork server pays it once: it starts like a cell process (the same interpreter flags and
environment), imports the framework and the harness's own modules, and then forks one child per cell
request. Isolation is kept where it matters:

* nothing has *run* in the server: no op, no device, no thread pool of the cell's. Imports only. A
  child's thread pools, op determinism, XLA and device set-up happen after the fork, exactly as in a
  spawned cell (bench/cell/backend_setup.py);
* forking copies only the forking thread, so a lock another thread holds at that moment stays held in
  the child. The server refuses to serve (its cells are then spawned) if importing started a Python
  thread, or if a native thread is not asleep. TensorFlow 2.21's import starts one native thread here,
  which sleeps in a futex wait from then on; the child does not have it, and the side-by-side check
  (tests/test_fork_server.py, docs/scale.md) shows that the cells' figures and trained weights do not
  change. Only backends checked that way fork (``FORK_BACKENDS``, bench/config/launch.py);
* each child is a process of its own: its own session (a timeout kills its whole group), its own cores
  (scheduler affinity set in the child before anything runs), its own environment, its log as stdout
  and stderr, and it dies with the server, which dies with the sweep;
* a server serves one environment: everything read at interpreter start or at import (Keras' backend,
  the hash seed, TensorFlow's log level, the device and thread variables) is the same as the spawned
  cell's would be, because the caller keeps one server per distinct environment.

What a fork server cannot give is a fresh address-space layout per process: every child is a copy of
the server's. ``--processes N`` exists to sample what differs between fresh processes, so the caller
spawns those cells (bench/execute/spawner.py).

Protocol: the parent writes one JSON request per line on the server's stdin (``argv`` of
``rnnbench.cell.runner``, ``env``, ``cpus``, ``log``, ``append``); the server answers on its stdout with
``{"pid": N}`` when the child is forked and ``{"exit": CODE}`` (negative: the signal) when it has
ended. It serves one child at a time. ``ready`` (or ``refused: WHY``) is its first line.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from rnnbench.cell.quiet import flush_c_stdio
from rnnbench.execute.resident_pages import resident_file_pages, touch

#: What a cell process imports before it runs anything: the framework (through Keras and the backend's
#: set-up module) and the harness's modules a cell uses.
PRELOAD = ("numpy", "rnnbench.cell.runner", "rnnbench.datasets", "rnnbench.cell.measure", "rnnbench.cell.kernel_probe",
           "rnnbench.models", "rnnbench.models.flops", "keras")
#: a server that is not ready within this many seconds is given up (the caller spawns instead)
START_TIMEOUT_S = 300.0
#: how long the server waits for every other native thread to be asleep before it refuses
SETTLE_S = 2.0


def _busy_native_threads() -> list[str]:
    """This process's other threads (as the kernel sees them: Python's count misses a library's) that are
    not asleep, as "TID (STATE)"."""
    me, busy = str(threading.get_native_id()), []
    for tid in os.listdir("/proc/self/task"):
        if tid == me:
            continue
        try:
            state = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # it ended
        if state != "S":  # S: interruptible sleep, e.g. waiting on a condition variable
            busy.append(f"{tid} ({state})")
    return busy


def _unsafe_to_fork() -> str | None:
    """Why forking now could copy a held lock, or None."""
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        return f"refused: the imports started {threading.active_count() - 1} Python thread(s) ({names})"
    deadline = time.monotonic() + SETTLE_S
    while busy := _busy_native_threads():
        if time.monotonic() > deadline:
            return f"refused: native thread(s) {', '.join(busy)} still running {SETTLE_S:g} s after the imports"
        time.sleep(0.05)
    return None


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a spawned cell, in the child before exec; a
    fork server; a forked cell).

    A cell runs in its own session (so a timeout can kill its whole process group); without this, a
    killed sweep would leave an orphan cell computing on cores the resumed sweep is timing.
    """
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: orphans are possible, timings of a resumed sweep may suffer


def _child(request: dict[str, Any], channel: int, server_pid: int, pages: list) -> None:
    """In the forked child: become the cell process the request describes, run it, and exit.
    ``pages``: the server's resident file pages, read again here so that they count in this child's
    peak resident set as they do in a spawned cell's (bench/execute/resident_pages.py)."""
    code = 1
    try:
        os.close(channel)  # the server's answers are not the child's to write
        os.setsid()
        die_with_parent()
        if os.getppid() != server_pid:  # the server died before the line above: nobody would watch this cell
            os._exit(1)
        if request.get("cpus"):
            os.sched_setaffinity(0, request["cpus"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | (os.O_APPEND if request.get("append") else os.O_TRUNC), 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import rnnbench.cell.runner as runner

        runner.reset_start_clock()  # the child's interpreter start-up is the fork itself
        touch(pages)  # after the clock: part of this cell's start-up, on its own cores
        code = runner.main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child reports everything in its log and exits non-zero
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            flush_c_stdio()
        finally:
            os._exit(code)


def serve() -> int:
    """The server's main loop (``python -P -m rnnbench.execute.fork_server``)."""
    die_with_parent()
    channel = os.dup(1)  # answers go here; the framework's stray prints go to stderr
    os.dup2(2, 1)

    def answer(message: str) -> None:
        os.write(channel, (message + "\n").encode())

    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    if why := _unsafe_to_fork():
        answer(why)
        return 0
    pages = resident_file_pages()
    if not pages:  # its children's peak_rss_mb would miss the framework's library pages: spawn them instead
        answer("refused: the server's resident file pages could not be noted (/proc/self/pagemap), so a forked "
               "cell's peak_rss_mb would not be a spawned one's")
        return 0
    answer("ready")
    for line in sys.stdin:
        request = json.loads(line)
        if why := _unsafe_to_fork():  # a thread that woke up since: this cell is not forked
            answer(why)
            return 0
        sys.stdout.flush()
        sys.stderr.flush()
        server_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            _child(request, channel, server_pid, pages)
        answer(json.dumps({"pid": pid}))
        _, status = os.waitpid(pid, 0)
        answer(json.dumps({"exit": os.waitstatus_to_exitcode(status)}))
    return 0


#: A stderr line that names an error: a traceback's last line ("ValueError: ...", "rnnbench.x.Error: ..."),
#: a fatal error of the interpreter, or the kernel's word on a crash.
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt)\b|Fatal Python error|Segmentation fault|Killed\b)")


def describe_exit(code: int) -> str:
    """A process's exit code in words (negative: the signal that killed it)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class ForkServerError(RuntimeError):
    """The server could not start, refused to serve, or died."""


class ForkRefused(ForkServerError):
    """The server will not fork (a thread it cannot account for): spawn instead."""


class ForkServer:
    """The parent's handle on one fork server, for one environment and one set of cores."""

    def __init__(self, env: dict[str, str], cpus: tuple[int, ...] | None, stderr_path: Path,
                 preexec: Any = None, start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.env = env
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "rnnbench.execute.fork_server"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, env=env, preexec_fn=preexec,
            )
        self._buffer = b""
        first = self._line(start_timeout_s)
        if first != "ready":
            self.close()
            if first and first.startswith("refused"):
                raise ForkRefused(first)
            raise ForkServerError(first or f"no answer within {start_timeout_s:g} s ({self._stderr_tail()})")

    def _stderr_error(self) -> str | None:
        """The last line of the server's stderr that names an error (a traceback's last line, a fatal
        error); None when none does: its last line is then usually a framework's log, no reason at all."""
        try:
            lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return None
        errors = [line.strip() for line in lines if _ERROR_LINE.match(line.strip())]
        return errors[-1] if errors else None

    def _how_it_ended(self) -> str:
        """How the server ended, for a failed cell's row: its exit and the error it printed, if any."""
        code = self.proc.poll()
        how = "ended" if code is None else describe_exit(code)
        error = self._stderr_error()
        return f"{how}; {error}" if error else f"{how}, printing no error (its stderr: {self.stderr_path.name})"

    def _stderr_tail(self) -> str:
        try:
            lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no stderr"
        return lines[-1].strip() if lines else "no stderr"

    def _line(self, timeout_s: float | None) -> str | None:
        """The server's next answer; None when none came within ``timeout_s`` (None: wait) or it has ended."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:  # the server has ended
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def start(self, argv: list[str], env: dict[str, str], cpus: tuple[int, ...] | None, log: Path,
              append: bool) -> int:
        """Fork a child that runs ``rnnbench.cell.runner ARGV``; its pid."""
        try:
            self.proc.stdin.write((json.dumps({"argv": argv, "env": env, "cpus": list(cpus or ()), "log": str(log),
                                               "append": append}) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            raise ForkServerError(f"the fork server is gone ({exc})") from exc
        line = self._line(60.0)
        if line is not None and line.startswith("refused"):
            self.close()
            raise ForkRefused(line)
        return int(self._answer(line, "pid", "did not fork"))

    def _answer(self, line: str | None, key: str, failed: str) -> Any:
        """``key`` of the server's JSON answer ``line``. Anything else (no answer, another answer) means the
        two sides are out of step: the server is stopped, so the next cell cannot read this one's answer."""
        try:
            return json.loads(line)[key]
        except (TypeError, ValueError, KeyError):
            tail = line or self._stderr_tail()
            self.close()
            raise ForkServerError(f"the fork server {failed} ({tail})") from None

    def wait(self, timeout_s: float) -> int | None:
        """The child's exit code (negative: killed by that signal), or None if it is still running after
        ``timeout_s``. ForkServerError if the server died meanwhile."""
        line = self._line(timeout_s)
        if line is not None:
            return int(self._answer(line, "exit", "answered out of step"))
        if not self.alive():
            how = self._how_it_ended()
            self.close()
            raise ForkServerError(f"the fork server died ({how})")
        return None

    def close(self) -> None:
        """Stop the server (a child still running dies with it)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(serve())
