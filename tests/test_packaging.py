"""One import package, ``rnnbench``, that nothing in a user's working directory can shadow."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: What a user's ordinary ML project may hold: packages named like the repository's folders, and like
#: the harness itself. Each raises on import, so any process that picks one up fails loudly.
SHADOWS = ("models", "bench", "rnnbench")


def _project(root: Path) -> Path:
    for name in SHADOWS:
        (root / name).mkdir(parents=True)
        (root / name / "__init__.py").write_text(f'raise ImportError("the user\'s own {name} package was imported")\n')
    return root


def _rnnbench() -> str:
    """The console script a user runs (not ``python -m``, which would put the working directory first)."""
    script = shutil.which("rnnbench", path=os.path.dirname(sys.executable)) or shutil.which("rnnbench")
    if script is None:
        pytest.skip("the rnnbench command is not installed (pip install -e .)")
    return script


@pytest.mark.parametrize("name", ["bench", "models"])
def test_only_rnnbench_is_installed(tmp_path, name):
    """The repository's folder names are not import names: outside the repository they do not import."""
    proc = subprocess.run([sys.executable, "-P", "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr
    ok = subprocess.run([sys.executable, "-P", "-c", "import rnnbench.models, rnnbench.cli"], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


@pytest.mark.slow
def test_a_sweep_from_a_project_with_models_bench_and_rnnbench_packages(tmp_path):
    project = _project(tmp_path / "myproject")
    proc = subprocess.run(
        [_rnnbench(), "run", "--preset", "smoke", "--models", "simple_rnn", "--maxlen", "16", "--train-samples", "64",
         "--test-samples", "32", "--speed-target", "0.2", "--epochs", "1", "--threads", "1", "--out", "runs/shadow",
         "--quiet", "--no-report"],
        cwd=project, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(project / "runs/shadow/cells.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok"], rows[0]["error"]
    assert rows[0]["test_acc"] and rows[0]["train_samples_per_s"]  # the cell process ran, and measured
    assert "calibration" in (project / "runs/shadow/run.json").read_text()
