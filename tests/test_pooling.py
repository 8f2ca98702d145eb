"""The cell result contract (bench/storage/result.py): derived figures, pooling a cell's speed processes, JSON.

Pure arithmetic, no framework.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from rnnbench.storage.result import RESULT_SCHEMA, UNSTABLE_CV, CellResult


def _result(repeats, infer, rss, notes=(), flops=None, test_acc=0.8):
    steps = tuple({"repeat": r, "step": s, "step_s": 0.01} for r in range(len(repeats)) for s in range(2))
    return CellResult(threads=1, params=1000, repeat_samples_per_s=tuple(repeats), steps_per_repeat=2, steps=steps,
                      compile_s=1.0, infer_samples_per_s=infer, infer_latency_ms_p50=1000 / infer,
                      infer_latency_ms_p95=2000 / infer, peak_rss_mb=rss, data_fingerprint="f", flops_per_sample=flops,
                      test_acc=test_acc, epochs=({"epoch": 1},), notes=tuple(notes))


def test_one_process_is_left_as_measured():
    r = _result([100, 101, 99], 500, 300)
    assert CellResult.pool([r]) is r
    m = r.metrics()
    assert m["processes"] == 1 and m["train_samples_per_s"] == 100 and m["repeats"] == 3
    assert m["efficiency"] is None and m["gflops_achieved"] is None  # no FLOP count: not measured, not zero


def test_processes_pool_repeats_and_renumber_steps():
    a = _result([100, 102, 98], 500, 300, notes=["first"], flops=1e6)
    b = _result([80, 81, 79], 400, 350, test_acc=None)
    c = _result([90, 91, 89], 450, 320, test_acc=None)
    pooled = CellResult.pool([a, b, c])
    m = pooled.metrics(calibration_gflops=2.0)
    assert m["processes"] == 3 and m["repeats"] == 9
    assert m["train_samples_per_s"] == 90  # median of all nine repeats, not of process 1 alone
    assert m["train_samples_per_s_cv"] == pytest.approx(0.0972, abs=1e-4)  # sqrt(612 / 8) / 90: spans the drift between processes
    assert m["unstable"] == (m["train_samples_per_s_cv"] > UNSTABLE_CV)
    assert m["infer_samples_per_s"] == 450 and m["peak_rss_mb"] == 350
    assert m["gflops_achieved"] == pytest.approx(1e6 * 90 / 1e9) and m["efficiency"] == pytest.approx(1e6 * 90 / 1e9 / 2.0)
    assert m["test_acc"] == 0.8 and pooled.epochs == ({"epoch": 1},)  # accuracy comes from the first process
    assert m["notes"] == "first; speed pooled over 3 processes (their median samples/s: 100, 80, 90)"
    assert sorted({s["repeat"] for s in pooled.steps}) == list(range(9))


def test_json_round_trip_and_schema_check():
    r = _result([100, 101], 500, 300, flops=1e6)
    assert CellResult.from_json(r.to_json()) == r
    other = {**json.loads(r.to_json()), "schema": RESULT_SCHEMA + 1}
    with pytest.raises(ValueError, match="schema"):
        CellResult.from_json(json.dumps(other))
    with pytest.raises(ValueError, match="unknown cell result fields: joules"):
        CellResult.from_json(json.dumps({**json.loads(r.to_json()), "joules": 1.0}))


def test_every_metric_has_a_column():
    """A metric the result reports but cells.csv has no column for would vanish without a word."""
    from rnnbench.storage.schema import CELL_COLUMNS

    assert set(_result([1, 2], 1, 1).metrics()) <= set(CELL_COLUMNS)
    assert {f.name for f in dataclasses.fields(CellResult)} - set(CELL_COLUMNS) == {
        "repeat_samples_per_s", "repeat_step_samples_per_s", "steps", "data_fingerprint", "process_medians", "schema",
        "predictions"}  # epochs.csv, steps.csv and predictions.csv hold three
