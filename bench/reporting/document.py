"""A report as a document: titled sections of Markdown, an image or a note on why the section is
empty, rendered to ``REPORT.md`` and to one self-contained ``index.html`` (the run report's and
history's)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rnnbench.reporting.text import column_display, md_text
from tabulate import tabulate


@dataclass
class Section:
    title: str
    markdown: str = ""
    image: str | None = None  # PNG file name inside the report directory
    note: str | None = None  # why the section is empty


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a GitHub Markdown table, each column's figures in one format (text.column_display)."""
    text = frame.astype(object).apply(lambda column: [md_text(v) for v in column_display(list(column))])
    return tabulate(text, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)


def to_markdown(report: Report) -> str:
    parts = [f"# {report.title}\n"]
    for s in report.sections:
        parts.append(f"## {s.title}\n")
        if s.note:
            parts.append(f"_Left out: {s.note}._\n")
        if s.markdown:
            parts.append(s.markdown + "\n")
        if s.image:
            parts.append(f"![{s.title}]({s.image})\n")
    return "\n".join(parts)


def to_html(report: Report, out: Path) -> str:
    import markdown_it

    # Raw HTML off: Markdown from stored data renders as text, never as markup (data is escaped too).
    md = markdown_it.MarkdownIt("commonmark", {"html": False}).enable("table")
    body = []
    for s in report.sections:
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.note:
            body.append(f"<p><em>Left out: {html.escape(s.note)}.</em></p>")
        if s.markdown:
            body.append(md.render(s.markdown))
        if s.image:
            data = base64.b64encode((out / s.image).read_bytes()).decode()
            body.append(f'<img alt="{html.escape(s.title)}" src="data:image/png;base64,{data}">')
    style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:1em 0}")
    title = html.escape(html.unescape(report.title))  # the title is Markdown-escaped text: entities once, not twice
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{style}</style></head><body><h1>{title}</h1>{''.join(body)}</body></html>\n")
