"""The file pages a fork server has resident, so that its forked children count them as a spawned cell does.

A spawned cell's ``peak_rss_mb`` (``ru_maxrss``) includes every page of the framework's shared libraries
that its own import touched. A forked child inherits the server's anonymous memory with its page
tables, but Linux does not copy the page-table entries of read-only file mappings on fork (the child
faults them in again when it touches them): the library pages the server's import touched are not in
the child's resident set until the child itself uses them. Its peak then read about 0.6x a spawned
cell's (docs/scale.md, "Fork server").

So the server notes which pages of its readable file mappings are resident (``/proc/self/pagemap``,
bit 63: present) once its imports are done, and each child reads one byte of each of those pages
before the cell starts. The child's resident set then starts where a spawned cell's stands after the
same imports, and its peak means the same thing. Reading the pages costs the child a few tens of
milliseconds of its start-up; the pages are in memory already (the server holds them), so nothing is
read from disk. Linux only: elsewhere there is nothing to note and nothing is touched.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PRESENT = np.uint64(1 << 63)


def _file_mappings() -> list[tuple[int, int]]:
    """(start, end) of this process's readable mappings of regular files (not devices, not [vdso] and the like)."""
    spans = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) < 6 or not fields[1].startswith("r"):
                continue
            path = fields[5].strip()
            if not path.startswith("/") or path.startswith("/dev/") or path.endswith(" (deleted)") or fields[4] == "0":
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            spans.append((start, end))
    return spans


def resident_file_pages() -> list[tuple[int, np.ndarray]]:
    """Each readable file mapping's start and the offsets of its pages resident in this process now."""
    try:
        spans = _file_mappings()
        pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return []
    resident = []
    try:
        for start, end in spans:
            n = (end - start) // PAGE
            raw = os.pread(pagemap, n * 8, start // PAGE * 8)
            entries = np.frombuffer(raw, dtype=np.uint64)
            offsets = np.flatnonzero(entries & _PRESENT) * PAGE
            if offsets.size:
                resident.append((start, offsets))
    except OSError:
        return []
    finally:
        os.close(pagemap)
    return resident


def touch(pages: list[tuple[int, np.ndarray]]) -> int:
    """Read one byte of each page in ``pages`` (this process's mappings, as noted by its parent before it
    forked: the same addresses); the number of pages read."""
    total = 0
    for start, offsets in pages:
        size = int(offsets[-1]) + 1
        view = np.frombuffer((ctypes.c_char * size).from_address(start), dtype=np.uint8)
        view[offsets].sum()  # the gather reads each page once: a fault maps it into this process
        total += offsets.size
    return total
