"""Text from data, written once: the display format of every figure (reports, terminal tables,
verdicts), and the escaping every Markdown table of data needs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def display(value: object) -> str:
    """A value as every table shows it: counts as integers (separators from 10,000), figures from 100 as
    integers with separators, from 10 to 3 significant digits, below 10 to 3 decimals; booleans as
    ``true``/``false``; empty for unmeasured (None, NaN); anything else as its text."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)


def _finite_float(value: object) -> bool:
    return isinstance(value, (float, np.floating)) and bool(np.isfinite(value))


def column_display(values: Sequence[object]) -> list[str]:
    """The values of one table column, every figure in it with one number format: as many decimals as
    give its smallest non-zero figure 3 significant digits (none from 100 up, at most 4), separators from
    1,000. A column of ``18``, ``10.9``, ``7.575`` reads ``18.00``, ``10.90``, ``7.58``: aligned, and one
    precision for the reader. Counts, flags, text and unmeasured values are shown as :func:`display` shows them.
    The terminal, REPORT.md and index.html all format their single-metric tables through this."""
    nonzero = [abs(float(v)) for v in values if _finite_float(v) and v != 0]
    if not nonzero:
        return [display(v) for v in values]
    smallest = min(nonzero)
    decimals = 0 if smallest >= 100 else min(4, max(0, 2 - math.floor(math.log10(smallest))))
    return [f"{float(v):,.{decimals}f}" if _finite_float(v) else display(v) for v in values]


def md_text(value: object) -> str:
    """Text from data, safe in Markdown and in the HTML rendered from it: ``&``, ``<`` and ``>`` become
    entities (no tag from a host name or an error message can reach a browser), and ``|`` and line breaks,
    which would split a table's columns and rows and hide the end of an error, are escaped or flattened;
    so are ``[`` and ``]``, so no link or image syntax survives."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Brackets escaped too: a link or image written into an error message stays text (the page opens offline).
    text = text.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
    return " ".join(text.splitlines())
