"""The evidence leaderboard, convergence and time to accuracy (issue 25, items 3 and 4), and the
``rnnbench models`` command on a run directory written through the store."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from rnnbench.cli import main
from rnnbench.config.spec import SweepSpec
from rnnbench.execute import sweep
from rnnbench.execute.executor import CellOutcome
from rnnbench.reporting import leaderboard
from rnnbench.storage.predictions import Predictions, digest
from rnnbench.verdict import convergence

N = 2000
DIFFICULTY = np.random.default_rng(99).random(N)
LABELS = (np.random.default_rng(98).random(N) < 0.5).astype(np.float32)
HERE = {"host": "vm", "cpu": {"model": "AMD EPYC", "flags": ["avx"], "logical_cores": 2}, "gpus": [], "python": "3.11.7",
        "packages": {"keras": "3.15.1", "tensorflow": "2.21.0"}, "git_commit": "aaa", "started_at": "2026-11-29T20:00:00+00:00"}


def _predictions(acc: float, noise_seed: int) -> Predictions:
    """A model right on the examples easier than ``acc``, 3% of them flipped by its seed: correlated errors."""
    right = (DIFFICULTY < acc) ^ (np.random.default_rng(noise_seed).random(N) < 0.03)
    outputs = np.where(right == (LABELS == 1), 0.9, 0.1).reshape(-1, 1)
    return Predictions.from_outputs(outputs, LABELS, "split")


def _curve(final: float, epochs: int = 4, epoch_s: float = 10.0) -> list[dict]:
    """Validation accuracy rising linearly from chance to ``final``."""
    return [{"epoch": e, "val_acc": 0.5 + (final - 0.5) * e / epochs, "epoch_s": epoch_s} for e in range(1, epochs + 1)]


def _run(accuracies: dict[str, list[float]], curves: dict[str, list[float]] | None = None):
    """Rows, predictions and epochs of one run: a cell per (model, seed) with the given test accuracies and
    final validation accuracies (default: the test accuracy)."""
    rows, predictions, epochs = [], {}, []
    for m, (model, accs) in enumerate(accuracies.items()):
        for seed, acc in enumerate(accs):
            cid = f"{model}-{seed}"
            p = _predictions(acc, 100 * m + seed)
            final = (curves or {}).get(model, accs)[seed]
            predictions[cid] = p
            rows.append({"cell_id": cid, "status": "ok", "model": model, "kernel": "generic", "backend": "tensorflow",
                         "device": "cpu", "seed": seed, "maxlen": 100, "test_acc": p.accuracy, "chance_acc": 0.5,
                         "acc_ceiling": 0.9, "val_acc_best": final, "train_samples_per_s": 1000.0 + m})
            epochs.extend({**e, "cell_id": cid} for e in _curve(final))
    return rows, predictions, epochs


def _record(board, model):
    return next(r for r in board.records if r["model"] == model)


def test_a_seed_that_stayed_at_chance_is_counted_not_averaged_away():
    rows, predictions, epochs = _run({"gru": [0.86, 0.55]}, curves={"gru": [0.86, 0.55]})
    board = leaderboard.build(rows, predictions, epochs, replicates=200)
    gru = _record(board, "gru")
    assert gru["converged"] == "1 of 2"
    assert gru[leaderboard.ACC_COLUMN] == f"{rows[0]['test_acc']:.3f}, {rows[1]['test_acc']:.3f}"  # each seed, no t-interval


def test_from_three_seeds_the_interval_is_shown_and_never_leaves_0_to_1():
    rows, predictions, epochs = _run({"lstm": [0.99, 0.55, 0.99]})
    text = _record(leaderboard.build(rows, predictions, epochs, replicates=200), "lstm")[leaderboard.ACC_COLUMN]
    mean, interval = text.split(" ", 1)
    low, high = (float(v) for v in interval.strip("[]").split(", "))
    assert float(mean) == pytest.approx(np.mean([r["test_acc"] for r in rows]), abs=5e-4)
    assert low == 0.0 or low > 0 and high == 1.0  # the t-interval of (0.99, 0.55, 0.99) runs past 1


def test_rows_are_ranked_on_their_mean_with_the_verdict_against_the_next():
    rows, predictions, epochs = _run({"simple_rnn": [0.80, 0.81, 0.79], "lstm": [0.86, 0.87, 0.85], "gru": [0.865, 0.855, 0.85]})
    board = leaderboard.build(rows, predictions, epochs, replicates=500)
    assert [r["model"] for r in board.records] == ["lstm", "gru", "simple_rnn"]
    assert board.records[1][leaderboard.VERDICT_COLUMN].startswith("better")  # gru vs simple_rnn: 5 points
    assert board.records[2][leaderboard.VERDICT_COLUMN] is None  # the last row has no next
    assert any("Bonferroni over the 2 shown" in n for n in board.notes)


def test_time_to_target_is_the_median_over_the_seeds_that_reached_it():
    # target: 80% of the way from chance 0.5 to the ceiling 0.9 = 0.82; curves rise linearly over 4 epochs of 10 s.
    rows, predictions, epochs = _run({"lstm": [0.86, 0.86, 0.86], "simple_rnn": [0.8, 0.8, 0.8]},
                                     curves={"lstm": [0.84, 1.0, 0.60], "simple_rnn": [0.7, 0.7, 0.7]})
    board = leaderboard.build(rows, predictions, epochs, replicates=200)
    assert board.target == convergence.Target(0.82, board.target.basis) and "ceiling (0.900)" in board.target.basis
    column = "time to val acc 0.820"
    # seed 0 (0.585, 0.67, 0.755, 0.84) reaches 0.82 at epoch 4 (40 s), seed 1 (0.625, 0.75, 0.875, 1) at epoch 3
    # (30 s), seed 2 never.
    assert _record(board, "lstm")[column] == "35 s (2 of 3)"
    assert _record(board, "simple_rnn")[column] == "not reached (0 of 3)"


def test_time_to_target_sums_epoch_seconds_and_an_explicit_target_wins():
    epochs = [{"epoch": 2, "val_acc": 0.8, "epoch_s": 3.0}, {"epoch": 1, "val_acc": 0.6, "epoch_s": 5.0}]
    assert convergence.time_to_target(epochs, 0.7) == convergence.TimeToTarget(8.0, 2)
    assert convergence.time_to_target(epochs, 0.9) == convergence.TimeToTarget(None, None)
    assert convergence.target([{"val_acc_best": 0.9, "chance_acc": 0.5}], explicit=0.75) == convergence.Target(0.75, "--target-acc")
    no_ceiling = convergence.target([{"val_acc_best": 0.7, "chance_acc": 0.5}, {"val_acc_best": 0.9, "chance_acc": 0.5}])
    assert no_ceiling.accuracy == 0.82 and "best validation accuracy in the run" in no_ceiling.basis
    assert convergence.converged({"val_acc_best": 0.59, "chance_acc": 0.5}) is False
    assert convergence.converged({"val_acc_best": 0.61, "chance_acc": 0.5}) is True
    assert convergence.converged({"val_acc_best": 0.7}) is None  # a run from before chance_acc: not judged


class ModelExecutor:
    """Ok outcomes whose predictions have a per-model accuracy, as a real evaluating cell's would."""

    ACCURACY = {"lstm": 0.86, "simple_rnn": 0.80}

    def __init__(self, xla_change: float = 0.0):
        self.calibrations, self.xla_change = {}, xla_change

    def run(self, cells, on_start=None):
        for cell in cells:
            # XLA computes the same model (the same examples right) unless told to change its accuracy.
            acc = self.ACCURACY[cell.model] + (self.xla_change if cell.jit_compile else 0.0)
            p = _predictions(acc, zlib.crc32(f"{cell.model}-{cell.seed}".encode()) % 1000)
            row = p.to_row()
            yield CellOutcome(cell, "ok", {"params": 1, "test_acc": p.accuracy, "predictions_digest": digest(row),
                                           "chance_acc": 0.5, "val_acc_best": p.accuracy,
                                           "train_samples_per_s": 1800.0 if cell.jit_compile else 1000.0},
                              [{"epoch": e["epoch"], "val_acc": e["val_acc"], "epoch_s": e["epoch_s"]} for e in _curve(p.accuracy)],
                              [{"repeat": 0, "step": 0, "step_s": 0.01}], [row])


