"""Resuming a run directory keeps what it holds (issue 12, cases 6-8).

Sweeps here use a fake executor (no framework, no timing): the run directory's bookkeeping is under test.
"""

from __future__ import annotations

import json

import pytest
from rnnbench.cli import main
from rnnbench.config.spec import SweepSpec
from rnnbench.execute import sweep
from rnnbench.execute.executor import CellOutcome
from rnnbench.storage.store import RunStore, load_run

SPEC = SweepSpec(models=("lstm", "gru", "simple_rnn"), maxlen=(16,), batch_size=(32,), epochs=1, train_samples=64,
                 test_samples=64, speed_target_s=0.1)
HERE = {"host": "vm", "cpu": {"model": "AMD EPYC", "flags": ["avx"], "logical_cores": 2}, "gpus": [], "python": "3.11.7",
        "packages": {"keras": "3.15.1", "tensorflow": "2.21.0"}, "git_commit": "aaa", "started_at": "2026-11-29T20:00:00+00:00"}


class FakeExecutor:
    """Yields an ok outcome per cell, with one epoch row and five step rows; ``stop_after`` simulates a kill."""

    def __init__(self, stop_after: int | None = None, sps: float = 1000.0):
        self.stop_after, self.sps, self.calibrations = stop_after, sps, {}

    def run(self, cells, on_start=None):
        for i, cell in enumerate(cells):
            if self.stop_after is not None and i == self.stop_after:
                raise KeyboardInterrupt
            yield CellOutcome(cell, "ok", {"params": 1, "train_samples_per_s": self.sps},
                              [{"epoch": 1, "loss": self.sps}], [{"repeat": 0, "step": k, "step_s": 32 / self.sps} for k in range(5)])


@pytest.fixture
def env(monkeypatch):
    current = {"value": dict(HERE)}
    monkeypatch.setattr(sweep.environment, "collect", lambda: dict(current["value"]))
    return current


def test_a_resume_that_runs_nothing_keeps_the_environment_byte_for_byte(tmp_path, env):
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=FakeExecutor())
    before = json.loads((tmp_path / "run.json").read_text())["environment"]
    env["value"] = {**HERE, "cpu": {**HERE["cpu"], "model": "Intel Xeon"}, "git_commit": "bbb", "started_at": "later"}
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=FakeExecutor())
    assert json.loads((tmp_path / "run.json").read_text())["environment"] == before


def test_a_resume_elsewhere_is_said_in_one_line_and_recorded(tmp_path, env, capsys):
    sweep.run_sweep(SPEC.replace(models=("lstm",)), tmp_path, quiet=True, executor=FakeExecutor())
    env["value"] = {**HERE, "cpu": {**HERE["cpu"], "model": "Intel Xeon"}, "git_commit": "bbb", "host": "ci-2"}
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=FakeExecutor())  # adds gru and simple_rnn
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "resuming" in err[0] and "CPU: AMD EPYC vs Intel Xeon" in err[0] and "git_commit: aaa vs bbb" in err[0]
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["environment"]["cpu"]["model"] == "AMD EPYC" and meta["resumes"][0]["cpu_model"] == "Intel Xeon"
    rows = {r["model"]: r for r in load_run(tmp_path).cells.values()}
    assert (rows["lstm"]["cpu_model"], rows["lstm"]["git_commit"], rows["lstm"]["host"]) == ("AMD EPYC", "aaa", "vm")
    assert (rows["gru"]["cpu_model"], rows["gru"]["git_commit"], rows["gru"]["host"]) == ("Intel Xeon", "bbb", "ci-2")


def test_a_forced_rerun_of_every_cell_takes_the_new_environment(tmp_path, env):
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=FakeExecutor())
    env["value"] = {**HERE, "git_commit": "bbb"}
    sweep.run_sweep(SPEC, tmp_path, quiet=True, force=True, executor=FakeExecutor())
    assert json.loads((tmp_path / "run.json").read_text())["environment"]["git_commit"] == "bbb"


def test_an_interrupted_force_keeps_the_long_form_rows_of_cells_it_did_not_reach(tmp_path, env):
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=FakeExecutor(sps=1000.0))
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(SPEC, tmp_path, quiet=True, force=True, executor=FakeExecutor(stop_after=1, sps=2000.0))
    run = load_run(tmp_path)
    assert {r["status"] for r in run.cells.values()} == {"ok"}
    assert set(run.steps) == set(run.cells) and all(len(v) == 5 for v in run.steps.values())
    assert sorted(r["cell_id"] for r in run.epochs) == sorted(run.cells)  # one epoch row per cell, none lost, none twice
    new_speed = {cid for cid, r in run.cells.items() if r["train_samples_per_s"] == 2000.0}
    assert len(new_speed) == 1 and all(float(r["loss"]) == 2000.0 for r in run.epochs if r["cell_id"] in new_speed)


def test_a_non_empty_folder_that_is_no_run_directory_is_refused_untouched(tmp_path, capsys):
    folder = tmp_path / "mine"
    (folder / ".work").mkdir(parents=True)
    (folder / ".work" / "notes.txt").write_text("mine")
    (folder / "data.csv").write_text("a,b\n")
    code = main(["run", "--preset", "smoke", "--models", "lstm", "--out", str(folder), "--quiet", "--no-report"])
    assert code == 2 and "rnnbench did not make" in capsys.readouterr().err
    assert sorted(p.name for p in folder.rglob("*")) == [".work", "data.csv", "notes.txt"]


def test_scratch_of_a_real_run_directory_is_named_as_the_harness_s_own(tmp_path, env):
    with RunStore(tmp_path) as store:
        store.write_run_json({})
    (tmp_path / ".work").mkdir(parents=True)  # a user's folder that happens to be called .work
    (tmp_path / ".work" / "keep.txt").write_text("x")
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=FakeExecutor())
    assert (tmp_path / ".work" / "keep.txt").read_text() == "x"
