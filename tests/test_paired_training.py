"""Paired verdicts on models trained for real (issue 25): a model trained on noisier labels is "worse" than
the same model trained on clean ones, and two runs of the same cells are "equivalent".

The cells are the regress preset's LSTM (maxlen 100, batch 32, 5 epochs, 4k training samples), three seeds.
Measured on a 2-core CPU: clean labels give test accuracies 0.776 / 0.650 / 0.779 for seeds 0-2; with 10% of
the training labels flipped (``RNNBENCH_PLANT_LABEL_NOISE``), 0.646 / 0.492 / 0.746, every seed worse by
3 to 16 points. A 3% flip was not enough at this size: on data this small the noise changes which seeds leave
the chance plateau (0.687 / 0.505 / 0.797), and the verdict is honestly "not resolved".
"""

from __future__ import annotations

import pytest
from rnnbench.cli import main
from rnnbench.cli.models import load_cells
from rnnbench.config.spec import SweepSpec
from rnnbench.execute.sweep import run_sweep
from rnnbench.verdict import paired

SPEC = SweepSpec(models=("lstm",), maxlen=(100,), batch_size=(32,), epochs=5, train_samples=4000, test_samples=2000,
                 speed_target_s=0.1, seeds=(0, 1, 2), threads=1)


def _pair(*runs):
    rows, predictions, _ = load_cells([str(r) for r in runs])
    (pair,), notes = paired.compare(rows, predictions, by="run")
    assert notes == []
    return pair


@pytest.mark.slow
def test_noisier_labels_are_worse_and_a_rerun_is_equivalent(tmp_path, monkeypatch, capsys):
    run_sweep(SPEC, tmp_path / "clean", quiet=True)
    run_sweep(SPEC, tmp_path / "again", quiet=True)
    monkeypatch.setenv("RNNBENCH_PLANT_LABEL_NOISE", "lstm:0.1")
    run_sweep(SPEC, tmp_path / "noisy", quiet=True)

    # A is the side with the higher mean: the clean run is better, i.e. the noisy one is worse.
    noisy = _pair(tmp_path / "clean", tmp_path / "noisy")
    assert (noisy.a.value, noisy.b.value, noisy.verdict) == ("clean", "noisy", paired.BETTER)
    assert noisy.a.seeds == noisy.b.seeds == (0, 1, 2) and noisy.high > noisy.low > 0

    same = _pair(tmp_path / "clean", tmp_path / "again")
    assert same.verdict == paired.EQUIVALENT and same.low == same.high == 0.0  # op determinism: the same predictions

    # The command prints the same verdict.
    capsys.readouterr()
    assert main(["models", str(tmp_path / "noisy"), str(tmp_path / "clean"), "--by", "run"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.lstrip().startswith("clean"))
    assert "noisy" in line and line.rstrip().endswith("better")