SPEC = SweepSpec(models=("lstm", "simple_rnn"), maxlen=(16,), batch_size=(32,), epochs=4, train_samples=64,
                 test_samples=64, speed_target_s=0.1, seeds=(0, 1, 2))


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setattr(sweep.environment, "collect", lambda: dict(HERE))


@pytest.fixture
def run_dir(tmp_path, env):
    sweep.run_sweep(SPEC, tmp_path / "run", quiet=True, executor=ModelExecutor())
    return tmp_path / "run"


def _section(text, title):
    return text.split(f"## {title}")[1].split("\n## ")[0]


@pytest.mark.parametrize("xla_change, same", [(0.0, "yes"), (-0.04, "no")])
def test_the_report_pairs_models_and_checks_that_xla_trains_the_same_model(tmp_path, env, xla_change, same):
    from rnnbench.reporting import report

    run = tmp_path / "run"
    sweep.run_sweep(SPEC.replace(jit_compile=(False, True)), run, quiet=True, executor=ModelExecutor(xla_change))
    out = report.build(run)
    text = (out / "REPORT.md").read_text()
    pairs = _section(text, "Paired comparison by model")
    assert pairs.count("| better ") == 2 and "| XLA " in pairs and "| on " in pairs  # lstm vs simple_rnn, XLA off and on
    assert (out / "pairwise_accuracy.png").stat().st_size > 10_000 and (out / "time_to_accuracy.png").stat().st_size > 10_000
    checks = [line for line in _section(text, "Fast paths: do they train the same model?").splitlines() if "XLA on vs XLA off" in line]
    assert len(checks) == 2 and all(line.split("|")[-2].strip() == same for line in checks)  # trains the same model
    if same == "yes":
        assert all("| 100.0% " in line and "| +0.0000 " in line for line in checks)
    speedups = _section(text, "Speedup XLA / no XLA")
    assert "trains the same model" in speedups and speedups.count(f"| {same} ") == 2


