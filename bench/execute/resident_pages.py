"""The file pages a fork server has resident, so that its forked children count them as a spawned cell does.

A spawned cell's ``peak_rss_mb`` (its peak resident set, ``VmHWM``) includes every page of the
framework's shared libraries that its own import touched. A forked child inherits the server's
anonymous memory with its page tables, but Linux does not copy the page-table entries of read-only file
mappings on fork (the child faults them in again when it touches them): the library pages the server's
import touched are not in the child's resident set until the child itself uses them. Its peak then read
about 0.6x a spawned cell's (docs/scale.md, "Fork server").

So the server notes which pages of its private, readable mappings of regular files are resident
(``/proc/self/pagemap``, bit 63: present) once its imports are done, and each child faults the same
pages in before its cell starts: ``madvise(MADV_POPULATE_READ)`` over each run of them (Linux 5.14+),
else a read of them through ``/proc/self/mem``. Neither raises a signal where a page cannot be read (a
file that shrank since): the call fails and the run is skipped. The child's resident set then starts
where a spawned cell's stands after the same imports, and its peak means the same thing; it costs the
child a few tens of milliseconds of its start-up. Linux only: elsewhere nothing is noted.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PRESENT = np.uint64(1 << 63)
MADV_POPULATE_READ = 22  # linux/mman.h, since Linux 5.14


def _file_mappings() -> list[tuple[int, int]]:
    """(start, end) of this process's private readable mappings of regular files: the shared libraries'
    code and read-only data. Shared mappings, devices, [vdso] and the like, and deleted files are left out."""
    spans = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) < 6 or not fields[1].startswith("r") or fields[1][3] != "p" or fields[4] == "0":
                continue
            path = fields[5].strip()
            try:
                if not path.startswith("/") or not stat.S_ISREG(os.stat(path).st_mode):
                    continue
            except OSError:
                continue  # deleted or replaced since it was mapped
            start, end = (int(x, 16) for x in fields[0].split("-"))
            spans.append((start, end))
    return spans


def resident_file_pages() -> list[tuple[int, int]]:
    """The runs of this process's resident pages in those mappings, as (address, bytes); empty where
    /proc cannot tell (not Linux, or no pagemap)."""
    if sys.platform != "linux":
        return []
    try:
        spans = _file_mappings()
        pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return []
    runs = []
    try:
        for start, end in spans:
            try:
                raw = os.pread(pagemap, (end - start) // PAGE * 8, start // PAGE * 8)
            except OSError:
                continue  # this mapping only
            present = (np.frombuffer(raw, dtype=np.uint64) & _PRESENT) != 0
            # Runs of present pages: where the flag switches on and off.
            edges = np.flatnonzero(np.diff(np.concatenate(([False], present, [False])).astype(np.int8)))
            runs.extend((start + int(a) * PAGE, int(b - a) * PAGE) for a, b in zip(edges[::2], edges[1::2], strict=True))
    finally:
        os.close(pagemap)
    return runs


def touch(runs: list[tuple[int, int]]) -> int:
    """Fault the pages of ``runs`` (noted by this process's parent before it forked: the same addresses)
    into this process's resident set; the bytes brought in (a run that cannot be read is skipped)."""
    if not runs:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    done, mem = 0, None
    try:
        for start, size in runs:
            if libc.madvise(start, size, MADV_POPULATE_READ) == 0:
                done += size
                continue
            if ctypes.get_errno() != errno.EINVAL:  # a kernel before 5.14; anything else: this run cannot be read
                continue
            if mem is None:
                mem = os.open("/proc/self/mem", os.O_RDONLY)
            try:
                os.pread(mem, size, start)  # reading through /proc/self/mem faults the pages in; EIO, not SIGBUS
                done += size
            except OSError:
                continue
    finally:
        if mem is not None:
            os.close(mem)
    return done
