"""Same-machine A/B (bench/verdict/ab.py) and the gate's choice of path (bench/verdict/gate.py).

The verdict logic runs on prepared run directories and a fake cell runner (timing is not under test
there); one slow test exports and installs a real commit and times a tiny cell with it, to prove that
the base side runs its own code.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from rnnbench.cli import main
from rnnbench.config.presets import get_preset
from rnnbench.config.spec import SweepSpec
from rnnbench.storage import environment, ownership
from rnnbench.storage.store import RunStore
from rnnbench.verdict import ab, code_versions, gate

#: The gate's preset narrowed to two models; every gate call below passes the same --models.
SPEC = get_preset("regress").replace(models=("lstm", "gru"))
MODELS = ["--models", "lstm,gru"]
THIS = {"host": "ci-2", "cpu": {"model": "Intel Xeon", "flags": ["avx"], "logical_cores": 2}, "gpus": [],
        "python": "3.11.7", "packages": {"keras": "3.15.1", "tensorflow": "2.21.0"}}
OTHER = {**THIS, "host": "vm", "cpu": {"model": "AMD EPYC", "flags": ["avx"], "logical_cores": 2},
         "git_commit": "239f6e38a9c56bd3e8a6aeeb9010712fb0f559d2"}


def _write_run(path, env, speed=1.0, acc=0.76, only=None):
    """A run of SPEC's cells, lstm's throughput scaled by ``speed``, with raw steps and a calibration."""
    rng = np.random.default_rng(len(str(path)))
    with RunStore(path) as store:
        for cell in SPEC.expand():
            if only is not None and cell.cell_id not in only:
                continue
            sps = 1000.0 * (speed if cell.model == "lstm" else 1.0)
            steps = [{"repeat": i // 10, "step": i % 10, "step_s": 32 / sps * (1 + 0.02 * rng.standard_normal())} for i in range(50)]
            store.record({**cell.to_dict(), "status": "ok", "params": 1000, "train_samples_per_s": sps,
                          "test_acc": acc if cell.model == "lstm" else 0.5, "threads": 1}, steps=steps)
        store.write_run_json({"environment": env, "calibration": [{"backend": "tensorflow", "device": "cpu", "matmul_gflops": 100.0}]})
    return path


@pytest.fixture
def gate_env(tmp_path, monkeypatch):
    """A baseline recorded on another machine; the gate's own sweeps replaced by prepared runs."""
    baseline = _write_run(tmp_path / "base", OTHER)
    monkeypatch.setattr(gate.environment, "collect", lambda: dict(THIS))
    sweeps = []

    def fake_run_sweep(spec, out, preset=None, force=False, quiet=False, only=None):
        sweeps.append((str(out), spec.processes, spec.launch))
        _write_run(out, THIS, speed=0.6)  # 40% slower than the baseline: speed across machines is not a verdict

    monkeypatch.setattr(gate, "run_sweep", fake_run_sweep)
    return baseline, sweeps


def _gate(baseline, tmp_path, *extra) -> int:
    """``rnnbench gate`` against ``baseline`` into TMP/gate, on the two models of SPEC."""
    return main(["gate", "--baseline", str(baseline), *extra, "--out", str(tmp_path / "gate"), "--quiet", *MODELS])


def _fake_ab(monkeypatch, new_speed, calls=None, base_acc=0.76):
    """The base's code 'installed' without git, each version timed by a fake runner; trained here, the
    base's LSTM reaches ``base_acc`` (the GRU 0.5, as _write_run's)."""
    base = ab.CodeVersion("base", "239f6e3", OTHER["git_commit"], None, "rnnbench.cli:main")
    monkeypatch.setattr(gate.ab, "materialise", lambda ref, work: base)
    monkeypatch.setattr(gate.ab, "imported_from", lambda version, cwd: cwd)

    def runner(version, cell, spec, out):
        if calls is not None:
            calls.append((version.label, cell.model))
        rate = 1000.0 * (new_speed if version.label == "new" and cell.model == "lstm" else 1.0)
        rng = np.random.default_rng(len(calls or ()))
        steps = 32 / rate * (1 + 0.01 * rng.standard_normal(40))
        return ab.Timing([32 * 10 / s.sum() for s in steps.reshape(4, 10)], steps)

    monkeypatch.setattr(gate.ab, "run_version_cell", runner)
    monkeypatch.setattr(gate.ab, "run_version_accuracy",
                        lambda version, cell, spec, out: base_acc if cell.model == "lstm" else 0.5)


