"""Skipped cells are said once per reason (issue 27, item 1): in the progress output, in the closing table,
with every one of them in cells.csv, REPORT.md and with --show-skipped."""

from __future__ import annotations

import io

import pytest
from rnnbench.config.plan import group_skips
from rnnbench.config.spec import SweepSpec
from rnnbench.execute import sweep
from rnnbench.execute.executor import CellOutcome
from rnnbench.execute.progress import Progress
from rnnbench.reporting.table import cells_overview
from rnnbench.storage.store import load_run

HERE = {"host": "vm", "cpu": {"model": "AMD EPYC", "flags": ["avx"], "logical_cores": 2}, "gpus": [], "python": "3.11.7",
        "packages": {"keras": "3.15.1", "tensorflow": "2.21.0"}, "git_commit": "aaa", "started_at": "2026-11-29T20:00:00+00:00"}
NO_GPU = "gpu requested but tensorflow sees no GPU(s) on this machine"
SPEC = SweepSpec(models=("simple_rnn", "lstm", "gru"), kernels=("generic", "cudnn"), devices=("cpu", "gpu"), maxlen=(16,),
                 batch_size=(32, 64), epochs=0, train_samples=64, test_samples=64, speed_target_s=0.1)


def _skip(cell):
    """What a machine without a GPU says (bench/config/plan.py's wording)."""
    if cell.kernel == "cudnn" and cell.device == "cpu":
        return "the cuDNN kernel runs only on a GPU; this cell's device is cpu"
    if cell.device == "gpu":
        return NO_GPU
    return None


class OkExecutor:
    """Every cell it is handed is ok, with a speed figure; it records which it was handed."""

    def __init__(self):
        self.calibrations, self.handed = {}, []

    def run(self, cells, on_start=None):
        for cell in cells:
            self.handed.append(cell.cell_id)
            if on_start:
                on_start(cell)
            yield CellOutcome(cell, "ok", {"params": 1, "train_samples_per_s": 1000.0}, [], [{"repeat": 0, "step": 0, "step_s": 0.01}], [])


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setattr(sweep.environment, "collect", lambda: dict(HERE))


def _sweep(tmp_path, capsys, show_skipped=False):
    executor = OkExecutor()
    result = sweep.run_sweep(SPEC, tmp_path / "run", executor=executor, skip=_skip, show_skipped=show_skipped)
    return result, executor, capsys.readouterr().out


def test_a_reason_shared_by_several_models_is_one_group_largest_first():
    groups = group_skips([("1", "lstm", "lstm cannot use the cudnn kernel here: no XLA"), ("2", "gru", NO_GPU),
                          ("3", "gru", "gru cannot use the cudnn kernel here: no XLA"), ("4", "lstm", NO_GPU),
                          ("5", "simple_rnn", NO_GPU)])
    assert [(g.reason, g.models, g.cell_ids) for g in groups] == [
        (NO_GPU, ("gru", "lstm", "simple_rnn"), ("2", "4", "5")),
        ("cannot use the cudnn kernel here: no XLA", ("gru", "lstm"), ("1", "3")),
    ]
    assert groups[0].line() == f"3 cells (gru, lstm, simple_rnn): {NO_GPU}"


def test_progress_says_the_skips_once_per_reason_and_counts_only_the_cells_to_run(tmp_path, capsys, env):
    result, executor, out = _sweep(tmp_path, capsys)
    cells = SPEC.expand()
    skipped = [c for c in cells if _skip(c)]
    runnable = [c for c in cells if not _skip(c)]
    assert len(runnable) == 6 and len(skipped) == len(cells) - 6 == 14
    lines = out.splitlines()
    assert lines[0] == "skipped 14 cells that cannot run here (each in cells.csv, REPORT.md and with --show-skipped):"
    assert lines[1] == f"  10 cells (gru, lstm, simple_rnn): {NO_GPU}"
    assert lines[2] == "  4 cells (gru, lstm): the cuDNN kernel runs only on a GPU; this cell's device is cpu"
    progress = [line for line in lines if line.startswith("[")]
    assert len(progress) == 6 and progress[0].startswith("[1/6 ") and progress[-1].startswith("[6/6 ")
    assert "skipped" not in "\n".join(lines[3:])
    # Nothing is lost: every skipped cell is a row with its reason, and none was handed to the executor.
    rows = load_run(tmp_path / "run").cells
    assert {cid for cid, r in rows.items() if r["status"] == "skipped"} == {c.cell_id for c in skipped}
    assert all(r["error"] for r in rows.values() if r["status"] == "skipped")
    assert sorted(executor.handed) == sorted(c.cell_id for c in runnable) and result.ran == len(cells)


def test_show_skipped_lists_each_cell(tmp_path, capsys, env):
    _, _, out = _sweep(tmp_path, capsys, show_skipped=True)
    each = [line for line in out.splitlines() if line.startswith("skipped ")]
    assert len(each) == 14 and all(line.endswith(NO_GPU) or "runs only on a GPU" in line for line in each)


def test_the_closing_table_starts_with_the_cells_that_ran(tmp_path, capsys, env):
    _sweep(tmp_path, capsys)
    rows = list(load_run(tmp_path / "run").cells.values())
    text = cells_overview(rows)
    table, _, summary = text.partition("\nskipped 14 cells")
    assert table.count(" ok ") == 6 and "skipped" not in table
    assert summary.count("\n  ") == 2 and NO_GPU in summary
    assert cells_overview(rows, show_skipped=True).count("skipped: ") == 14


def test_quiet_says_nothing_and_a_terminal_bar_counts_the_cells_to_run():
    stream = io.StringIO()
    cells = SPEC.expand()
    with Progress(total=len(cells), reused=0, quiet=True, stream=stream) as progress:
        progress.plan([c for c in cells if not _skip(c)], [(c, _skip(c)) for c in cells if _skip(c)])
        assert progress.total == 6
    assert stream.getvalue() == ""
