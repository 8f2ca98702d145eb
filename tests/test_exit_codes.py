"""One line and the right exit code for each way a command can meet an unusable input (issue 12, case 12).

Exit 1 is reserved for a regression found; an environment the harness cannot use is 2, and a bug of
the harness's own is 3 with its traceback saved to a file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rnnbench import cli
from rnnbench.cli import main
from rnnbench.storage.store import RunStore
from test_compare import _make_run
from test_report import _row

#: A path no process can create, even as root: sysfs refuses new entries.
UNWRITABLE = "/sys/rnnbench-cannot-write-here"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_dangling_symlink_as_out(tmp_path, capsys):
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    assert main(["run", "--preset", "smoke", "--models", "lstm", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "a symlink to" in _one_line(capsys)


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs sysfs")
@pytest.mark.parametrize("command", ["run", "report", "gate"])
def test_an_unwritable_out_is_exit_2_never_1(tmp_path, capsys, command):
    run = _make_run(tmp_path / "base")
    argv = {"run": ["run", "--preset", "smoke", "--models", "lstm", "--out", UNWRITABLE, "--quiet"],
            "report": ["report", str(run), "--out", UNWRITABLE],
            "gate": ["gate", "--baseline", str(run), "--out", UNWRITABLE, "--quiet"]}[command]
    assert main(argv) == 2
    assert "cannot use" in _one_line(capsys)


def test_a_failed_row_with_an_empty_error(tmp_path, capsys):
    run = tmp_path / "run"
    with RunStore(run) as store:
        store.record(_row("lstm"))
        store.record({**_row("gru", status="failed"), "error": ""})
        store.write_run_json({})
    assert main(["report", str(run)]) == 0
    assert main(["compare", str(run), str(run)]) == 0


def test_allow_unverified_data_with_a_malformed_file(tmp_path, capsys):
    bad = tmp_path / "imdb.npz"
    np.savez(bad, x_train=np.array(["not", "ids"]), y_train=np.array([0, 1]), x_test=np.array(["x"]), y_test=np.array([1]))
    assert main(["data", "fetch", "imdb", "--data-path", str(bad), "--allow-unverified-data"]) == 2
    assert "is not a readable imdb.npz" in _one_line(capsys)


def test_a_missing_file_named_by_rnnbench_imdb_path_is_said_not_replaced(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "keras" / "datasets"
    cache.mkdir(parents=True)
    (cache / "imdb.npz").write_bytes(b"another file")  # would be read instead, before
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("RNNBENCH_IMDB_PATH", str(tmp_path / "missing.npz"))
    assert main(["data", "fetch", "imdb"]) == 2
    assert "RNNBENCH_IMDB_PATH names" in _one_line(capsys)


def test_a_closed_pipe_is_one_line_not_a_traceback():
    # A plan of about 120 KB (4,000 cells), more than a pipe holds (64 KB) and Python's buffer (8 KB) together:
    # the writer must still be writing when the reader closes. The full preset's 25 KB alone could all be in
    # the pipe before the close, and the run then ended 0 (it did once in CI).
    proc = subprocess.Popen([sys.executable, "-m", "rnnbench", "run", "--preset", "full", "--seeds", "0,1,2,3,4",
                             "--dry-run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 2
    assert "Traceback" not in err and err.strip().splitlines() == ["rnnbench: output closed early (broken pipe)"]


def test_an_internal_error_is_exit_3_with_the_traceback_saved(monkeypatch, capsys):
    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "list", broken)
    assert main(["list"]) == 3
    line = _one_line(capsys)
    assert "internal error (ZeroDivisionError: a bug)" in line
    saved = Path(line.rsplit("traceback saved to ", 1)[1])
    assert "Traceback" in saved.read_text() and "ZeroDivisionError" in saved.read_text()
    saved.unlink()
