"""``rnnbench gate``: a speed regression stands only if a rerun of the flagged cells confirms it.

The sweeps are replaced by prepared run directories (the verdict logic is under test, not timing);
the real preset runs in CI's gate and in the validation runs reported in the closing note.
"""

from __future__ import annotations

import json

import pytest
from rnnbench import gate
from rnnbench.cli import main
from rnnbench.presets import get_preset
from test_compare import _make_run

#: The gate judges only its own preset's cells, so prepared runs carry the regress preset's cell ids.
REGRESS_IDS = {c.model: c.cell_id for c in get_preset("regress").expand()}


def _gate_run(path, **kw):
    run = _make_run(path, **kw)
    for name in ("cells.csv", "steps.csv"):
        text = (run / name).read_text().replace("c_lstm", REGRESS_IDS["lstm"]).replace("c_gru", REGRESS_IDS["gru"])
        (run / name).write_text(text)
    return run


@pytest.fixture
def base(tmp_path, monkeypatch):
    """A baseline recorded on "this" machine: the gate takes its same-machine path."""
    path = _gate_run(tmp_path / "base")
    recorded = json.loads((path / "run.json").read_text())["environment"]
    monkeypatch.setattr(gate.environment, "collect", lambda: dict(recorded))
    return path


def _fake_sweeps(monkeypatch, first_speed, rerun_speed, first_acc=0.85, rerun_status="ok"):
    """The first sweep gives lstm ``first_speed`` x the baseline's throughput, the rerun ``rerun_speed``."""
    reruns = []

    def fake_run_sweep(spec, out, preset=None, force=False, quiet=False, only=None):
        if only is None:
            _gate_run(out, speed=first_speed, acc=first_acc)
        else:
            reruns.append(set(only))
            _gate_run(out, speed=rerun_speed, status=rerun_status)

    monkeypatch.setattr(gate, "run_sweep", fake_run_sweep)
    return reruns


def test_a_slowdown_that_persists_is_confirmed_and_fails_the_gate(base, tmp_path, monkeypatch, capsys):
    reruns = _fake_sweeps(monkeypatch, first_speed=0.7, rerun_speed=0.72)
    code = main(["gate", "--baseline", str(base), "--out", str(tmp_path / "gate"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1 and reruns == [{REGRESS_IDS["lstm"]}]  # only the flagged cell is rerun
    assert "| regression | speed    | lstm/generic" in out and "confirmed by a rerun (-28.0%)" in out


def test_a_slow_spell_that_does_not_persist_passes(base, tmp_path, monkeypatch, capsys):
    _fake_sweeps(monkeypatch, first_speed=0.8, rerun_speed=1.0)
    code = main(["gate", "--baseline", str(base), "--out", str(tmp_path / "gate"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "no regression" in out and "not confirmed: a rerun gave" in out


def test_no_flag_no_rerun_and_the_gate_threshold_is_15_percent(base, tmp_path, monkeypatch):
    reruns = _fake_sweeps(monkeypatch, first_speed=0.88, rerun_speed=0.5)  # -12%: beyond compare's 10%, not the gate's 15%
    assert main(["gate", "--baseline", str(base), "--out", str(tmp_path / "gate"), "--quiet"]) == 0 and reruns == []
    assert gate.GATE_MAX_SLOWDOWN == 0.15


def test_an_accuracy_drop_needs_no_confirmation(base, tmp_path, monkeypatch, capsys):
    reruns = _fake_sweeps(monkeypatch, first_speed=1.0, rerun_speed=1.0, first_acc=0.80)
    code = main(["gate", "--baseline", str(base), "--out", str(tmp_path / "gate"), "--quiet", "--format", "json"])
    assert code == 1 and reruns == [] and '"check": "accuracy"' in capsys.readouterr().out


def test_a_missing_baseline_is_bad_input_before_anything_runs(tmp_path, monkeypatch, capsys):
    reruns = _fake_sweeps(monkeypatch, 1.0, 1.0)
    assert main(["gate", "--baseline", str(tmp_path / "nope"), "--out", str(tmp_path / "gate")]) == 2
    assert reruns == [] and not (tmp_path / "gate").exists()
    assert "is not a run directory" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value", [("--max-slowdown", "2"), ("--max-accuracy-drop", "-1"), ("--alpha", "0")])
def test_a_bad_threshold_is_bad_input_before_anything_runs(base, tmp_path, monkeypatch, capsys, flag, value):
    reruns = _fake_sweeps(monkeypatch, 1.0, 1.0)
    assert main(["gate", "--baseline", str(base), "--out", str(tmp_path / "gate"), flag, value]) == 2
    assert reruns == [] and not (tmp_path / "gate").exists()
    assert f"{flag} must be between 0 and 1" in capsys.readouterr().err


def test_a_rerun_without_a_speed_figure_keeps_the_regression(base, tmp_path, monkeypatch, capsys):
    """Issue 12, case 1: a rerun that failed used to clear the regression as 'a slow spell' (exit 0)."""
    _fake_sweeps(monkeypatch, first_speed=0.7, rerun_speed=1.0, rerun_status="failed")
    code = main(["gate", "--baseline", str(base), "--out", str(tmp_path / "gate"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 1
    assert "a rerun produced no speed figure (boom): the regression stands" in out
