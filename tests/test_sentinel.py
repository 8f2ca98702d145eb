"""The machine sentinel (bench.sentinel): per-repeat medians, their CV, and the process itself."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from bench.sentinel import Sentinel, machine_cv, repeat_medians


def test_repeat_medians_take_the_bursts_inside_each_window():
    # bursts every 0.05 s from t=0; 2 ms each, but 4 ms during the second window: the machine ran slow
    starts = np.arange(0, 3, 0.05)
    durations = np.where((starts >= 1) & (starts < 2), 0.004, 0.002)
    samples = np.column_stack([starts, durations])
    medians = repeat_medians(samples, [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (5.0, 6.0)])
    assert medians == [0.002, 0.004, 0.002, None]  # the last window saw no burst
    assert machine_cv(medians) == pytest.approx(np.std([2, 4, 2], ddof=1) / np.mean([2, 4, 2]))
    assert machine_cv([0.002, None]) is None and repeat_medians(np.empty((0, 2)), [(0, 1)]) == [None]


def test_sentinel_process_times_bursts_on_its_core_and_stops(tmp_path):
    core = str(max(os.sched_getaffinity(0)))
    with Sentinel(core, tmp_path / "s.txt") as s:
        time.sleep(0.6)
        pid = s.proc.pid
    assert 5 <= len(s.samples) <= 20  # one burst per 50 ms
    assert (np.diff(s.samples[:, 0]) > 0.04).all() and (s.samples[:, 1] < 0.04).all()
    assert s.proc.returncode is not None and not (tmp_path / "s.txt").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
