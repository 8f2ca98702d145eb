"""Nothing from stored data becomes markup or table structure (issue 12, cases 10 and 11).

A failed cell's error and run.json's host are data: a ``<script>`` or an ``onerror`` in them must show as
text, and a ``|`` or a line break must not split a table's columns or rows (the executor itself joins a
failed cell's log tail with `` | ``).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from rnnbench.cli import main
from rnnbench.reporting import report
from rnnbench.reporting.table import cells_table
from rnnbench.storage.store import RunStore, load_run
from test_compare import _make_run
from test_report import CHROMIUM, _row

SCRIPT = "<script>document.title='pwned-by-error'</script>"
IMG = "<img src=x onerror=\"document.title='pwned-by-host'\">"
ERROR = f"{SCRIPT} | Traceback | line two\nValueError: the last line"


def _hostile_run(path):
    with RunStore(path) as store:
        store.record(_row("lstm"))
        store.record({**_row("gru", status="failed"), "error": ERROR})
        store.write_run_json({"environment": {"host": IMG, "cpu": {"model": "m | x"}, "gpus": []}, "calibration": []})
    return path


def _table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def _columns(line: str) -> int:
    return len(re.split(r"(?<!\\)\|", line)) - 2  # unescaped pipes, less the two borders


def test_report_markdown_and_html_carry_no_markup_from_data(tmp_path):
    out = report.build(_hostile_run(tmp_path / "run"))
    page = (out / "index.html").read_text()
    assert "<script>document" not in page and "<img src=x" not in page
    assert "&lt;script&gt;document.title" in page  # shown, as text
    md = (out / "REPORT.md").read_text()
    assert "<script>" not in md and "<img" not in md
    failed = md.split("## Skipped and failed cells")[1]
    rows = _table_rows(failed)
    assert len({_columns(r) for r in rows}) == 1, rows  # header, rule and the row: one column count
    assert len(rows) == 3 and "line two" in rows[2]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_no_script_from_the_data_runs_in_a_browser(tmp_path):
    out = report.build(_hostile_run(tmp_path / "run"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom",
         (out / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert "<title>rnnbench report: run</title>" in dom, dom[:500]
    assert "pwned" not in dom.split("</title>")[0]


def test_compare_table_keeps_its_columns_with_pipes_and_line_breaks(tmp_path, capsys):
    base = _make_run(tmp_path / "base")
    new = _make_run(tmp_path / "new", status="failed")
    with RunStore(new) as store:
        row = dict(load_run(new).cells["c_lstm"])
        store.record({**row, "error": ERROR})
    assert main(["compare", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    rows = _table_rows(out)
    assert len({_columns(r) for r in rows}) == 1, rows
    assert "<script>" not in out


def test_the_terminal_table_keeps_one_line_per_cell(tmp_path):
    run = _hostile_run(tmp_path / "run")
    with RunStore(run) as store:
        store.record({**_row("simple_rnn", status="failed"), "error": "killed\nby SIGKILL"})
    lines = cells_table(load_run(run).cells.values()).splitlines()
    assert len(lines) == 2 + 3  # header, rule, three cells


def test_the_run_json_host_is_escaped_in_the_report_header(tmp_path):
    out = report.build(_hostile_run(tmp_path / "run"))
    assert "host &lt;img src=x" in (out / "REPORT.md").read_text()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["environment"]["host"] == IMG  # the data itself is kept


def test_link_and_image_syntax_from_data_stays_text(tmp_path):
    run = tmp_path / "run"
    with RunStore(run) as store:
        store.record(_row("lstm"))
        store.record({**_row("gru", status="failed"), "error": "see ![x](http://example.invalid/p.png) and [y](http://example.invalid)"})
        store.write_run_json({})
    page = (report.build(run) / "index.html").read_text()
    assert "<img src=\"http" not in page and "<a href" not in page