def test_a_baseline_from_another_machine_takes_the_ab_path(gate_env, tmp_path, monkeypatch, capsys):
    baseline, sweeps = gate_env
    calls = []
    _fake_ab(monkeypatch, new_speed=1.0, calls=calls)
    code = _gate(baseline, tmp_path)
    out = capsys.readouterr().out
    assert code == 0, out  # the -40% against the other machine's baseline is information, not a verdict
    assert "speed and accuracy gated against the base code on this machine" in out and "CPU: AMD EPYC vs Intel Xeon" in out
    assert "| info      | speed" in out and "A/B on this machine, rounds timed: base 3, new 3; threshold -15%" in out, out
    assert len(calls) == 2 * 2 * 3  # two versions, two cells, three rounds
    # One accuracy sweep, one speed process, its cells started as the baseline's (rows without a launch spawned)
    assert sweeps == [(str(tmp_path / "gate"), 1, "spawn")]


def test_a_slower_new_side_in_the_ab_is_confirmed_and_fails_the_gate(gate_env, tmp_path, monkeypatch, capsys):
    baseline, _ = gate_env
    calls = []
    _fake_ab(monkeypatch, new_speed=0.7, calls=calls)
    code = _gate(baseline, tmp_path)
    out = capsys.readouterr().out
    assert code == 1
    assert "| regression | speed    | lstm/generic" in out and "confirmed by a second A/B (-30." in out, out
    assert len(calls) == 12 + 2 * 3  # the confirmation times only the flagged lstm cell


def test_a_gate_clears_an_earlier_gates_confirmations_and_refuses_a_users_folder_of_that_name(gate_env, tmp_path, monkeypatch,
                                                                                                capsys):
    baseline, _ = gate_env
    _fake_ab(monkeypatch, new_speed=1.0)
    ownership.claim(tmp_path / "gate", "run directory")  # an earlier gate's --out, whose second A/B flagged a cell
    ownership.fresh_subdir(tmp_path / "gate" / "ab-confirm-2", "A/B timings")
    assert _gate(baseline, tmp_path) == 0  # nothing flagged this time: no second A/B, and no stale one beside it
    assert not (tmp_path / "gate" / "ab-confirm-2").exists()
    (tmp_path / "gate" / "confirm").mkdir()
    (tmp_path / "gate" / "confirm" / "notes.txt").write_text("mine\n")
    capsys.readouterr()
    assert _gate(baseline, tmp_path) == 2 and "did not make" in capsys.readouterr().err
    assert (tmp_path / "gate" / "confirm" / "notes.txt").read_text() == "mine\n"


def test_without_the_baseline_commit_speed_is_reported_not_gated_and_the_gate_passes(gate_env, tmp_path, capsys):
    baseline, _ = gate_env
    run_json = baseline / "run.json"
    meta = json.loads(run_json.read_text())
    meta["environment"]["git_commit"] = "0" * 40  # a commit no clone has (as in a shallow clone)
    run_json.write_text(json.dumps(meta))
    code = _gate(baseline, tmp_path)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "speed NOT GATED" in out and "no A/B was possible" in out and f"rnnbench gate --base {'0' * 40}" in out
    assert "| not gated | speed" in out and "| regression" not in out


def test_without_the_commit_an_accuracy_drop_still_fails_the_gate(tmp_path, monkeypatch, capsys):
    baseline = _write_run(tmp_path / "base", {**OTHER, "git_commit": None})
    monkeypatch.setattr(gate.environment, "collect", lambda: dict(THIS))
    monkeypatch.setattr(gate, "run_sweep", lambda spec, out, **kw: _write_run(out, THIS, acc=0.60))
    assert _gate(baseline, tmp_path) == 1
    out = capsys.readouterr().out
    assert "records no git commit" in out and "| regression | accuracy" in out