def test_models_prints_the_pairwise_verdicts_and_the_leaderboard(run_dir, capsys):
    assert main(["models", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "paired comparison by model (1 pairs" in out
    line = next(line for line in out.splitlines() if line.lstrip().startswith("lstm") and "simple_rnn" in line)
    assert line.rstrip().endswith("better") and "3 / 3" in line
    assert "leaderboard:" in out and "converged" in out and "3 of 3" in out


def test_models_by_run_pairs_the_same_cells_of_two_runs(run_dir, tmp_path, capsys):
    import shutil

    shutil.copytree(run_dir, tmp_path / "again")
    assert main(["models", str(run_dir), str(tmp_path / "again"), "--by", "run", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.count("| equivalent |") == 2  # lstm and simple_rnn, each the same predictions twice


@pytest.mark.parametrize("argv, message", [
    (["--by", "colour"], "invalid choice: 'colour'"),
    (["--rope", "2"], "must lie between 0 and 1"),
    (["--by", "run"], "--by run compares the same cells of two or more run directories"),
])
def test_bad_models_arguments_are_one_line_and_exit_2(run_dir, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        code = main(["models", str(run_dir), *argv])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err


def test_models_on_a_folder_that_is_not_a_run_is_exit_2(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["models", str(tmp_path)]) == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_speedup_row_gets_the_check_of_its_own_setting_or_says_where_the_check_was():
    from rnnbench.verdict import fast_path, paired

    side = paired.Side(True, (0,), np.ones((1, 4), bool), np.ones((1, 4), np.uint8), ("c",))

    def check(verdict, maxlen):
        pair = paired.Pair({"model": "lstm", "device": "cpu", "maxlen": maxlen, "batch_size": 128}, side, side, 0.0, 0.0, 0.0,
                           0.95, 0.5, 0.5, 0.5, verdict=verdict)
        return fast_path.FastPathCheck("jit_compile", pair, 1.0, 0.0, 1)

    found = [check(paired.WORSE, 100)]
    row = {"model": "lstm", "arch": "LSTM", "device": "cpu", "maxlen": 100, "batch_size": 128, "speedup": 1.2}
    assert fast_path.same_model(found, "jit_compile", row) == "no"
    assert fast_path.same_model(found, "jit_compile", {**row, "maxlen": 200, "batch_size": 64}) == "no (checked at maxlen 100, batch 128)"
    assert fast_path.same_model(found, "jit_compile", {**row, "model": "gru"}) == "not measured"
    assert fast_path.same_model(found, "kernel", row) == "not measured"
    both = [check(paired.EQUIVALENT, 100), check(paired.UNRESOLVED, 500)]
    assert fast_path.same_model(both, "jit_compile", row) == "yes"  # the check at the row's own setting
    assert fast_path.same_model(both, "jit_compile", {**row, "maxlen": 200}) == (
        "not resolved (checked at maxlen 100, batch 128; maxlen 500, batch 128)")
