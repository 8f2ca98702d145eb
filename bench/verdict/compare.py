"""Regression verdicts between two run directories (``rnnbench compare BASELINE NEW``).

A cell regresses in speed only when both hold: its training throughput fell by more than the
threshold (``max_slowdown``, default 10%), *and* its raw step times (each step's wall-clock cycle,
the gap before it included) are significantly slower (one-sided Mann-Whitney U, ``alpha``) when both
runs kept them (asv's rule). Without raw steps the
ratio alone decides and the row says so. A plain threshold cries wolf on a noisy CI machine; a test
alone flags 1% changes that nobody cares about.

Many cells are many tests: at ``alpha`` = 0.01, a sweep of hundreds of unchanged cells would flag a few by
chance. So the test's p-values of all the speed findings of one comparison are adjusted together by
Benjamini-Hochberg (``scipy.stats.false_discovery_control``), and a change counts only where its q-value is
below ``alpha``: the expected share of false alarms among the changes reported stays below ``alpha``.
Each row shows both p and q; a change significant alone but not after the adjustment says so.

When the runs come from different machines (CPU, cores, GPUs, Python or framework versions differ in
``run.json``; bench/storage/environment.py), speed is
compared after dividing each run's throughput by its own calibration matmul figure for the same
backend and device, and the report says so. A speed row also says when the two runs used other
``threads`` or ``cpus`` settings.

Accuracy regresses when ``test_acc`` fell by more than ``max_accuracy_drop`` (absolute). A changed
parameter count is always flagged. A cell that newly failed or is missing from the new run counts as
a regression; new cells and newly skipped cells are listed as notes.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rnnbench.config.spec import cell_label
from rnnbench.errors import BadInput
from rnnbench.reporting.text import display, md_text
from rnnbench.storage import environment
from rnnbench.storage.store import Row, Run
from rnnbench.verdict.thresholds import ALPHA, MAX_ACCURACY_DROP, MAX_SLOWDOWN, check_thresholds
from tabulate import tabulate

REGRESSION, IMPROVEMENT, UNCHANGED = "regression", "improvement", "unchanged"
#: Speed measured but deliberately not judged: ``INFO`` where another measurement gates it (the gate's
#: A/B), ``NOT_GATED`` where nothing can (see bench/verdict/gate.py). Neither changes the exit code.
INFO, NOT_GATED = "info", "not gated"


def _float(row: Row, column: str) -> float | None:
    """A typed metric as a float (NaN and inf included: the caller judges them); None when not measured."""
    value = row.get(column)
    return None if value is None else float(value)


@dataclass
class Finding:
    cell_id: str
    cell: str
    check: str  # speed | accuracy | params | status
    verdict: str
    baseline: float | str | None = None
    new: float | str | None = None
    change: str = ""
    p_value: float | None = None
    note: str = ""
    q_value: float | None = None  # p adjusted over the comparison's speed findings (Benjamini-Hochberg)


@dataclass
class Comparison:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    title: str = "rnnbench compare"

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == REGRESSION]

    def to_markdown(self) -> str:
        n_reg = len(self.regressions)
        head = f"**{self.title}: {n_reg} regression(s)**" if n_reg else f"**{self.title}: no regression**"
        rows = [[f.verdict, f.check, md_text(f.cell), md_text(display(f.baseline)), md_text(display(f.new)), f.change,
                 "" if f.p_value is None else f"{f.p_value:.2g}", "" if f.q_value is None else f"{f.q_value:.2g}",
                 md_text(f.note)] for f in self.findings]
        table = tabulate(rows, headers=["verdict", "check", "cell", "baseline", "new", "change", "p", "q", "note"],
                         tablefmt="github", disable_numparse=True)
        notes = "".join(f"\n- {md_text(n)}" for n in self.notes)
        return f"{head}\n\n{table}\n" + (f"\nNotes:{notes}\n" if notes else "")

    def to_json(self) -> str:
        return json.dumps({"regressions": len(self.regressions), "findings": [asdict(f) for f in self.findings],
                           "notes": self.notes}, indent=2)


def write_summary(markdown: str, path: str | os.PathLike | None = None) -> list[Path]:
    """Append a verdict's Markdown to ``$GITHUB_STEP_SUMMARY`` when it is set (a GitHub Actions job's summary
    file, which steps append to) and to ``path`` when given (``--summary FILE``); each file once. Returns
    the files written: none when neither is set."""
    targets, seen = [], set()
    for target in (os.environ.get("GITHUB_STEP_SUMMARY"), path):
        if not target or Path(target).resolve() in seen:
            continue
        seen.add(Path(target).resolve())
        with open(target, "a", encoding="utf-8") as f:
            f.write(markdown.rstrip("\n") + "\n\n")
        targets.append(Path(target))
    return targets


#: The metrics every ok cell is judged on, the check each belongs to, and what a valid value is.
_JUDGED = {"params": "params", "train_samples_per_s": "speed", "test_acc": "accuracy"}


def compare_runs(base: Run, new: Run, max_slowdown: float = MAX_SLOWDOWN, max_accuracy_drop: float = MAX_ACCURACY_DROP,
                 alpha: float = ALPHA, only: set[str] | None = None, checks: tuple[str, ...] = tuple(_JUDGED.values()),
                 skipped_is_regression: bool = False) -> Comparison:
    """Compare every cell of ``new`` with the same cell (same parameters) of ``base``.

    ``only`` (cell ids) limits the comparison to those cells, on both sides (a rerun of some cells);
    ``checks`` to some of ``speed``, ``accuracy`` and ``params`` (an A/B times speed only). A cell ok in
    the baseline and skipped now is a note (another machine may lack its GPU), or a regression with
    ``skipped_is_regression`` (the gate on the baseline's own kind of machine).
    """
    if only is not None:
        base = Run(base.path, base.meta, {k: v for k, v in base.cells.items() if k in only}, base.steps)
        new = Run(new.path, new.meta, {k: v for k, v in new.cells.items() if k in only}, new.steps)
    check_thresholds(max_slowdown, max_accuracy_drop, alpha)
    result = Comparison()
    # One notion of "another machine" with the gate (bench/storage/environment.py): CPU, cores, GPUs, Python and
    # framework versions; a host name alone is not another machine.
    differences = environment.differences(base.meta.environment, new.meta.environment,
                                          tuple({r["backend"] for r in base.cells.values()}))
    cross_machine = bool(differences)
    if cross_machine:
        result.notes.append(
            f"different machines ({'; '.join(differences)}): throughput is compared after dividing each run by its own "
            "calibration matmul GFLOP/s, which does not make two CPUs comparable for recurrent steps: information, "
            "not a verdict to trust (rnnbench gate times both versions on one machine instead)")
    if not set(base.cells) & set(new.cells):
        raise BadInput(f"{str(base.path)!r} and {str(new.path)!r} share no cell (different sweeps?): nothing to compare")
    if not any(b["status"] == "ok" for b in base.cells.values()):
        raise BadInput(f"{str(base.path)!r} has no ok cell: a baseline without a measurement cannot judge anything")

    for cid, b in base.cells.items():
        n = new.cells.get(cid)
        name = cell_label(b)
        if b["status"] != "ok":
            # Nothing to measure against, but never silence: the reader learns the baseline has a hole.
            now = "missing" if n is None else n["status"]
            result.notes.append(f"{name}: {b['status']} in the baseline ({(b['error'] or '')[:120]}), {now} now: not compared")
            continue
        if n is None:
            result.findings.append(Finding(cid, name, "status", REGRESSION, b["status"], "missing", note="cell missing from the new run"))
            continue
        if n["status"] == "failed":
            result.findings.append(Finding(cid, name, "status", REGRESSION, "ok", "failed", note=(n["error"] or "")[:120]))
            continue
        if n["status"] == "skipped":
            if skipped_is_regression:
                result.findings.append(Finding(cid, name, "status", REGRESSION, "ok", "skipped", note=(n["error"] or "")[:120]))
            else:
                result.notes.append(f"{name}: newly skipped ({n['error']})")
            continue
        result.findings.extend(_compare_cell(cid, name, b, n, base, new, cross_machine, max_slowdown, max_accuracy_drop, alpha,
                                             checks))
    for cid, n in new.cells.items():
        if cid not in base.cells:
            result.notes.append(f"{cell_label(n)}: new cell (not in the baseline)")
    launched = sum(1 for f in result.findings
                   if f.check == "speed" and row_launch(base.cells[f.cell_id]) != row_launch(new.cells[f.cell_id]))
    if launched:
        # Forked and spawned cells differ in more than the code: start-up, teardown and memory layout
        # (docs/scale.md, "Fork server"); their speed verdicts are information, not a change of the code.
        result.notes.append(f"{launched} cell(s) started differently in the two runs (launch spawn vs fork): side by "
                            "side the two launches gave the same figures, though forked cells timed up to 2% lower in "
                            "some checks (docs/scale.md, Fork server); rerun both with the same --launch to rule it out")
    control_false_discoveries(result.findings, alpha)
    return result


def add_drift_caveat(result: Comparison) -> None:
    """Say so when a speed change between two separate runs rests on the test of raw steps.

    The test pools each run's raw steps (of all its speed processes), which show the noise inside the
    run, not the drift between two runs: A/A runs on a 2-core VM gave 17-23 of 24 unchanged cells
    p < 0.01, and about one in ten moved by more than 15% (docs/regression-gate.md, "Many cells: false
    discoveries"). A test between processes would see that drift, but with 3 processes at this VM's 3-11%
    spread between them it misses half of all 30% slowdowns at alpha 0.01 (same section), so the verdict
    keeps the raw-step test and the reader is told what it cannot see and what can: timing both versions
    together (``rnnbench ab``).
    """
    tested = [f for f in result.findings if f.check == "speed" and f.verdict in (REGRESSION, IMPROVEMENT)
              and f.p_value is not None]
    if tested:
        result.notes.append(
            f"{len(tested)} speed change(s) rest on a test of raw steps, which sees the noise of steps inside each "
            "run, not the drift between two separate runs (about one unchanged cell in ten moved by more than "
            "15% between runs on a 2-core VM); confirm with rnnbench ab, which times both versions together "
            "(docs/regression-gate.md)")


def control_false_discoveries(findings: list[Finding], alpha: float) -> None:
    """Give each speed finding with a p-value its Benjamini-Hochberg q-value over all of them, and take back
    a regression or improvement whose q is not below ``alpha`` (it was significant alone, not among many)."""
    tested = [f for f in findings if f.check == "speed" and f.p_value is not None and math.isfinite(f.p_value)]
    if not tested:
        return
    from scipy.stats import false_discovery_control

    q_values = false_discovery_control([f.p_value for f in tested], method="bh")
    for f, q in zip(tested, q_values, strict=True):
        f.q_value = float(q)
        if f.verdict in (REGRESSION, IMPROVEMENT) and q >= alpha:
            f.note = "; ".join(filter(None, [f.note, f"{f.verdict} by p = {f.p_value:.2g} alone, not once the false discovery "
                                              f"rate over the {len(tested)} cells compared is controlled (q = {q:.2g})"]))
            f.verdict = UNCHANGED


def row_launch(row: dict) -> str:
    """How a row's cell process started; a row from before the launch column was spawned."""
    return (row.get("launch") if isinstance(row.get("launch"), str) else None) or "spawn"


def _valid(column: str, value: float) -> bool:
    if not math.isfinite(value):
        return False
    return 0 <= value <= 1 if column == "test_acc" else value > 0


def _judged_values(cid, name, b, n, base, checks) -> tuple[dict[str, tuple[float, float]], list[Finding]]:
    """Baseline and new value of each judged metric.

    A damaged or missing baseline value (NaN, inf, zero or negative where a measurement belongs, or
    empty where every ok cell has one) is bad input: it could excuse anything. A value the baseline has
    and the new ok cell lacks or has damaged is a regression, never silence. Only accuracy may be empty,
    in a speed-only cell (epochs = 0), and is then not judged.
    """
    values, findings = {}, []
    for column, check in _JUDGED.items():
        if check not in checks:
            continue
        bv, nv = _float(b, column), _float(n, column)
        if bv is None and column == "test_acc" and b.get("epochs") == 0:
            continue
        if bv is None or not _valid(column, bv):
            raise BadInput(f"{base.path / 'cells.csv'}: baseline cell {cid!r} is ok but its {column} is {'empty' if b[column] is None else str(b[column])!r}: "
                           "a damaged baseline cannot judge anything")
        if nv is None or not _valid(column, nv):
            shown = "missing" if n.get(column) is None else str(n[column])
            findings.append(Finding(cid, name, check, REGRESSION, bv, shown, note=f"{column} missing or not a valid number in an ok cell"))
            continue
        values[column] = (bv, nv)
    return values, findings


def _compare_cell(cid, name, b, n, base, new, cross_machine, max_slowdown, max_accuracy_drop, alpha, checks) -> list[Finding]:
    values, out = _judged_values(cid, name, b, n, base, checks)
    if "params" in values:
        bp, np_ = values["params"]
        if bp != np_:
            out.append(Finding(cid, name, "params", REGRESSION, int(bp), int(np_), f"{np_ - bp:+,.0f}", note="parameter count changed"))

    if "train_samples_per_s" in values:
        b_sps, n_sps = values["train_samples_per_s"]
        # Throughput under other thread settings is another measurement, not a change of the code.
        note = [f"{key} differ: {b.get(key) or 'all'} vs {n.get(key) or 'all'}" for key in ("threads", "cpus")
                if (b.get(key) or "") != (n.get(key) or "")]
        if row_launch(b) != row_launch(n):
            note.append(f"launch differ: {row_launch(b)} vs {row_launch(n)}")
        if bool(b.get("train_step_samples_per_s")) != bool(n.get("train_step_samples_per_s")):
            # A run from before the wall-clock definition timed the steps alone (docs/measurement.md).
            note.append("throughput definitions differ: one run's figure is its steps alone, the other's wall clock")
        scale = 1.0  # multiplies new step times to put them on the baseline machine's scale
        if cross_machine:
            bc, nc = base.calibration(b["backend"], b["device"]), new.calibration(n["backend"], n["device"])
            if bc and nc:
                scale = nc / bc
                note.append("normalised by calibration")
            else:
                note.append("no calibration to normalise by: raw ratio across machines")
        ratio = n_sps / scale / b_sps
        p_slower = p_faster = None
        if cid in base.steps and cid in new.steps and len(base.steps[cid]) >= 3 and len(new.steps[cid]) >= 3:
            from scipy.stats import mannwhitneyu  # here, not at the top: scipy costs every CLI start half a second

            new_steps = new.steps[cid] * scale
            p_slower = float(mannwhitneyu(new_steps, base.steps[cid], alternative="greater").pvalue)
            p_faster = float(mannwhitneyu(new_steps, base.steps[cid], alternative="less").pvalue)
        else:
            note.append("no raw step times: ratio alone")
        if ratio < 1 - max_slowdown and (p_slower is None or p_slower < alpha):
            verdict, p = REGRESSION, p_slower
        elif ratio > 1 + max_slowdown and (p_faster is None or p_faster < alpha):
            verdict, p = IMPROVEMENT, p_faster
        else:
            verdict, p = UNCHANGED, p_slower if ratio < 1 else p_faster
            if abs(ratio - 1) > max_slowdown:
                note.append(f"beyond threshold but not significant at alpha={alpha}")
        out.append(Finding(cid, name, "speed", verdict, b_sps, n_sps, f"{ratio - 1:+.1%}", p, "; ".join(note)))

    if "test_acc" in values:
        b_acc, n_acc = values["test_acc"]
        drop = b_acc - n_acc
        verdict = REGRESSION if drop > max_accuracy_drop else UNCHANGED
        out.append(Finding(cid, name, "accuracy", verdict, b_acc, n_acc, f"{-drop + 0.0:+.4f}",  # + 0.0: no "-0.0000"
                           note=f"tolerance {max_accuracy_drop}" if verdict == REGRESSION else ""))
    return out