def test_the_same_machine_keeps_the_direct_path(tmp_path, monkeypatch, capsys):
    baseline = _write_run(tmp_path / "base", THIS)
    monkeypatch.setattr(gate.environment, "collect", lambda: {**THIS, "host": "renamed"})  # a host name is no machine
    monkeypatch.setattr(gate, "run_sweep", lambda spec, out, **kw: _write_run(out, THIS, speed=0.98))

    def no_ab(ref, work):
        raise AssertionError("the A/B must not run on the baseline's own machine")

    monkeypatch.setattr(gate.ab, "materialise", no_ab)
    assert _gate(baseline, tmp_path) == 0
    assert "against the committed baseline, recorded on this kind of machine" in capsys.readouterr().out


def test_base_ref_runs_the_ab_on_the_same_machine(tmp_path, monkeypatch, capsys):
    baseline = _write_run(tmp_path / "base", THIS)
    monkeypatch.setattr(gate.environment, "collect", lambda: dict(THIS))
    monkeypatch.setattr(gate, "run_sweep", lambda spec, out, **kw: _write_run(out, THIS))
    refs = []
    _fake_ab(monkeypatch, new_speed=1.0)
    materialise = gate.ab.materialise
    monkeypatch.setattr(gate.ab, "materialise", lambda ref, work: refs.append(ref) or materialise(ref, work))
    assert _gate(baseline, tmp_path, "--base", "main") == 0
    assert refs == ["main"] and "(--base main)" in capsys.readouterr().out


def _other_cpus_accuracy(tmp_path, monkeypatch, base_acc_here: float) -> int:
    """A baseline whose LSTM reached 0.80 on another CPU; the code under test reaches 0.7755 here."""
    baseline = _write_run(tmp_path / "base", OTHER, acc=0.80)
    monkeypatch.setattr(gate.environment, "collect", lambda: dict(THIS))
    monkeypatch.setattr(gate, "run_sweep", lambda spec, out, **kw: _write_run(out, THIS, acc=0.7755))
    _fake_ab(monkeypatch, new_speed=1.0, base_acc=base_acc_here)
    return _gate(baseline, tmp_path)


def test_unchanged_code_passes_accuracy_judged_against_the_base_trained_here(tmp_path, monkeypatch, capsys):
    # -0.0245 against the other CPU's figure, beyond the 0.02 threshold: information; here it is +0.0000.
    assert _other_cpus_accuracy(tmp_path, monkeypatch, base_acc_here=0.7755) == 0
    out = capsys.readouterr().out
    assert re.search(r"\| unchanged +\| accuracy \| lstm", out) and "+0.0000" in out
    assert "against the base code trained on this machine" in out
    assert re.search(r"\| info +\| accuracy \| lstm", out) and "-0.0245" in out and "recorded elsewhere: information only" in out


def test_an_accuracy_drop_against_the_base_trained_here_fails_the_gate(tmp_path, monkeypatch, capsys):
    assert _other_cpus_accuracy(tmp_path, monkeypatch, base_acc_here=0.80) == 1
    out = capsys.readouterr().out
    assert "| regression | accuracy | lstm" in out and "against the base code trained on this machine" in out


def test_rounds_alternate_which_version_goes_first(tmp_path):
    calls = []

    def runner(version, cell, spec, out):
        calls.append((version.label, cell.model))
        return ab.Timing([1000.0], np.full(10, 0.032))

    base, new = (ab.CodeVersion(label, "x", None, None, "rnnbench.cli:main") for label in ("base", "new"))
    ab.run_ab(SPEC.expand(), SPEC, base, new, tmp_path / "ab", ab.ABSettings(rounds=2, quiet=True), runner=runner)
    assert calls == [("base", "lstm"), ("new", "lstm"), ("new", "gru"), ("base", "gru"),
                     ("new", "lstm"), ("base", "lstm"), ("base", "gru"), ("new", "gru")]


def test_each_rounds_change_is_shown_so_a_slow_spell_stands_out(tmp_path):
    """The new side's second round ran in a slow spell (half speed): the pooled verdict shows it only as
    a smaller median, the rounds side by side as one round out of line."""
    speeds = {("base", 1): 1000.0, ("new", 1): 1010.0, ("base", 2): 1000.0, ("new", 2): 500.0,
              ("base", 3): 1000.0, ("new", 3): 990.0}

    def runner(version, cell, spec, out):
        rate = speeds[version.label, int(out.name.split("-")[-1])]
        return ab.Timing([rate, rate], np.full(20, 32 / rate))

    base, new = (ab.CodeVersion(label, "x", None, None, "rnnbench.cli:main") for label in ("base", "new"))
    result = ab.run_ab(SPEC.expand()[:1], SPEC, base, new, tmp_path / "ab", ab.ABSettings(rounds=3, quiet=True), runner=runner)
    (finding,) = result.findings
    assert "by round: +1.0%, -50.0%, -1.0%" in finding.note
    assert ab.round_changes([ab.Timing([1.0], np.ones(1))], [ab.Timing([2.0], np.ones(1))], 1) == ""  # one round: the change itself
    assert ab.round_changes([ab.Timing([1.0], np.ones(1))] * 2, [ab.Timing([2.0], np.ones(1))], 2) == ""  # a round failed


