"""What the structure promises (issue 24): each column and identity setting declared once and the rest
derived from it, typed rows and run metadata from the store, one cell label, a light public API, and
modules small enough to read."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rnnbench.config.settings import IDENTITY_SETTINGS, SETTINGS
from rnnbench.config.spec import DEFAULT_UNITS, Cell, SweepSpec, cell_label
from rnnbench.errors import BadInput
from rnnbench.storage import schema
from rnnbench.storage.result import RESULT_COLUMNS, CellResult
from rnnbench.storage.run_meta import FORMAT_VERSION, RunMeta
from rnnbench.storage.store import RunStore, load_run
from rnnbench.verdict.ab import cell_args

ROOT = Path(__file__).resolve().parent.parent
#: The most lines a module may have before it is split (the issue's "about 400").
MAX_MODULE_LINES = 400


def test_every_result_column_is_a_field_or_figure_of_the_cell_result():
    fields = {f.name for f in dataclasses.fields(CellResult)}
    assert [c for c in RESULT_COLUMNS if c not in fields and not hasattr(CellResult, c)] == []
    assert set(schema.POOLED) <= set(RESULT_COLUMNS) and set(schema.POOLED.values()) <= {schema.MEDIAN, schema.LARGEST}


def test_the_column_contract_is_derived_from_the_declarations():
    names = [c.name for c in schema.CELL_COLUMN_DECLS]
    assert len(names) == len(set(names)) and schema.CELL_COLUMNS == tuple(names)
    assert schema.CELL_COLUMNS[:3] == ("cell_id", "model", "arch") and schema.CELL_CORE_COLUMNS[-1] == "wall_s"
    kinds = {c.name: c.kind for c in schema.CELL_COLUMN_DECLS}
    assert {n for n, k in kinds.items() if k is bool} <= schema.BOOL_COLUMNS and "train_samples_per_s" in schema.FLOAT_COLUMNS
    assert not schema.INT_COLUMNS & schema.FLOAT_COLUMNS and not schema.BOOL_COLUMNS & schema.INT_COLUMNS


def test_every_identity_setting_is_a_cell_field_a_column_and_a_history_key():
    cell_fields = {f.name for f in dataclasses.fields(Cell)}
    for setting in IDENTITY_SETTINGS:
        assert setting.column in cell_fields and setting.column in schema.CELL_COLUMNS, setting.name
        assert setting.column in schema.CELL_PARAMS, setting.name
    assert set(schema.CELL_PARAMS) == {s.column for s in IDENTITY_SETTINGS}


def test_the_ab_runs_a_cell_with_every_identity_setting_as_a_flag():
    spec = SweepSpec(models=("lstm",), maxlen=(64,), batch_size=(16,), train_samples=200, speed_target_s=0.5)
    cell = dataclasses.replace(spec.expand()[0], units=64, jit_compile=True)
    args = cell_args(cell, spec, Path("out"), 1)
    given = dict(zip(args[1::2], args[2::2], strict=False))
    assert given["--jit"] == "true"  # the oldest spelling, which every base with XLA knows
    assert given["--units"] == "64" and given["--epochs"] == "0" and given["--test-samples"] == "all"
    assert given["--train-samples"] == "200" and given["--speed-target"] == "0.5"
    flags = {(*s.aliases, s.flag)[0] for s in IDENTITY_SETTINGS}
    assert flags <= set(args)
    tutorial = cell_args(dataclasses.replace(cell, units=DEFAULT_UNITS), spec, Path("out"), 1)
    assert "--units" not in tutorial  # a base older than --units runs the tutorial's width anyway


def test_one_cell_label_for_cells_and_stored_rows(tmp_path):
    cell = SweepSpec(models=("lstm",), maxlen=(64,), batch_size=(16,)).expand()[0]
    assert cell.label == "lstm/generic tensorflow cpu jit_compile=false maxlen=64 batch=16 seed=0"
    assert dataclasses.replace(cell, units=128).label.startswith("lstm/generic units=128 tensorflow")
    with RunStore(tmp_path) as store:
        store.record({**cell.to_dict(), "status": "ok"})
    (row,) = load_run(tmp_path).cells.values()
    assert cell_label(row) == cell.label  # a typed row reads the same as its cell


def test_load_run_gives_typed_rows_and_run_meta(tmp_path):
    cell = SweepSpec(models=("lstm",), maxlen=(64,), batch_size=(16,)).expand()[0]
    with RunStore(tmp_path) as store:
        store.record({**cell.to_dict(), "status": "ok", "train_samples_per_s": 1234.5, "unstable": False, "threads": 2})
        store.write_run_json(RunMeta(preset="p", cells=0, environment={"git_commit": "abc"}, extra={"later": 1}))
    run = load_run(tmp_path)
    (row,) = run.cells.values()
    assert row["train_samples_per_s"] == 1234.5 and row["unstable"] is False and row["threads"] == 2
    assert row["maxlen"] == 64 and row["jit_compile"] is False and row["test_acc"] is None and row["cell_id"] == cell.cell_id
    assert run.meta.preset == "p" and run.meta.cells == 0 and run.meta.commit == "abc" and run.meta.extra == {"later": 1}
    stored = json.loads((tmp_path / "run.json").read_text())
    assert list(stored)[:3] == ["format", "spec", "preset"] and stored["format"] == FORMAT_VERSION
    assert "resumes" not in stored  # written only when there are any
    assert RunMeta.from_json(stored, tmp_path / "run.json") == run.meta


def test_run_meta_names_the_field_of_a_damaged_run_json(tmp_path):
    with pytest.raises(BadInput, match="resumes must be a list of objects"):
        RunMeta.from_json({"resumes": [1]}, tmp_path / "run.json")
    with pytest.raises(BadInput, match="cells must be an int"):
        RunMeta.from_json({"cells": "3"}, tmp_path / "run.json")


def test_accuracy_groups_are_every_identity_setting_but_the_seed_and_speed_target():
    from rnnbench.reporting.intervals import GROUP_COLUMNS

    assert set(GROUP_COLUMNS) == set(schema.CELL_PARAMS) - {"seed", "speed_target_s"}


def test_every_setting_is_declared_once():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))


def test_no_module_is_over_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in sorted([*(ROOT / "bench").rglob("*.py"), *(ROOT / "models").rglob("*.py")])
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"


def test_the_public_api_loads_nothing_until_used():
    code = ("import sys, rnnbench; before = set(sys.modules); spec = rnnbench.SweepSpec(models=('lstm',)); "
            "print(any(m.startswith(('keras', 'tensorflow')) for m in before), rnnbench.run_sweep.__module__, "
            "rnnbench.load_run.__module__, rnnbench.compare_runs.__module__, callable(rnnbench.create_model))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "rnnbench.execute.sweep", "rnnbench.storage.store", "rnnbench.verdict.compare", "True"]
