"""Change points (bench/verdict/change_points.py) on generated series with known steps and noise like this
machine's, and as ``rnnbench history`` lists, draws and publishes them (bench/reporting/history_changes.py).

The generated series: 30 runs, each run's figure 1000 x (1 + CV x N(0, 1)) with CV drawn from 3-10% (the
spread of this VM's run medians), and one run in 20 a slow spell at 0.75x (what the gate's confirmation
exists for). The bars below are set from the measured figures in docs/regression-gate.md (400 series
per row there, 200 here).
"""

from __future__ import annotations

import csv
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rnnbench.cli import main
from rnnbench.reporting import history
from rnnbench.verdict import change_points
from rnnbench.verdict.change_points import detect, largest_step_t
from test_history import GRU, LSTM, SIMPLE, _rewrite_csv, make_run

ATOM = "{http://www.w3.org/2005/Atom}"


def noisy_series(rng, n: int, cv: float, step: float = 0.0, at: int = 0, slow_runs: float = 0.05) -> np.ndarray:
    values = np.full(n, 1000.0)
    values[at:] *= 1 + step
    values *= 1 + cv * rng.standard_normal(n)
    values[rng.random(n) < slow_runs] *= 0.75
    return values


def throughput(values) -> list:
    return detect(values, relative=True, min_change=0.10, alpha=0.01, noise_floor=0.01)


def test_recall_and_false_positives_over_many_series_with_this_machines_noise():
    rng = np.random.default_rng(2026)
    null_found = found_right = false_in_steps = 0
    trials = 200
    for _ in range(trials):
        null_found += len(throughput(noisy_series(rng, 30, rng.uniform(0.03, 0.10))))
        at = int(rng.integers(5, 26))  # at least 5 runs on each side
        points = throughput(noisy_series(rng, 30, rng.uniform(0.03, 0.10), 0.3 * rng.choice([-1, 1]), at))
        right = [p for p in points if abs(p.index - at) <= 2]
        found_right += bool(right)
        false_in_steps += len(points) - bool(right)
    # Measured with this seed: recall 0.995, false change points 0.02 per step-free series, 0.04 per series
    # with a step; the bars leave room for a change of random numbers, not for a broken method.
    assert found_right / trials >= 0.9
    assert null_found / trials <= 0.05 and false_in_steps / trials <= 0.075


def test_a_clean_step_is_found_where_it_is_with_its_size():
    rng = np.random.default_rng(1)
    values = noisy_series(rng, 20, 0.03, -0.2, 10, slow_runs=0)
    (point,) = throughput(values)
    assert point.index == 10 and point.n_before == 10 and point.n_after == 10
    assert point.change == pytest.approx(-0.2, abs=0.03) and point.p_value <= 0.01
    assert point.after / point.before - 1 == pytest.approx(point.change)


def test_one_slow_run_is_not_a_change_point_and_a_persistent_one_is():
    values = [1000.0, 1010, 990, 1005, 700, 1000, 995, 1008, 1002, 997]
    assert throughput(values) == []
    points = throughput([1000.0, 1010, 990, 1005, 700, 702, 695, 705, 698, 701])
    assert [p.index for p in points] == [4] and points[0].change == pytest.approx(-0.30, abs=0.01)


def test_the_newest_runs_cannot_be_a_change_point_until_the_step_persists():
    base = [1000.0, 1010, 990, 1005, 995, 1002]
    assert throughput([*base, 700]) == [] and throughput([*base, 700, 705]) == []
    assert [p.index for p in throughput([*base, 700, 705, 698])] == [6]


def test_an_exact_accuracy_step_needs_no_test_and_must_reach_the_threshold():
    accuracy = dict(relative=False, min_change=0.02, alpha=0.01, noise_floor=0.002)
    (point,) = detect([0.78] * 4 + [0.75] * 4, **accuracy)
    assert detect([0.78] * 4 + [0.75] * 2, **accuracy) == []  # not yet: 3 runs make a level
    assert point.index == 4 and point.p_value is None and point.change == pytest.approx(-0.03)
    assert detect([0.78] * 4 + [0.77] * 4, **accuracy) == []  # a step smaller than the threshold
    assert detect([0.78] * 8, **accuracy) == []


def test_too_short_or_non_positive_series():
    assert throughput([1000.0, 1000, 700, 700, 700]) == []
    with pytest.raises(ValueError):
        throughput([1000.0, 0.0, 900, 900])


def test_the_step_statistic_is_scipys_pooled_t_at_the_best_split():
    from scipy import stats

    rng = np.random.default_rng(3)
    for n in (6, 7, 15):
        z = rng.standard_normal(n)
        splits = range(change_points.MIN_SEGMENT, n - change_points.MIN_SEGMENT + 1)
        reference = max(abs(stats.ttest_ind(z[:k], z[k:]).statistic) for k in splits)
        assert largest_step_t(z) == pytest.approx(reference)
        assert largest_step_t(np.stack([z, z[::-1]]))[1] == pytest.approx(largest_step_t(z[::-1]))


# --- in rnnbench history ------------------------------------------------------------------------------

#: The LSTM 30% slower from a4 on, for good; the GRU's test accuracy 0.05 lower from a5 on. Every run's
#: throughput gets 1% noise, so the LSTM's step is a tested one; accuracy stays exact, as on one machine.
STEP_PLAN = [("s1", "a1"), ("s2", "a2"), ("s3", "a3"), ("s4", "a4"), ("s5", "a5"), ("s6", "a6"), ("s7", "a7")]


