"""False discoveries across many cells: compare's Benjamini-Hochberg q-values (bench/verdict/compare.py,
``control_false_discoveries``), which the gate and the A/B inherit through ``compare_runs``."""

from __future__ import annotations

import numpy as np
import pytest
from rnnbench.storage.store import RunStore, load_run
from rnnbench.verdict.compare import IMPROVEMENT, REGRESSION, UNCHANGED, Finding, compare_runs, control_false_discoveries
from scipy.stats import mannwhitneyu

#: Benjamini and Hochberg's (1995) own example, fifteen p-values.
BH_EXAMPLE = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528,
              0.7590, 1.0]


def _speed(p: float, verdict: str = UNCHANGED, cell: str = "c") -> Finding:
    return Finding(cell, cell, "speed", verdict, 1000.0, 800.0, "-20.0%", p)


def test_q_values_are_statsmodels_benjamini_hochberg():
    from statsmodels.stats.multitest import multipletests

    findings = [_speed(p, cell=f"c{i}") for i, p in enumerate(BH_EXAMPLE)]
    findings.append(Finding("acc", "acc", "accuracy", UNCHANGED, 0.8, 0.8))  # not a test: no q
    control_false_discoveries(findings, 0.05)
    reference = multipletests(BH_EXAMPLE, method="fdr_bh")[1]
    assert [f.q_value for f in findings[:-1]] == pytest.approx(list(reference))
    assert findings[-1].q_value is None
    # BH's example: at 0.05 the first four are discoveries.
    assert sum(f.q_value < 0.05 for f in findings[:-1]) == 4


def test_a_change_significant_alone_but_not_among_many_is_taken_back_and_says_so():
    findings = [_speed(0.004, REGRESSION, "flagged"), _speed(0.0001, IMPROVEMENT, "strong"),
                *(_speed(p, cell=f"n{i}") for i, p in enumerate(np.linspace(0.2, 0.9, 8)))]
    control_false_discoveries(findings, 0.01)
    flagged, strong = findings[0], findings[1]
    assert flagged.verdict == UNCHANGED and flagged.q_value == pytest.approx(0.004 * 10 / 2)
    assert "regression by p = 0.004 alone, not once the false discovery rate over the 10 cells" in flagged.note
    assert strong.verdict == IMPROVEMENT and strong.q_value == pytest.approx(0.001)


def test_many_unchanged_cells_give_fewer_false_alarms_with_q_than_with_p():
    """A/A comparisons of 40 cells whose step times come from one distribution: with p alone about
    alpha x 40 cells are flagged per comparison; with q, about alpha comparisons in all flag any."""
    rng = np.random.default_rng(7)
    alpha, runs, cells = 0.01, 200, 40
    by_p = by_q = runs_flagged_q = 0
    for _ in range(runs):
        findings = []
        for i in range(cells):
            base, new = rng.lognormal(0, 0.05, 50), rng.lognormal(0, 0.05, 50)
            p = float(mannwhitneyu(new, base, alternative="greater").pvalue)
            findings.append(_speed(p, REGRESSION if p < alpha else UNCHANGED, f"c{i}"))
        by_p += sum(f.verdict == REGRESSION for f in findings)
        control_false_discoveries(findings, alpha)
        flagged = sum(f.verdict == REGRESSION for f in findings)
        by_q += flagged
        runs_flagged_q += bool(flagged)
    assert by_p / runs == pytest.approx(alpha * cells, rel=0.35)  # about 0.4 false alarms per comparison
    assert by_q / runs < 0.05 and runs_flagged_q / runs <= 3 * alpha


def _run(path, factors: dict[str, float], seed: int):
    """A run of 12 cells, step times drawn around 0.128 s divided by each cell's factor."""
    rng = np.random.default_rng(seed)
    with RunStore(path) as store:
        for i in range(12):
            cid = f"cell{i:02d}"
            sps = 1000.0 * factors.get(cid, 1.0)
            row = {"cell_id": cid, "model": "lstm", "arch": "LSTM", "kernel": "generic", "backend": "tensorflow",
                   "device": "cpu", "jit_compile": False, "maxlen": 100 + i, "batch_size": 128, "seed": 0, "status": "ok",
                   "error": "", "params": 1000, "train_samples_per_s": sps, "test_acc": 0.8, "threads": 1, "cpus": None}
            steps = [{"repeat": k // 10, "step": k % 10, "step_s": 128 / sps * (1 + 0.02 * rng.standard_normal())}
                     for k in range(50)]
            store.record(row, steps=steps)
        store.write_run_json({"environment": {"host": "h", "cpu": {"model": "EPYC"}, "gpus": []}, "calibration": []})
    return load_run(path)


def test_compare_gives_every_timed_cell_a_q_value_and_shows_it(tmp_path):
    base = _run(tmp_path / "base", {}, 0)
    new = _run(tmp_path / "new", {"cell03": 0.5}, 1)
    result = compare_runs(base, new)
    speed = [f for f in result.findings if f.check == "speed"]
    assert len(speed) == 12 and all(f.q_value is not None and f.q_value >= f.p_value for f in speed)
    assert [f.cell_id for f in result.regressions] == ["cell03"]
    assert "| q " in result.to_markdown() and '"q_value"' in result.to_json()