@pytest.mark.parametrize("second, code, verdict, says", [
    ("slower", 1, "regression", "confirmed by a second A/B (-31.0%)"),
    ("as fast", 0, "unchanged", "not confirmed: a second A/B gave -1.0% (a slow spell of the machine)"),
    ("base fails", 1, "regression", "a second A/B was not possible (the base code timed no cell (failed: boom)): "
                                    "the regression stands"),
])
def test_rnnbench_ab_names_a_cell_slower_only_if_a_second_ab_repeats_it(tmp_path, monkeypatch, capsys, second, code, verdict,
                                                                         says):
    base = ab.CodeVersion("base", "239f6e3", "0" * 40, None, "rnnbench.cli:main")
    monkeypatch.setattr(ab, "materialise", lambda ref, work: base)
    monkeypatch.setattr(ab, "imported_from", lambda version, cwd: cwd)
    timed = []
    out_dir = tmp_path / "ab"
    ownership.claim(out_dir, "rnnbench ab output")  # an earlier run's folder, with its second A/B: gone when none is needed
    ownership.fresh_subdir(out_dir / "confirm", "A/B timings")
    (out_dir / "confirm" / "stale").write_text("")

    def runner(version, cell, spec, out):
        again = "confirm" in out.parts
        timed.append((again, version.label, cell.model))
        if again and second == "base fails" and version.label == "base":
            return "failed: boom"
        slower = version.label == "new" and cell.model == "lstm" and (second == "slower" or not again)
        rate = 700.0 if slower and not again else 690.0 if slower else 990.0 if again and version.label == "new" else 1000.0
        steps = np.full(20, 32 / rate) * (1 + 0.001 * np.arange(20))  # a spread, for the rank test
        return ab.Timing([32 * 10 / s.sum() for s in steps.reshape(2, 10)], steps)

    monkeypatch.setattr(ab, "run_version_cell", runner)
    assert main(["ab", "HEAD", *MODELS, "--rounds", "1", "--quiet", "--out", str(out_dir)]) == code
    out = capsys.readouterr().out
    lstm = next(line for line in out.splitlines() if "| lstm/" in line)
    assert lstm.startswith(f"| {verdict} ") and says in lstm, out
    assert [t for t in timed if t[0]] == [(True, "base", "lstm"), (True, "new", "lstm")]  # only the flagged cell again
    assert not (out_dir / "confirm" / "stale").exists()


def test_a_cell_the_base_cannot_time_is_not_gated_and_one_the_new_code_cannot_time_regresses(tmp_path):
    def runner(version, cell, spec, out):
        if (version.label, cell.model) in (("base", "lstm"), ("new", "gru")):
            return f"failed: {version.label} broke"
        return ab.Timing([1000.0, 1010.0], np.full(20, 0.032))

    base, new = (ab.CodeVersion(label, "x", None, None, "rnnbench.cli:main") for label in ("base", "new"))
    result = ab.run_ab(SPEC.expand(), SPEC, base, new, tmp_path / "ab", ab.ABSettings(rounds=1, quiet=True), runner=runner)
    verdicts = {f.cell.split("/")[0]: (f.verdict, f.note) for f in result.findings}
    assert verdicts["lstm"][0] == "not gated" and "base broke" in verdicts["lstm"][1]
    assert verdicts["gru"][0] == "regression" and "new broke" in verdicts["gru"][1]


