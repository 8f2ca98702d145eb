"""Per-example test predictions (issue 25, item 1): packed through the store, in step with their rows on
resume, --force and a kill, and refused in one line when damaged or not the cell's own."""

from __future__ import annotations

import numpy as np
import pytest
from rnnbench.cli import main
from rnnbench.config.spec import SweepSpec
from rnnbench.errors import BadInput
from rnnbench.execute import sweep
from rnnbench.execute.executor import CellOutcome
from rnnbench.storage.predictions import Predictions, digest, split_fingerprint
from rnnbench.storage.schema import PREDICTION_COLUMNS
from rnnbench.storage.store import RunStore, load_run, read_table

SPEC = SweepSpec(models=("lstm", "gru", "simple_rnn"), maxlen=(16,), batch_size=(32,), epochs=1, train_samples=64,
                 test_samples=64, speed_target_s=0.1)
HERE = {"host": "vm", "cpu": {"model": "AMD EPYC", "flags": ["avx"], "logical_cores": 2}, "gpus": [], "python": "3.11.7",
        "packages": {"keras": "3.15.1", "tensorflow": "2.21.0"}, "git_commit": "aaa", "started_at": "2026-11-29T20:00:00+00:00"}

RNG = np.random.default_rng(0)
LABELS = (RNG.random(1001) < 0.5).astype(np.float32)


def _predictions(accuracy: float, labels=LABELS, fingerprint="data") -> Predictions:
    """Sigmoid outputs right on the first ``accuracy`` share of the examples, wrong on the rest."""
    right = np.arange(len(labels)) < round(accuracy * len(labels))
    outputs = np.where(right == (labels == 1), 0.9, 0.1).reshape(-1, 1)
    return Predictions.from_outputs(outputs, labels, fingerprint)


def test_a_row_round_trips_and_its_accuracy_is_the_share_correct():
    p = _predictions(0.8)
    back = Predictions.from_row(p.to_row(), "here", {"test_acc": float(f"{p.accuracy:.6g}")})
    assert back.test_fingerprint == p.test_fingerprint and back.examples == 1001
    assert np.array_equal(back.predicted, p.predicted) and np.array_equal(back.correct, p.correct)
    assert back.accuracy == pytest.approx(801 / 1001)


def test_softmax_outputs_take_the_argmax_and_classes_past_255_take_two_bytes():
    labels = np.array([0, 2, 300, 1])
    outputs = np.zeros((4, 301))
    outputs[[0, 1, 2, 3], [0, 1, 300, 1]] = 1.0
    p = Predictions.from_outputs(outputs, labels, "f")
    assert p.predicted.tolist() == [0, 1, 300, 1] and p.correct.tolist() == [True, False, True, True]
    assert p.to_row()["class_bytes"] == 2
    assert Predictions.from_row(p.to_row(), "here").predicted.tolist() == [0, 1, 300, 1]


def test_the_fingerprint_names_the_examples_not_the_maxlen():
    assert split_fingerprint("data", LABELS) == split_fingerprint("data", LABELS.copy())
    assert split_fingerprint("data", LABELS) != split_fingerprint("other data", LABELS)
    assert split_fingerprint("data", LABELS) != split_fingerprint("data", LABELS[:-1])
    flipped = LABELS.copy()
    flipped[0] = 1 - flipped[0]
    assert split_fingerprint("data", LABELS) != split_fingerprint("data", flipped)


@pytest.mark.parametrize("change, message", [
    ({"predicted": "not base64!"}, "damaged predicted classes"),
    ({"correct": "eJxjYGAAAAADAAE="}, "bits for 1001 examples"),
    ({"examples": "x"}, "damaged predictions"),
    ({"class_bytes": "3"}, "damaged predictions"),
])
def test_a_damaged_row_is_one_line_naming_it(change, message):
    row = {**_predictions(0.8).to_row(), **change}
    with pytest.raises(BadInput, match=message):
        Predictions.from_row(row, "predictions.csv: line 2")


def test_predictions_of_another_cell_are_refused_by_accuracy_and_by_digest():
    row = _predictions(0.8).to_row()
    with pytest.raises(BadInput, match="do not belong to this cell"):
        Predictions.from_row(row, "here", {"test_acc": 0.7})
    with pytest.raises(BadInput, match="not the ones the cell's row committed to"):
        Predictions.from_row(row, "here", {"test_acc": 0.8, "predictions_digest": digest(_predictions(0.7).to_row())})


class PredictingExecutor:
    """Ok outcomes with predictions whose accuracy is ``acc``; ``stop_after`` simulates a kill."""

    def __init__(self, acc: float | None, stop_after: int | None = None):
        self.acc, self.stop_after, self.calibrations = acc, stop_after, {}

    def run(self, cells, on_start=None):
        for i, cell in enumerate(cells):
            if self.stop_after is not None and i == self.stop_after:
                raise KeyboardInterrupt
            if self.acc is None:  # a cell that does not evaluate on its test split
                yield CellOutcome(cell, "ok", {"params": 1}, [], [{"repeat": 0, "step": 0, "step_s": 0.01}])
                continue
            p = _predictions(self.acc).to_row()
            yield CellOutcome(cell, "ok", {"params": 1, "test_acc": _predictions(self.acc).accuracy, "predictions_digest": digest(p)},
                              [{"epoch": 1}], [{"repeat": 0, "step": 0, "step_s": 0.01}], [p])


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setattr(sweep.environment, "collect", lambda: dict(HERE))