def _noisy_speed_and_lower_gru(rng, gru_drop: float):
    """A cells.csv row edit: 1% noise on every throughput, the GRU's test accuracy ``gru_drop`` lower."""
    def edit(r):
        r = {**r, "train_samples_per_s": f"{float(r['train_samples_per_s']) * (1 + 0.01 * rng.standard_normal()):.6g}"}
        if r["cell_id"] == GRU and gru_drop:
            r["test_acc"] = f"{float(r['test_acc']) - gru_drop:.4f}"
        return r
    return edit


@pytest.fixture(scope="module")
def stepped(tmp_path_factory):
    root = tmp_path_factory.mktemp("stepped_runs")
    runs = []
    for i, (name, commit) in enumerate(STEP_PLAN):
        run = make_run(root / name, commit * 20, f"2026-11-0{i + 1}T10:00:00+00:00", slow={LSTM: 1.3} if i >= 3 else {},
                       jitter=i)
        _rewrite_csv(run / "cells.csv", _noisy_speed_and_lower_gru(np.random.default_rng(i), 0.05 if i >= 4 else 0.0))
        runs.append(run)
    out = tmp_path_factory.mktemp("stepped_history")
    return history.build(runs, out, repo=out)


def test_history_lists_the_persistent_steps_with_the_commits_on_both_sides(stepped):
    steps = stepped.changes
    assert list(zip(steps.metric, steps.cell_id, steps.direction, steps.run, steps.good_run, strict=True)) == [
        ("train_samples_per_s", LSTM, "regression", 4, 3), ("test_acc", GRU, "regression", 5, 4)]
    lstm = steps.iloc[0]
    assert lstm.commit == "a4" * 20 and lstm.good_commit == "a3" * 20 and re.fullmatch(r"-2\d\.\d%", lstm.change)
    assert lstm.p_value <= 0.01 and (lstm.runs_before, lstm.runs_after) == (3, 4)
    assert pd.isna(steps.iloc[1].p_value) and steps.iloc[1].change == "-0.0500"  # an exact step: nothing to test
    md = (stepped.out / "HISTORY.md").read_text()
    section = md.split("## Change points")[1].split("\n## ")[0]
    assert re.search(r"lstm on ci-vm \(AMD EPYC\): -2\d\.\d% \(train samples/s\) from commit a4a4a4a", section)
    assert "the last run before it: a3a3a3a" in section
    assert "p not computed (each side constant: an exact step)" in section  # the GRU's accuracy
    assert SIMPLE not in set(steps.cell_id)


def test_regressions_csv_and_the_atom_feed_carry_each_regression(stepped):
    with open(stepped.out / "regressions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["cell"], r["metric"], r["commit"][:6]) for r in rows] == [("lstm", "train_samples_per_s", "a4a4a4"),
                                                                         ("gru", "test_acc", "a5a5a5")]
    feed = ET.parse(stepped.out / "regressions.xml").getroot()
    assert feed.tag == f"{ATOM}feed" and feed.find(f"{ATOM}updated").text == "2026-11-05T10:00:00+00:00"
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.find(f"{ATOM}title").text for e in entries]
    assert titles[0].startswith("lstm: -2") and titles[0].endswith("% train samples/s at a4a4a4a")
    assert titles[1] == "gru: -0.0500 test accuracy at a5a5a5a"
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(ids)) == 2 and all(i.startswith("tag:rnnbench,2026:") for i in ids)
    for e in entries:  # every entry has what Atom requires
        assert e.find(f"{ATOM}updated").text and e.find(f"{ATOM}summary").text


def test_a_rebuilt_history_gives_the_same_feed(stepped, tmp_path):
    again = history.build([e.run.path for e in stepped.entries], tmp_path / "again", repo=tmp_path)
    assert (again.out / "regressions.xml").read_text() == (stepped.out / "regressions.xml").read_text()


def test_one_slow_run_in_the_history_is_a_regression_against_the_previous_run_but_no_change_point(runs_one_spike):
    assert runs_one_spike.changes.empty
    assert "_None found._" in (runs_one_spike.out / "HISTORY.md").read_text().split("## Change points")[1]
    with open(runs_one_spike.out / "regressions.csv", newline="") as f:
        assert list(csv.DictReader(f)) == []


@pytest.fixture(scope="module")
def runs_one_spike(tmp_path_factory):
    root = tmp_path_factory.mktemp("spike_runs")
    runs = [make_run(root / f"p{i}", f"b{i}" * 20, f"2026-11-0{i + 1}T10:00:00+00:00", slow={LSTM: 1.3} if i == 2 else {},
                     jitter=i) for i in range(6)]
    out = tmp_path_factory.mktemp("spike_history")
    found = history.build(runs, out, repo=out)
    assert (found.frame.vs_previous == "regression").sum() == 1
    return found


def test_cli_history_prints_the_change_points(stepped, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["history", *(str(e.run.path) for e in stepped.entries), "--out", "h"]) == 0
    out = capsys.readouterr().out
    assert "2 change point(s) (2 regression(s))" in out and re.search(r"regression: lstm on ci-vm \(AMD EPYC\): -2\d", out)
    assert Path("h/regressions.xml").is_file()
    assert main(["history", str(stepped.entries[0].run.path), "--out", "h2", "--max-accuracy-drop", "2"]) == 2