def test_the_base_never_sees_the_test_plants(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNBENCH_PLANT_SLOWDOWN", "lstm:0.3")
    base = ab.CodeVersion("base", "x", None, tmp_path, "rnnbench.cli:main")
    new = ab.CodeVersion("new", "x", None, None, "rnnbench.cli:main")
    assert "RNNBENCH_PLANT_SLOWDOWN" not in base.env() and base.env()["PYTHONPATH"].startswith(str(tmp_path))
    assert new.env()["RNNBENCH_PLANT_SLOWDOWN"] == "lstm:0.3"
    assert base.env()["PYTHONSAFEPATH"] == new.env()["PYTHONSAFEPATH"] == "1"


def test_gate_refuses_an_out_inside_the_baseline(tmp_path, monkeypatch, capsys):
    baseline = _write_run(tmp_path / "base", THIS)
    before = {p: p.read_bytes() for p in baseline.iterdir() if p.is_file()}
    for out in (baseline, baseline / "sub"):
        assert main(["gate", "--baseline", str(baseline), "--out", str(out), "--quiet", *MODELS]) == 2
        assert "the input" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in baseline.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("change, expected", [
    ({}, []),
    ({"host": "elsewhere"}, []),
    ({"cpu": {"model": "AMD EPYC", "flags": ["avx"], "logical_cores": 2}}, ["CPU: Intel Xeon vs AMD EPYC"]),
    ({"cpu": {"model": "Intel Xeon", "flags": ["avx", "avx512f"], "logical_cores": 2}}, ["CPU flags: avx vs avx,avx512f"]),
    ({"cpu": {"model": "Intel Xeon", "flags": ["avx"], "logical_cores": 8}}, ["cores: 2 vs 8"]),
    ({"gpus": [{"name": "H200"}]}, ["GPUs: none vs H200"]),
    ({"packages": {"keras": "3.16.0", "tensorflow": "2.21.0"}}, ["keras: 3.15.1 vs 3.16.0"]),
    ({"packages": {"keras": "3.15.1", "tensorflow": "2.21.0", "torch": "2.5"}}, []),  # a backend the cells do not use
])
def test_which_differences_make_another_machine(change, expected):
    assert environment.differences(THIS, {**THIS, **change}, ("tensorflow",)) == expected


def test_differences_tolerate_a_run_json_of_the_wrong_shape():
    assert environment.differences({"cpu": "x", "gpus": None, "packages": []}, THIS)  # differs, and no exception


def test_a_missing_commit_is_named_with_the_shallow_clone_hint(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(ab.ABUnavailable, match="is not in the clone"):
        code_versions.resolve("0" * 40, tmp_path)


@pytest.mark.slow
def test_the_base_runs_its_own_exported_code(tmp_path, monkeypatch):
    """HEAD exported and installed apart: its processes import that copy, and it times a real cell."""
    try:
        root = code_versions.source_root()
    except ab.ABUnavailable as exc:
        pytest.skip(f"not a git clone: {exc}")
    base = ab.materialise("HEAD", tmp_path / "code")
    assert base.commit == code_versions.resolve("HEAD", root) and base.site is not None
    assert ab.imported_from(base, tmp_path).is_relative_to(base.site)
    assert not ab.imported_from(ab.this_version(), tmp_path).is_relative_to(base.site)
    spec = SweepSpec(models=("simple_rnn",), maxlen=(20,), batch_size=(32,), epochs=0, train_samples=256,
                     test_samples=64, speed_target_s=0.2, threads=1)
    cell = spec.expand()[0]
    monkeypatch.chdir(tmp_path)  # a relative --out, as CI's gate gives: it used to be looked for in the wrong folder
    timing = ab.run_version_cell(base, cell, spec, Path("cells") / "base-1")
    assert isinstance(timing, ab.Timing), timing
    assert len(timing.repeat_samples_per_s) >= 5 and np.all(timing.step_s > 0)
    assert (tmp_path / "cells" / "base-1" / "cells.csv").is_file()


# Found in review: ways a slowdown or a broken A/B could still pass.

def test_a_base_that_times_no_cell_leaves_speed_not_gated(gate_env, tmp_path, monkeypatch, capsys):
    baseline, _ = gate_env
    _fake_ab(monkeypatch, new_speed=0.5)
    real = gate.ab.run_version_cell

    def base_breaks(version, cell, spec, out):
        return "its rnnbench run exited with code 2: unrecognized arguments: --no-report" if version.label == "base" \
            else real(version, cell, spec, out)

    monkeypatch.setattr(gate.ab, "run_version_cell", base_breaks)
    assert _gate(baseline, tmp_path) == 0
    out = capsys.readouterr().out
    assert "speed NOT GATED" in out and "the base code timed no cell" in out and "gated against the base code" not in out


def test_a_damaged_speed_figure_stays_a_regression_on_the_ab_path(tmp_path, monkeypatch, capsys):
    baseline = _write_run(tmp_path / "base", OTHER)
    monkeypatch.setattr(gate.environment, "collect", lambda: dict(THIS))

    def damaged(spec, out, **kw):
        _write_run(out, THIS)
        with RunStore(out) as store:  # the new code wrote an empty throughput for lstm
            for row in list(store.rows.values()):
                if row["model"] == "lstm":
                    store.record({**row, "train_samples_per_s": None})

    monkeypatch.setattr(gate, "run_sweep", damaged)
    _fake_ab(monkeypatch, new_speed=1.0)
    assert _gate(baseline, tmp_path) == 1
    assert "train_samples_per_s missing or not a valid number in an ok cell" in capsys.readouterr().out


def test_a_baseline_recorded_from_uncommitted_code_is_not_gated(gate_env, tmp_path, monkeypatch, capsys):
    baseline, _ = gate_env
    meta = json.loads((baseline / "run.json").read_text())
    meta["environment"]["git_commit"] += "+dirty"
    (baseline / "run.json").write_text(json.dumps(meta))
    _fake_ab(monkeypatch, new_speed=0.5)
    assert _gate(baseline, tmp_path) == 0
    assert "uncommitted code changes" in capsys.readouterr().out


def test_a_new_side_that_fails_in_some_rounds_is_a_regression(tmp_path):
    calls = []

    def runner(version, cell, spec, out):
        calls.append((version.label, cell.model))
        if calls.count(("new", "lstm")) == 1 and (version.label, cell.model) == ("new", "lstm"):
            return "exited with code -11"  # the first round only
        return ab.Timing([1000.0, 1001.0], np.full(20, 0.032))

    base, new = (ab.CodeVersion(label, "x", None, None, "rnnbench.cli:main") for label in ("base", "new"))
    result = ab.run_ab(SPEC.expand(), SPEC, base, new, tmp_path / "ab", ab.ABSettings(rounds=3, quiet=True), runner=runner)
    assert any(f.check == "status" and f.verdict == "regression" and "failed in" in f.note for f in result.findings)


def test_a_cell_newly_skipped_on_the_baseline_s_machine_is_a_regression(tmp_path, monkeypatch, capsys):
    baseline = _write_run(tmp_path / "base", THIS)
    monkeypatch.setattr(gate.environment, "collect", lambda: dict(THIS))

    def skipping(spec, out, **kw):
        _write_run(out, THIS)
        with RunStore(out) as store:
            for row in list(store.rows.values()):
                store.record({**row, "status": "skipped", "error": "the new planner skips it"})

    monkeypatch.setattr(gate, "run_sweep", skipping)
    assert _gate(baseline, tmp_path) == 1
    assert "| regression | status" in capsys.readouterr().out


def test_a_second_gate_on_the_same_out_is_refused(tmp_path, monkeypatch, capsys):
    from filelock import FileLock
    from rnnbench.storage.store import COMMAND_LOCK

    baseline = _write_run(tmp_path / "base", THIS)
    ownership.claim(tmp_path / "gate", "rnnbench gate output")  # the other gate's folder
    with FileLock(tmp_path / "gate" / COMMAND_LOCK):
        assert _gate(baseline, tmp_path) == 2
    assert "in use by another rnnbench gate" in capsys.readouterr().err


def test_each_version_is_told_to_spawn_where_its_run_has_the_flag(tmp_path):
    """Versions from before --launch always spawned, later ones fork by default: an A/B spawns both."""
    from rnnbench.verdict.ab import launch_args
    from rnnbench.verdict.code_versions import CodeVersion, this_version

    assert launch_args(this_version()) == ("--launch", "spawn")
    (tmp_path / "old_cli.py").write_text("def main():\n    print('usage: rnnbench run [--out DIR] [--threads N]')\n    return 0\n")
    old = CodeVersion(label="base", ref="old", commit=None, site=tmp_path, entry="old_cli:main")
    assert launch_args(old) == ()
