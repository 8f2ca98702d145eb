"""The run-directory contract (bench/storage/store.py): one reader, checked run.json, typed columns, kept columns.

Each case was a crash or a silent loss before the reader was one module: a run.json of the wrong shape
(AttributeError), a cell_id that looks like a number (pandas made it a float, the report's merge
failed), a newer version's extra column (dropped on the next write).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from rnnbench.cli import main
from rnnbench.errors import BadInput
from rnnbench.reporting import report
from rnnbench.storage.schema import CELL_COLUMNS, CELL_CORE_COLUMNS, STEP_COLUMNS
from rnnbench.storage.store import FORMAT_VERSION, RunStore, load_run, read_table
from test_report import _epochs, _row


def _run(path, cid="c1", model="lstm", **row):
    with RunStore(path) as store:
        store.record({**_row(model), "cell_id": cid, **row}, epochs=_epochs(cid),
                     steps=[{"repeat": i // 5, "step": i % 5, "step_s": 0.01, "gap_s": 0.001 * (i % 5 == 0)}
                            for i in range(15)])
        store.write_run_json({"environment": {"host": "h", "cpu": {"model": "m"}, "gpus": []}, "calibration": []})
    return path


@pytest.mark.parametrize("meta, named", [
    ([], "expected an object, got list"),
    ({"environment": "x"}, "environment must be a dict"),
    ({"environment": {"cpu": "AMD"}}, "environment.cpu must be a dict"),
    ({"environment": {"gpus": ["H200"]}}, "environment.gpus must be a list of objects"),
    ({"calibration": {"matmul_gflops": 1}}, "calibration must be a list"),
    ({"calibration": [{"backend": "tensorflow", "device": "cpu", "matmul_gflops": float("nan")}]}, "positive finite number"),
    ({"calibration": [{"backend": "tensorflow", "device": "cpu", "matmul_gflops": -5}]}, "positive finite number"),
    ({"spec": [1]}, "spec must be a dict"),
    ({"format": "1"}, "format must be an integer"),
])
@pytest.mark.parametrize("command", ["report", "compare", "run"])
def test_a_run_json_of_the_wrong_shape_is_one_line_and_exit_2(tmp_path, capsys, meta, named, command):
    run = _run(tmp_path / "run")
    (run / "run.json").write_text(json.dumps(meta))
    before = (run / "cells.csv").read_bytes()
    argv = {"report": ["report", str(run)], "compare": ["compare", str(run), str(run)],
            "run": ["run", "--preset", "smoke", "--models", "lstm", "--out", str(run), "--quiet", "--no-report"]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err and "run.json" in err
    assert (run / "cells.csv").read_bytes() == before  # nothing stored was touched


def test_a_newer_format_is_refused_by_name(tmp_path, capsys):
    run = _run(tmp_path / "run")
    meta = json.loads((run / "run.json").read_text())
    assert meta["format"] == FORMAT_VERSION  # every written run.json carries it
    (run / "run.json").write_text(json.dumps({**meta, "format": FORMAT_VERSION + 1}))
    assert main(["report", str(run)]) == 2
    assert "written by a newer rnnbench" in capsys.readouterr().err


def test_a_number_like_cell_id_stays_a_string_through_report_and_compare(tmp_path):
    """Seed 613's LSTM in the seed preset had an id that pandas read as a number (613e4... is a float)."""
    run = _run(tmp_path / "run", cid="613e4")
    _run(tmp_path / "run", cid="0012", model="gru")
    meta, cells, epochs = report.load(run)
    assert set(cells.cell_id) == {"613e4", "0012"} and set(epochs.cell_id) == {"613e4", "0012"}
    out = report.build(run)
    assert "Training curves" in (out / "REPORT.md").read_text() and (out / "training_curves.png").is_file()
    assert set(load_run(run).cells) == {"613e4", "0012"}
    assert main(["compare", str(run), str(run)]) == 0


