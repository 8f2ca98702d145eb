"""Text from data, written once: the display format of every figure (reports, terminal tables,
verdicts), and the escaping every Markdown table of data needs."""

from __future__ import annotations

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


def md_text(value: object) -> str:
    """Text from data, safe in Markdown and in the HTML rendered from it: ``&``, ``<`` and ``>`` become
    entities (no tag from a host name or an error message can reach a browser), and ``|`` and line breaks,
    which would split a table's columns and rows and hide the end of an error, are escaped or flattened;
    so are ``[`` and ``]``, so no link or image syntax survives."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Brackets escaped too: a link or image written into an error message stays text (the page opens offline).
    text = text.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
    return " ".join(text.splitlines())
