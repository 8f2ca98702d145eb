"""Nothing of the user's is overwritten or deleted (issue 23): bench/storage/ownership.py and the commands that
write (run, ab, gate, history, report).

Each case of the issue is reproduced as it was reported; none of them runs a cell (each is refused
before one would), except the data-file case, which runs two tiny cells.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rnnbench.cli import main
from rnnbench.errors import BadInput
from rnnbench.execute import sweep
from rnnbench.storage import ownership
from rnnbench.storage.store import COMMAND_LOCK, LOCK
from test_compare import _make_run

TINY = ["--models", "lstm", "--kernels", "generic", "--maxlen", "16", "--batch-size", "32", "--jit-compile", "false",
        "--devices", "cpu", "--epochs", "1", "--train-samples", "256", "--test-samples", "256", "--quiet"]


def _snapshot(root):
    """Every file under ``root`` with its bytes, and every folder."""
    files = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    folders = {p.relative_to(root) for p in root.rglob("*") if p.is_dir()}
    return files, folders


def _one_line_exit_2(code, capsys, *words):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


def _users_folder(path, files):
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


# --- the rule itself ---------------------------------------------------------------------------------

def test_a_folder_is_ours_by_content_never_by_a_file_name(tmp_path):
    theirs = _users_folder(tmp_path / "u", {"run.json": '{"name": "mine"}', "cells.csv": "a,b\n"})
    assert not ownership.is_ours(theirs)
    (theirs / ownership.MARKER).write_text("[1, 2]")  # a file of that name that the harness did not write
    assert not ownership.is_ours(theirs)
    assert ownership.is_ours(_make_run(tmp_path / "run"))  # a run directory of this project's
    (tmp_path / "new").mkdir()
    ownership.claim(tmp_path / "new", "test")
    assert ownership.is_ours(tmp_path / "new")


def test_a_refused_claim_creates_nothing(tmp_path):
    theirs = _users_folder(tmp_path / "u", {"notes.txt": "mine"})
    before = _snapshot(theirs)
    with pytest.raises(BadInput, match="did not make"):
        ownership.claim(theirs, "test")
    assert _snapshot(theirs) == before


def test_output_dir_removes_what_it_created_when_the_command_is_refused(tmp_path):
    with pytest.raises(BadInput):
        with ownership.output_dir(tmp_path / "a" / "b", "test"):
            (tmp_path / "a" / "b" / "partial.txt").write_text("x")
            raise BadInput("refused")
    assert not (tmp_path / "a").exists()


def test_only_marked_folders_are_removed(tmp_path):
    (tmp_path / "mine").mkdir()
    assert not ownership.remove_own(tmp_path / "mine") and (tmp_path / "mine").is_dir()
    with pytest.raises(BadInput, match="did not make"):
        ownership.fresh_subdir(tmp_path / "mine", "test")
    ownership.fresh_subdir(tmp_path / "ours", "test")
    assert ownership.remove_own(tmp_path / "ours") and not (tmp_path / "ours").exists()


def test_making_way_clears_an_earlier_folder_of_ours_and_refuses_a_users(tmp_path):
    ownership.fresh_subdir(tmp_path / "confirm", "A/B timings")
    (tmp_path / "confirm" / "stale.csv").write_text("an earlier run's\n")
    ownership.make_way(tmp_path / "confirm")
    assert not (tmp_path / "confirm").exists()
    ownership.make_way(tmp_path / "confirm")  # nothing there: nothing to do
    _users_folder(tmp_path / "confirm", {"keep.txt": "mine\n"})
    with pytest.raises(BadInput, match="did not make"):
        ownership.make_way(tmp_path / "confirm")
    assert (tmp_path / "confirm" / "keep.txt").read_text() == "mine\n"


# --- the cases 1-6 ---------------------------------------------------------------------------

def test_case_1_a_folder_with_its_own_run_json_is_not_a_run_directory(tmp_path, capsys):
    u = _users_folder(tmp_path / "U", {"run.json": '{"name": "mine"}\n', "notes.txt": "mine\n"})
    before = _snapshot(u)
    _one_line_exit_2(main(["run", *TINY, "--out", str(u)]), capsys, str(u), "did not make")
    assert _snapshot(u) == before


def test_case_2_ab_deletes_nothing_of_the_users(tmp_path, capsys):
    u = _users_folder(tmp_path / "U", {"cells/thesis.txt": "chapter 1\n", "base-code/keep.txt": "mine\n"})
    before = _snapshot(u)
    _one_line_exit_2(main(["ab", "HEAD", *TINY, "--epochs", "0", "--rounds", "1", "--out", str(u)]), capsys, "did not make")
    assert _snapshot(u) == before


@pytest.mark.parametrize("folder", ["base-code", "confirm"])
def test_case_2_inside_an_ab_folder_of_ours_a_users_subfolder_is_refused_not_deleted(tmp_path, capsys, folder):
    u = tmp_path / "U"
    ownership.claim(u, "rnnbench ab output")  # an earlier A/B's folder
    _users_folder(u, {f"{folder}/keep.txt": "mine\n"})
    before = _snapshot(u / folder)
    _one_line_exit_2(main(["ab", "HEAD", *TINY, "--epochs", "0", "--rounds", "1", "--out", str(u)]), capsys, folder)
    assert _snapshot(u / folder) == before
    assert folder == "base-code" or not (u / "base-code").exists()  # confirm/ is refused before any work


def test_case_3_gate_refuses_a_foreign_folder_before_any_lock(tmp_path, capsys):
    baseline = _make_run(tmp_path / "B")
    u2 = _users_folder(tmp_path / "U2", {"README.txt": "mine\n", "ab/data.txt": "mine\n"})
    before = _snapshot(u2)
    code = main(["gate", "--baseline", str(baseline), "--base", "HEAD", *TINY, "--rounds", "1", "--out", str(u2)])
    _one_line_exit_2(code, capsys, "did not make")
    assert _snapshot(u2) == before and not (u2 / COMMAND_LOCK).exists() and not (u2 / LOCK).exists()


def test_case_3_the_gates_out_may_not_hold_or_sit_in_its_baseline(tmp_path, capsys):
    baseline = _make_run(tmp_path / "B")
    before = _snapshot(tmp_path)
    for out in (tmp_path / "B", tmp_path / "B" / "gate", tmp_path):
        code = main(["gate", "--baseline", str(baseline), *TINY, "--out", str(out)])
        _one_line_exit_2(code, capsys, "the input")
    assert _snapshot(tmp_path) == before


def test_case_4_a_refused_command_leaves_no_lock_behind(tmp_path, capsys):
    u3 = tmp_path / "U3"
    _one_line_exit_2(main(["ab", "no-such-ref", *TINY, "--out", str(u3)]), capsys, "no-such-ref")
    assert not u3.exists()  # it made the folder, so it took it away again
    mine = _users_folder(tmp_path / "mine", {"notes.txt": "mine\n"})
    _one_line_exit_2(main(["ab", "no-such-ref", *TINY, "--out", str(mine)]), capsys, "did not make")
    _one_line_exit_2(main(["run", *TINY, "--out", str(mine)]), capsys, "did not make")  # still refused
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_case_5_history_never_writes_into_its_inputs(tmp_path, capsys):
    h = tmp_path / "H"
    _make_run(h / "base"), _make_run(h / "other", speed=0.9)
    before = _snapshot(h)
    for out in (h / "base", h, h / "base" / "charts"):
        code = main(["history", str(h / "base"), str(h / "other"), "--out", str(out)])
        _one_line_exit_2(code, capsys, "the input")
    assert _snapshot(h) == before


def test_report_out_may_not_be_the_run_or_a_users_folder(tmp_path, capsys):
    run = _make_run(tmp_path / "run")
    mine = _users_folder(tmp_path / "mine", {"notes.txt": "mine\n"})
    before = _snapshot(tmp_path)
    _one_line_exit_2(main(["report", str(run), "--out", str(mine)]), capsys, "did not make")
    _one_line_exit_2(main(["report", str(run), "--out", str(tmp_path)]), capsys, "contains the input")
    assert _snapshot(tmp_path) == before


def test_case_6_a_data_file_changed_during_the_sweep_fails_its_cells(tmp_path, monkeypatch, capsys):
    """The fingerprint is taken once; a cell whose file's bytes differ fails naming the change. Here the
    file is replaced right after the sweep took its fingerprint, before any cell reads it."""
    from rnnbench.storage.store import load_run

    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "m.csv"
    data.write_text("text,label\n" + "".join(f"a good film {i},1\na bad film {i},0\n" for i in range(40)))
    taken = sweep._data_source

    def replaced_after_taking(*args):
        options, record = taken(*args)
        data.write_text(data.read_text() + "a third class,2\n" * 10)
        return options, record

    monkeypatch.setattr(sweep, "_data_source", replaced_after_taking)
    out = tmp_path / "run"
    args = ["run", "--dataset", str(data), "--models", "lstm", "--kernels", "generic", "--devices", "cpu",
            "--jit-compile", "false", "--maxlen", "8", "--batch-size", "32", "--epochs", "0", "--seeds", "0,1",
            "--speed-target", "0.1", "--threads", "1", "--out", str(out), "--quiet"]
    main(args)
    rows = load_run(out).cells.values()
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert all("changed during the sweep" in r["error"] for r in rows), [r["error"] for r in rows]


# --- every writing command against generated foreign folders ----------------------------------------

NAMES = st.sampled_from(["run.json", "cells.csv", "steps.csv", "cells", "ab", "ab-code", "base-code", "report",
                         "HISTORY.md", "REPORT.md", ".rnnbench-scratch-1", ".rnnbench.lock", COMMAND_LOCK, "logs",
                         "notes.txt", "data"])
TREES = st.dictionaries(st.lists(NAMES, min_size=1, max_size=3).map(lambda parts: "/".join(parts)),
                        st.binary(max_size=64), min_size=1, max_size=6)


def _plant(root, tree):
    """Write ``tree`` (path -> bytes) under ``root``, skipping a path that collides with a file already there."""
    for rel, data in tree.items():
        path = root / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_bytes(data)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return _make_run(tmp_path_factory.mktemp("inputs") / "base")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREES, command=st.sampled_from(["run", "ab", "gate", "gate-base", "history", "report"]))
def test_every_writing_command_leaves_a_foreign_folder_as_it_was(tmp_path_factory, baseline, capsys, tree, command):
    u = tmp_path_factory.mktemp("foreign")
    _plant(u, tree)
    if ownership.is_ours(u):  # a generated tree that happens to be a valid run.json is not foreign
        return
    before = _snapshot(u)
    argv = {
        "run": ["run", *TINY, "--out", str(u)],
        "ab": ["ab", "HEAD", *TINY, "--rounds", "1", "--out", str(u)],
        "gate": ["gate", "--baseline", str(baseline), *TINY, "--out", str(u)],
        "gate-base": ["gate", "--baseline", str(baseline), "--base", "HEAD", *TINY, "--out", str(u)],
        "history": ["history", str(baseline), "--out", str(u)],
        "report": ["report", str(baseline), "--out", str(u)],
    }[command]
    assert main(argv) == 2
    capsys.readouterr()
    assert _snapshot(u) == before


def test_the_gates_history_store_may_not_be_a_users_folder(tmp_path, capsys):
    baseline = _make_run(tmp_path / "B")
    mine = _users_folder(tmp_path / "mine", {"notes.txt": "mine\n", "photos/a.jpg": "jpeg"})
    before = _snapshot(mine)
    code = main(["gate", "--baseline", str(baseline), *TINY, "--out", str(tmp_path / "g"), "--history", str(mine)])
    _one_line_exit_2(code, capsys, "--history", "did not make")
    assert _snapshot(mine) == before and not (tmp_path / "g").exists()
