"""The regression gate (``rnnbench gate``): run a preset, compare it with a baseline, confirm speed.

A speed regression on a shared machine has two causes: the code got slower, or the machine was slow
for a while. Measured on the 2-core CI VM, runs of unchanged code drifted by up to -14% against the
baseline, often all cells of a run together, for minutes, and now and then one cell by -22%; no
statistic on one run can tell that from a real slowdown. So a cell flagged for speed is measured again in a fresh sweep of just the
flagged cells, and its speed regression stands only if the rerun confirms it. A real slowdown
persists; a slow spell of the machine rarely hits both. Accuracy, parameter-count and status
regressions are deterministic and need no confirmation.
"""

from __future__ import annotations

from pathlib import Path

from bench.compare import REGRESSION, UNCHANGED, Comparison, check_thresholds, compare_runs, load_run
from bench.spec import SweepSpec
from bench.sweep import run_sweep

#: The gate's default threshold: above the usual run-to-run drift measured here (at most -13.9% over 10
#: plain runs), below the -23% throughput a 30% slower training step gives. Deeper slow spells (a cell at
#: -21% and -22% in 2 of 20 gate runs) are what the confirmation rerun is for.
GATE_MAX_SLOWDOWN = 0.15


def run_gate(baseline: str | Path, spec: SweepSpec, out: str | Path, preset: str | None = None,
             max_slowdown: float = GATE_MAX_SLOWDOWN, max_accuracy_drop: float = 0.02, alpha: float = 0.01,
             quiet: bool = False) -> Comparison:
    """Run ``spec`` into ``out``, compare with ``baseline``, rerun speed-flagged cells into ``out/confirm``,
    and return the verdicts, speed ones confirmed or cleared by the rerun."""
    check_thresholds(max_slowdown, max_accuracy_drop, alpha)  # bad input is found before anything runs
    base = load_run(baseline)
    out = Path(out)
    run_sweep(spec, out, preset=preset, force=True, quiet=quiet)
    first = compare_runs(base, load_run(out), max_slowdown, max_accuracy_drop, alpha)
    flagged = {f.cell_id for f in first.regressions if f.check == "speed"}
    if not flagged:
        return first

    run_sweep(spec, out / "confirm", preset=preset, force=True, quiet=quiet, only=flagged)
    confirm = compare_runs(base, load_run(out / "confirm"), max_slowdown, max_accuracy_drop, alpha, only=flagged)
    again = {f.cell_id: f for f in confirm.findings if f.check == "speed"}
    final = Comparison(notes=list(first.notes))
    for f in first.findings:
        if f.check == "speed" and f.cell_id in flagged:
            rerun = again.get(f.cell_id)
            if rerun is not None and rerun.verdict == REGRESSION:
                f.note = "; ".join(filter(None, [f.note, f"confirmed by a rerun ({rerun.change})"]))
            else:
                change = rerun.change if rerun is not None else "no result"
                f.verdict = UNCHANGED
                f.note = "; ".join(filter(None, [f.note, f"not confirmed: a rerun gave {change} (a slow spell of the machine)"]))
        final.findings.append(f)
    final.notes.append(f"{len(flagged)} cell(s) flagged for speed were rerun in {out / 'confirm'}")
    return final
