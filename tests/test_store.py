"""The run directory: atomic commits, resume bookkeeping, torn tails, damage and the lock."""

from __future__ import annotations

import pandas as pd
import pytest
from rnnbench.errors import BadInput
from rnnbench.storage import ownership
from rnnbench.storage.schema import CELL_COLUMNS, EPOCH_COLUMNS
from rnnbench.storage.store import RunStore, read_table


def _row(cid, status="ok", **metrics):
    return {"cell_id": cid, "model": "lstm", "status": status, **metrics}


def test_record_and_reload(tmp_path):
    with RunStore(tmp_path) as store:
        store.record(_row("a", train_samples_per_s=123.456789, val_acc=None), epochs=[{"epoch": 1, "loss": 0.5}],
                     steps=[{"repeat": 0, "step": 0, "step_s": 0.01}])
        store.record(_row("b", "failed", error="boom, with a comma"))
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert list(cells.columns) == list(CELL_COLUMNS)
    assert cells.loc[0, "train_samples_per_s"] == pytest.approx(123.457)
    assert pd.isna(cells.loc[0, "val_acc"])  # unmeasured is empty, not 0
    assert cells.loc[1, "error"] == "boom, with a comma"
    assert list(pd.read_csv(tmp_path / "epochs.csv").columns) == list(EPOCH_COLUMNS)
    with RunStore(tmp_path) as store:
        assert store.status("a") == "ok" and store.status("b") == "failed" and store.status("c") is None


def test_rerecord_replaces_the_row(tmp_path):
    with RunStore(tmp_path) as store:
        store.record(_row("a", "failed", error="x"))
        store.record(_row("a", "ok"))
    assert len(read_table(tmp_path / "cells.csv", CELL_COLUMNS)) == 1


def test_prepare_drops_orphans_and_a_rerun_replaces_rows_only_when_committed(tmp_path):
    with RunStore(tmp_path) as store:
        store.record(_row("a"), epochs=[{"epoch": 1}])
        store.record(_row("b"), epochs=[{"epoch": 1}])
    # An orphan: epochs appended for cell c, killed before c's row was committed.
    with open(tmp_path / "epochs.csv", "a") as f:
        f.write("c,1,,,,,\n")
    with RunStore(tmp_path) as store:
        store.prepare()
        assert {r["cell_id"] for r in read_table(tmp_path / "epochs.csv", EPOCH_COLUMNS)} == {"a", "b"}
        store.record(_row("b"), epochs=[{"epoch": 1, "loss": 0.25}, {"epoch": 2, "loss": 0.2}])  # b rerun
    rows = read_table(tmp_path / "epochs.csv", EPOCH_COLUMNS)
    assert [(r["cell_id"], r["epoch"], r["loss"]) for r in rows] == [("a", "1", ""), ("b", "1", "0.25"), ("b", "2", "0.2")]


def test_torn_tail_is_repaired(tmp_path):
    with RunStore(tmp_path) as store:
        store.record(_row("a"), epochs=[{"epoch": 1}, {"epoch": 2}])
    with open(tmp_path / "epochs.csv", "a") as f:
        f.write("a,3,0.1")  # a kill mid-write
    with open(tmp_path / "cells.csv", "a") as f:
        f.write("zz,lst")
    with RunStore(tmp_path) as store:
        store.prepare()
        assert set(store.rows) == {"a"}
    assert len(pd.read_csv(tmp_path / "epochs.csv")) == 2
    assert len(pd.read_csv(tmp_path / "cells.csv")) == 1


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty file"),
        ("hello,world\n1,2\n", "header"),
        (",".join(CELL_COLUMNS) + "\na,b\n", "damaged at line 2"),
        (",".join(CELL_COLUMNS) + "\n" + ",".join(["x"] * len(CELL_COLUMNS)) + "\n", "status 'x'"),
    ],
)
def test_damaged_cells_csv_is_refused_untouched(tmp_path, content, message):
    ownership.claim(tmp_path, "run directory")  # a run directory the harness made, damaged since
    (tmp_path / "cells.csv").write_text(content)
    with pytest.raises(BadInput, match=message):
        RunStore(tmp_path).__enter__()
    assert (tmp_path / "cells.csv").read_text() == content
    # the lock was released: the directory can be opened once repaired
    (tmp_path / "cells.csv").unlink()
    with RunStore(tmp_path):
        pass


def test_lock_refuses_a_second_sweep(tmp_path):
    with RunStore(tmp_path):
        with pytest.raises(BadInput, match="in use by another rnnbench run"):
            RunStore(tmp_path).__enter__()


def test_run_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(BadInput, match="not a directory"):
        RunStore(f)


def test_damaged_run_json(tmp_path):
    ownership.claim(tmp_path, "run directory")
    (tmp_path / "run.json").write_text("{not json")
    with RunStore(tmp_path) as store, pytest.raises(BadInput, match="damaged run.json"):
        store.read_run_json()


def test_result_files_get_the_umask_mode(tmp_path):
    """mkstemp alone makes 0600 files; results are meant to be read by others."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        with RunStore(tmp_path) as store:
            store.record(_row("a"))
            store.write_run_json({"x": 1})
    finally:
        os.umask(old)
    for name in ("cells.csv", "run.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_part_of_a_cell_s_identity_is_a_column():
    """cell_id hashes the Cell's fields; each must be recorded, or two rows could differ invisibly."""
    import dataclasses

    from rnnbench.config.spec import Cell

    assert {f.name for f in dataclasses.fields(Cell)} <= set(CELL_COLUMNS)
