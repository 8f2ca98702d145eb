"""Bad input is one line and exit 2, never a traceback, a hang or a silent pass (issue 23, cases 7-11).

Each case is reproduced as reported; none of them runs a cell.
"""

from __future__ import annotations

import json
import os

import pytest
from rnnbench.cli import main
from rnnbench.datasets import textfile
from test_compare import _make_run
from test_ownership import TINY, _one_line_exit_2


def _two_classes(n=10):
    return "".join(f"a good film {i},1\na bad film {i},0\n" for i in range(n))


def test_case_7_gate_with_a_base_that_does_not_resolve_is_bad_input_before_any_sweep(tmp_path, monkeypatch, capsys):
    from rnnbench.verdict import gate

    swept = []
    monkeypatch.setattr(gate, "run_sweep", lambda *a, **kw: swept.append(a))
    baseline = _make_run(tmp_path / "B")
    code = main(["gate", "--baseline", str(baseline), "--base", "no-such-ref", *TINY, "--out", str(tmp_path / "g")])
    _one_line_exit_2(code, capsys, "--base 'no-such-ref'", "not in the clone")
    assert swept == [] and not (tmp_path / "g").exists()


def test_case_8_a_fifo_or_a_device_as_data_is_refused_without_reading(tmp_path, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    _one_line_exit_2(main(["run", "--dataset", str(fifo), *TINY, "--out", str(tmp_path / "r")]), capsys, "FIFO")
    _one_line_exit_2(main(["data", "info", str(fifo)]), capsys, "FIFO")
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    _one_line_exit_2(main(["data", "info", str(zero)]), capsys, "a device")


@pytest.mark.parametrize("name, content, words", [
    ("long.csv", "text,label\n" + _two_classes() + "c," + "9" * 5000 + "\n", ["more than 18 digits"]),
    ("long.jsonl", '{"text": "a", "label": 1}\n{"text": "c", "label": ' + "9" * 5000 + "}\n", ["more digits"]),
    ("deep.jsonl", '{"text": "a", "label": ' + "[" * 100_000 + "]" * 100_000 + "}\n", ["nested too deeply"]),
    ("dup.csv", "text,label,text\n" + "a,1,x\nb,0,y\n" * 5, ["'text' appears more than once"]),
    ("bool.jsonl", '{"text": "a", "label": true}\n{"text": "b", "label": 0}\n', ["label true is a boolean"]),
])
def test_cases_9_and_11_bad_files_are_one_line_exit_2(tmp_path, capsys, name, content, words):
    path = tmp_path / name
    path.write_text(content)
    _one_line_exit_2(main(["data", "info", str(path)]), capsys, name, *words)


def test_case_9_fetch_arguments_that_used_to_exit_3(tmp_path, capsys):
    for extra, words in ((["--url", "http://[::1"], ["not a valid URL"]), (["--timeout", "inf"], ["timeout"]),
                         (["--timeout", "nan"], ["timeout"])):
        code = main(["data", "fetch", "imdb", "--dest", str(tmp_path / "imdb.npz"), "--quiet", *extra])
        _one_line_exit_2(code, capsys, *words)
    assert not (tmp_path / "imdb.npz").exists()


def test_case_10_a_url_with_cr_lf_is_shown_escaped_in_one_line(tmp_path, capsys):
    code = main(["data", "fetch", "imdb", "--dest", str(tmp_path / "imdb.npz"), "--quiet", "--url", "http://x/\r\nInjected: 1"])
    _one_line_exit_2(code, capsys, "control characters", "\\r\\n")


def test_case_10_json_lines_with_u2028_and_u0085_inside_strings_are_read(tmp_path):
    path = tmp_path / "sep.jsonl"
    lines = [json.dumps({"text": f"one\u2028two\u0085three {i}", "label": i % 2}, ensure_ascii=False) for i in range(10)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    texts = textfile.read(path)
    assert len(texts.train_texts) + len(texts.test_texts) == 10 and texts.classes == (0, 1)
    assert any("\u2028" in t for t in texts.train_texts)