def test_predictions_stay_in_step_with_rows_through_force_and_a_killed_force(tmp_path, env):
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=PredictingExecutor(0.8))
    run = load_run(tmp_path)
    assert set(run.predictions) == set(run.cells) and {round(p.accuracy, 3) for p in run.predictions.values()} == {0.8}
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(SPEC, tmp_path, quiet=True, force=True, executor=PredictingExecutor(0.6, stop_after=1))
    run = load_run(tmp_path)
    assert len(read_table(tmp_path / "predictions.csv", PREDICTION_COLUMNS)) == len(run.cells)  # none twice
    for cid, p in run.predictions.items():
        assert p.accuracy == pytest.approx(run.cells[cid]["test_acc"], abs=1e-5)
    assert sorted(round(p.accuracy, 3) for p in run.predictions.values()) == [0.6, 0.8, 0.8]


def test_a_kill_between_a_rerun_s_predictions_and_its_row_is_said_then_dropped_on_resume(tmp_path, env, capsys):
    sweep.run_sweep(SPEC.replace(models=("lstm",)), tmp_path, quiet=True, executor=PredictingExecutor(0.8))
    cid = next(iter(load_run(tmp_path).cells))
    # What a kill leaves: the rerun's predictions (same accuracy, other examples right) replaced the old ones,
    # its cells.csv row was never written.
    labels = LABELS.copy()
    other = _predictions(0.8, labels)
    other_row = {**other.to_row(), "correct": Predictions(other.test_fingerprint, other.predicted, other.correct[::-1]).to_row()["correct"]}
    with RunStore(tmp_path) as store:
        store._replace("predictions.csv", PREDICTION_COLUMNS, cid, [{"cell_id": cid, **other_row}])
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not the ones the cell's row committed to" in err[0]
    sweep.run_sweep(SPEC.replace(models=("lstm",)), tmp_path, quiet=True, executor=PredictingExecutor(0.8))
    assert load_run(tmp_path).predictions == {}  # the stale row went; the cell is ok without predictions


def test_a_rerun_without_predictions_leaves_none_of_the_old_ones(tmp_path, env):
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=PredictingExecutor(0.8))
    sweep.run_sweep(SPEC, tmp_path, quiet=True, force=True, executor=PredictingExecutor(None))
    assert load_run(tmp_path).predictions == {} and read_table(tmp_path / "predictions.csv", PREDICTION_COLUMNS) == []


def test_a_damaged_predictions_file_is_one_line_and_exit_2(tmp_path, env, capsys):
    sweep.run_sweep(SPEC, tmp_path, quiet=True, executor=PredictingExecutor(0.8))
    text = (tmp_path / "predictions.csv").read_text().splitlines()
    (tmp_path / "predictions.csv").write_text("\n".join([text[0], text[1][:-12], *text[2:]]) + "\n")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "predictions.csv: line 2" in err[0]


@pytest.mark.parametrize("classes", [2, 3])
def test_the_runner_s_test_pass_reports_what_keras_evaluate_does(classes):
    """One predict pass replaced evaluate: the same accuracy (to float32 rounding) and loss, and the
    predictions it stores are the examples that accuracy counts."""
    import keras
    from rnnbench.cell.runner import Split, evaluate_on_test

    rng = np.random.default_rng(classes)
    x = rng.integers(1, 50, size=(400, 12))
    y = (rng.integers(0, classes, size=400)).astype(np.float32 if classes == 2 else np.int32)
    keras.utils.set_random_seed(0)
    head = keras.layers.Dense(1, activation="sigmoid") if classes == 2 else keras.layers.Dense(classes, activation="softmax")
    model = keras.Sequential([keras.Input((12,)), keras.layers.Embedding(50, 4), keras.layers.SimpleRNN(4), head])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy" if classes == 2 else "sparse_categorical_crossentropy",
                  metrics=["acc"])
    model.fit(x[:300], y[:300], epochs=2, batch_size=32, verbose=0)
    loss, acc = model.evaluate(x[300:], y[300:], batch_size=64, verbose=0)
    data = type("Data", (), {"num_classes": classes, "fingerprint": "f"})()
    our_loss, predicted = evaluate_on_test(model, Split(x[:300], y[:300], x[300:], y[300:]), data, batch_size=64)
    assert predicted.accuracy == pytest.approx(acc, abs=1e-6) and our_loss == pytest.approx(loss, rel=1e-5)
    assert predicted.examples == 100 and predicted.test_fingerprint == split_fingerprint("f", y[300:])