def test_a_cells_csv_with_only_the_core_columns_is_readable(tmp_path, capsys):
    run = _run(tmp_path / "run")
    rows = read_table(run / "cells.csv", CELL_COLUMNS)
    with open(run / "cells.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CELL_CORE_COLUMNS)
        writer.writerows([[r[c] for c in CELL_CORE_COLUMNS] for r in rows])
    assert all(r["threads"] is None for r in load_run(run).cells.values())  # extension columns filled empty
    assert main(["compare", str(run), str(run)]) == 0
    assert main(["report", str(run)]) == 0


def test_an_unknown_trailing_column_survives_a_resume(tmp_path):
    run = _run(tmp_path / "run")
    text = (run / "cells.csv").read_text().splitlines()
    (run / "cells.csv").write_text("\n".join([text[0] + ",joules_per_sample", text[1] + ",0.25"]) + "\n")
    with RunStore(run) as store:  # a resume that adds a cell
        store.prepare()
        store.record({**_row("gru"), "cell_id": "c2"})
    rows = {r["cell_id"]: r for r in read_table(run / "cells.csv", CELL_COLUMNS)}
    assert rows["c1"]["joules_per_sample"] == "0.25" and rows["c2"]["joules_per_sample"] == ""
    assert list(rows["c1"])[-1] == "joules_per_sample"


@pytest.mark.parametrize("bad", ["nan", "inf", "-0.01", "0", "abc"])
def test_a_non_finite_or_non_positive_step_time_is_bad_input(tmp_path, bad):
    run = _run(tmp_path / "run")
    lines = (run / "steps.csv").read_text().splitlines()
    fields = lines[3].split(",")
    fields[3] = bad
    lines[3] = ",".join(fields)
    (run / "steps.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInput, match="damaged step time"):
        load_run(run)


@pytest.mark.parametrize("bad", ["nan", "inf", "-0.01", "abc"])
def test_a_damaged_gap_time_is_bad_input(tmp_path, bad):
    run = _run(tmp_path / "run")
    lines = (run / "steps.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + f",{bad}"
    (run / "steps.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BadInput, match="damaged gap time"):
        load_run(run)


def test_steps_are_read_as_wall_clock_cycles_and_an_older_steps_file_still_reads(tmp_path):
    """A step's cycle is its gap and itself (a repeat's cycles sum to its wall); a steps.csv from
    before gaps were recorded reads as the steps alone, and a resume rewrites it with the new column."""
    run = _run(tmp_path / "run")
    rows = read_table(run / "steps.csv", STEP_COLUMNS)
    cid = rows[0]["cell_id"]
    cycles = [float(r["step_s"]) + float(r["gap_s"]) for r in rows if r["cell_id"] == cid]
    assert np.allclose(load_run(run).steps[cid], cycles)
    old = ["cell_id,repeat,step,step_s", *(f"{r['cell_id']},{r['repeat']},{r['step']},{r['step_s']}" for r in rows)]
    (run / "steps.csv").write_text("\n".join(old) + "\n")
    assert np.allclose(load_run(run).steps[cid], [float(r["step_s"]) for r in rows if r["cell_id"] == cid])
    with RunStore(run) as store:
        store.prepare()
        store.record({**_row("gru"), "cell_id": "c2"}, steps=[{"repeat": 0, "step": 0, "step_s": 0.1, "gap_s": 0.01}])
    assert (run / "steps.csv").read_text().splitlines()[0] == ",".join(STEP_COLUMNS)
    assert np.allclose(load_run(run).steps["c2"], [0.11])


def test_a_non_numeric_metric_is_bad_input_naming_column_and_cell(tmp_path, capsys):
    run = _run(tmp_path / "run")
    text = (run / "cells.csv").read_text().replace(",1000", ",fast", 1)
    (run / "cells.csv").write_text(text)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert "'fast'" in err and "train_samples_per_s" in err and "'c1'" in err
