"""Pooling a cell's speed processes (rnnbench.measure.pool_processes): pure arithmetic, no framework."""

from __future__ import annotations

import pytest
from rnnbench.measure import UNSTABLE_CV, pool_processes


def _payload(repeats, infer, rss, notes="", flops=None):
    steps = [{"repeat": r, "step": s, "step_s": 0.01} for r in range(len(repeats)) for s in range(2)]
    row = {"train_samples_per_s": sorted(repeats)[len(repeats) // 2], "train_samples_per_s_cv": 0.0, "repeats": len(repeats),
           "infer_samples_per_s": infer, "infer_latency_ms_p50": 1000 / infer, "infer_latency_ms_p95": 2000 / infer,
           "compile_s": 1.0, "peak_rss_mb": rss, "notes": notes, "flops_per_sample": flops, "test_acc": 0.8}
    return {"row": row, "epochs": [{"epoch": 1}], "steps": steps, "repeat_samples_per_s": list(repeats)}


def test_one_process_is_left_as_measured():
    p = _payload([100, 101, 99], 500, 300)
    out = pool_processes([p])
    assert out["row"]["processes"] == 1 and out["row"]["train_samples_per_s"] == p["row"]["train_samples_per_s"]
    assert out["steps"] == p["steps"]


def test_processes_pool_repeats_and_renumber_steps():
    a = _payload([100, 102, 98], 500, 300, notes="first", flops=1e6)
    b = _payload([80, 81, 79], 400, 350)
    c = _payload([90, 91, 89], 450, 320)
    out = pool_processes([a, b, c])
    row = out["row"]
    assert row["processes"] == 3 and row["repeats"] == 9
    assert row["train_samples_per_s"] == 90  # median of all nine repeats, not of process 1 alone
    assert row["train_samples_per_s_cv"] == pytest.approx(0.0972, abs=1e-4)  # sqrt(612 / 8) / 90: spans the drift between processes
    assert row["unstable"] == (row["train_samples_per_s_cv"] > UNSTABLE_CV)
    assert row["infer_samples_per_s"] == 450 and row["peak_rss_mb"] == 350
    assert row["gflops_achieved"] == pytest.approx(1e6 * 90 / 1e9)
    assert row["test_acc"] == 0.8 and out["epochs"] == [{"epoch": 1}]  # accuracy comes from the first process
    assert row["notes"].startswith("first; speed pooled over 3 processes (their median samples/s: 100, 80, 90)")
    assert sorted({s["repeat"] for s in out["steps"]}) == list(range(9))
