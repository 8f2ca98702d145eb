"""``rnnbench compare`` on edited run directories: each edit gives the right verdict and exit code."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from rnnbench.cli import main
from rnnbench.errors import BadInput
from rnnbench.storage.store import RunStore, load_run
from rnnbench.verdict.compare import compare_runs


def _make_run(path, speed=1.0, acc=0.85, params=328_353, drop=None, status="ok", host="ci-1", calib=100.0, steps=True,
              threads=2, cpus=None, cpu="EPYC"):
    """A run directory with two cells (lstm and gru), raw step times drawn around 1/speed."""
    rng = np.random.default_rng(0 if path.name == "base" else 1)
    with RunStore(path) as store:
        for model, cid, base_sps in (("lstm", "c_lstm", 1000.0), ("gru", "c_gru", 1200.0)):
            if model == drop:
                continue
            row = {"cell_id": cid, "model": model, "arch": model.upper(), "kernel": "generic", "backend": "tensorflow",
                   "device": "cpu", "jit_compile": False, "maxlen": 100, "batch_size": 128, "seed": 0,
                   "status": status if model == "lstm" else "ok", "error": "boom" if status != "ok" and model == "lstm" else "",
                   "params": params if model == "lstm" else 326_369,
                   "train_samples_per_s": base_sps * (speed if model == "lstm" else 1.0), "test_acc": acc if model == "lstm" else 0.8,
                   "threads": threads, "cpus": cpus}
            step = 128 / row["train_samples_per_s"]
            step_rows = [{"repeat": i // 10, "step": i % 10, "step_s": step * (1 + 0.02 * rng.standard_normal())} for i in range(50)]
            store.record(row, steps=step_rows if steps else [])
        store.write_run_json({"environment": {"host": host, "cpu": {"model": cpu}, "gpus": []},
                              "calibration": [{"backend": "tensorflow", "device": "cpu", "matmul_gflops": calib}]})
    return path


@pytest.fixture
def base(tmp_path):
    return _make_run(tmp_path / "base")


def _verdicts(base_dir, new_dir, **kw):
    result = compare_runs(load_run(base_dir), load_run(new_dir), **kw)
    return {(f.cell.split("/")[0], f.check): f.verdict for f in result.findings}, result


def test_same_numbers_no_regression(base, tmp_path):
    verdicts, result = _verdicts(base, _make_run(tmp_path / "new"))
    assert set(verdicts.values()) == {"unchanged"} and not result.regressions
    assert main(["compare", str(base), str(tmp_path / "new")]) == 0


def test_throughput_halved_is_a_regression_naming_the_cell(base, tmp_path, capsys):
    new = _make_run(tmp_path / "new", speed=0.5)
    verdicts, _ = _verdicts(base, new)
    assert verdicts[("lstm", "speed")] == "regression" and verdicts[("gru", "speed")] == "unchanged"
    assert main(["compare", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    assert "1 regression" in out and "| regression | speed    | lstm/generic" in out and "-50.0%" in out


def test_faster_is_an_improvement(base, tmp_path):
    verdicts, _ = _verdicts(base, _make_run(tmp_path / "new", speed=1.5))
    assert verdicts[("lstm", "speed")] == "improvement"


def test_small_slowdown_under_threshold_is_unchanged(base, tmp_path):
    verdicts, _ = _verdicts(base, _make_run(tmp_path / "new", speed=0.95))
    assert verdicts[("lstm", "speed")] == "unchanged"


def test_ratio_beyond_threshold_but_not_significant_is_unchanged(tmp_path):
    """Noise as large as the change: the test refuses to call it (asv's rule)."""
    base = _make_run(tmp_path / "base")
    new = _make_run(tmp_path / "new", speed=0.88)
    # widen the new run's step noise enormously: the medians differ but the samples overlap
    import pandas as pd

    steps = pd.read_csv(new / "steps.csv")
    rng = np.random.default_rng(5)
    steps["step_s"] = steps["step_s"] * rng.uniform(0.2, 1.8, len(steps))
    steps.to_csv(new / "steps.csv", index=False)
    verdicts, result = _verdicts(base, new)
    assert verdicts[("lstm", "speed")] == "unchanged"
    assert any("not significant" in f.note for f in result.findings)


def test_without_raw_steps_ratio_alone_decides_with_a_note(tmp_path):
    base = _make_run(tmp_path / "base", steps=False)
    verdicts, result = _verdicts(base, _make_run(tmp_path / "new", speed=0.7, steps=False))
    assert verdicts[("lstm", "speed")] == "regression"
    assert any("ratio alone" in f.note for f in result.findings)


def test_other_thread_settings_are_noted_on_the_speed_rows(base, tmp_path):
    _, same = _verdicts(base, _make_run(tmp_path / "same"))
    assert not any("differ" in f.note for f in same.findings)
    _, result = _verdicts(base, _make_run(tmp_path / "new", threads=1, cpus="1"))
    speed_notes = [f.note for f in result.findings if f.check == "speed"]
    assert speed_notes and all("threads differ: 2 vs 1; cpus differ: all vs 1" in n for n in speed_notes), speed_notes


def test_accuracy_lowered(base, tmp_path):
    new = _make_run(tmp_path / "new", acc=0.80)
    verdicts, _ = _verdicts(base, new)
    assert verdicts[("lstm", "accuracy")] == "regression"
    assert main(["compare", str(base), str(new)]) == 1
    assert _verdicts(base, _make_run(tmp_path / "new2", acc=0.84))[0][("lstm", "accuracy")] == "unchanged"


def test_params_changed(base, tmp_path):
    verdicts, _ = _verdicts(base, _make_run(tmp_path / "new", params=400_000))
    assert verdicts[("lstm", "params")] == "regression"


def test_cell_removed(base, tmp_path):
    verdicts, _ = _verdicts(base, _make_run(tmp_path / "new", drop="gru"))
    assert verdicts[("gru", "status")] == "regression"


def test_newly_failed(base, tmp_path):
    verdicts, _ = _verdicts(base, _make_run(tmp_path / "new", status="failed"))
    assert verdicts[("lstm", "status")] == "regression"


def test_other_machine_is_normalised_by_calibration(base, tmp_path):
    # A machine twice as fast in matmul and in the cell: not a change once normalised.
    new = _make_run(tmp_path / "new", speed=2.0, cpu="Xeon", calib=200.0)
    verdicts, result = _verdicts(base, new)
    assert verdicts[("lstm", "speed")] == "unchanged"
    assert any("different machines (CPU: EPYC vs Xeon)" in n for n in result.notes)
    # another host name alone is the same kind of machine: no normalisation
    renamed = _make_run(tmp_path / "renamed", speed=2.0, host="other", calib=200.0)
    assert _verdicts(base, renamed)[0][("lstm", "speed")] == "improvement"
    # the same raw numbers without the normalisation would have been an "improvement"
    same_machine = _make_run(tmp_path / "new2", speed=2.0)
    assert _verdicts(base, same_machine)[0][("lstm", "speed")] == "improvement"


def test_json_format(base, tmp_path, capsys):
    new = _make_run(tmp_path / "new", speed=0.5)
    assert main(["compare", str(base), str(new), "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["regressions"] == 1


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: shutil.rmtree(d), "does not exist"),
        (lambda d: (d / "cells.csv").unlink(), "no cells.csv"),
        (lambda d: (d / "cells.csv").write_text("junk\n"), "not an rnnbench file"),
        (lambda d: (d / "run.json").write_text("{"), "damaged run.json"),
        (lambda d: (d / "steps.csv").write_text((d / "steps.csv").read_text() + "c_lstm,9,9,abc,\n"), "damaged step time"),
    ],
)
def test_bad_directories_exit_2(base, tmp_path, damage, message, capsys):
    new = _make_run(tmp_path / "new")
    damage(new)
    assert main(["compare", str(base), str(new)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_disjoint_runs_are_bad_input(base, tmp_path):
    other = tmp_path / "other"
    with RunStore(other) as store:
        store.record({"cell_id": "zzz", "model": "gru", "status": "ok"})
    with pytest.raises(BadInput, match="share no cell"):
        compare_runs(load_run(base), load_run(other))


def test_bad_thresholds(base, capsys):
    assert main(["compare", str(base), str(base), "--max-slowdown", "10"]) == 2
    assert main(["compare", str(base), str(base), "--alpha", "0"]) == 2


# Issue 12, cases 2 and 3: damaged or unusual rows never give exit 0 in silence.

def _edit(run, cell_id, **values):
    """Rewrite cells.csv with ``values`` put into cell ``cell_id``'s row (text, as a damaged file holds it)."""
    import csv

    with open(run / "cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["cell_id"] == cell_id:
            row.update(values)
    with open(run / "cells.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize("column, text", [
    ("train_samples_per_s", "nan"), ("train_samples_per_s", ""), ("train_samples_per_s", "0"),
    ("train_samples_per_s", "inf"), ("train_samples_per_s", "-5"),
    ("test_acc", "nan"), ("test_acc", ""), ("params", ""),
])
def test_a_missing_or_non_finite_metric_in_a_new_ok_cell_is_a_regression(base, tmp_path, capsys, column, text):
    new = _make_run(tmp_path / "new")
    _edit(new, "c_lstm", **{column: text})
    assert main(["compare", str(base), str(new)]) == 1
    assert f"{column} missing or not a valid number in an ok cell" in capsys.readouterr().out


def test_a_parameter_count_that_is_no_integer_is_bad_input(base, tmp_path, capsys):
    new = _make_run(tmp_path / "new")
    _edit(new, "c_lstm", params="nan")
    assert main(["compare", str(base), str(new)]) == 2
    assert "damaged value 'nan' in column 'params'" in capsys.readouterr().err


@pytest.mark.parametrize("column, text", [("train_samples_per_s", "nan"), ("train_samples_per_s", "0"), ("test_acc", "inf"),
                                          ("params", "-1"), ("train_samples_per_s", ""), ("test_acc", "")])
def test_a_damaged_baseline_metric_is_bad_input(base, tmp_path, capsys, column, text):
    _edit(base, "c_lstm", **{column: text})
    assert main(["compare", str(base), str(_make_run(tmp_path / "new"))]) == 2
    err = capsys.readouterr().err
    assert "a damaged baseline" in err and column in err


@pytest.mark.parametrize("status", ["crashed", "OK", ""])
@pytest.mark.parametrize("side", ["base", "new"])
def test_an_unknown_status_is_bad_input(base, tmp_path, capsys, status, side):
    new = _make_run(tmp_path / "new")
    _edit(base if side == "base" else new, "c_gru", status=status)
    assert main(["compare", str(base), str(new)]) == 2
    assert f"unknown status {status!r}" in capsys.readouterr().err


def test_a_duplicate_cell_row_is_bad_input(base, tmp_path, capsys):
    new = _make_run(tmp_path / "new")
    lines = (new / "cells.csv").read_text().splitlines()
    (new / "cells.csv").write_text("\n".join([*lines, lines[1].replace(",1000,", ",2000,")]) + "\n")  # a faster twin after it
    assert main(["compare", str(base), str(new)]) == 2
    assert "appears twice" in capsys.readouterr().err


def test_a_baseline_cell_that_is_not_ok_is_noted(base, tmp_path, capsys):
    _edit(base, "c_lstm", status="failed", error="old crash")
    new = _make_run(tmp_path / "new", status="failed")
    assert main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "failed in the baseline (old crash), failed now: not compared" in out


def test_a_baseline_without_an_ok_cell_is_refused(base, tmp_path, capsys):
    for cid in ("c_lstm", "c_gru"):
        _edit(base, cid, status="skipped", error="no GPU")
    assert main(["compare", str(base), str(_make_run(tmp_path / "new"))]) == 2
    assert "has no ok cell" in capsys.readouterr().err


def test_an_unchanged_accuracy_reads_plus_zero(base, tmp_path):
    """It printed "-0.0000" (the negation of a zero drop) for identical accuracies."""
    _, result = _verdicts(base, _make_run(tmp_path / "new"))
    assert {f.change for f in result.findings if f.check == "accuracy"} == {"+0.0000"}
