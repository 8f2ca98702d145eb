"""The regression gate (``rnnbench gate``): run a preset, compare it with a baseline, gate speed on this machine.

Which path runs:

* **Same machine** (the baseline's CPU, cores, GPUs, Python and framework versions match this
  machine's, and no ``--base``): the preset is run and compared with the committed baseline. A speed
  regression there has three causes: slower code, a slow spell of the machine (runs of unchanged code
  drift against the baseline, often all cells together, for minutes), or a slower machine of the same
  kind (another VM with the same CPU model string ran every cell 16-38% slower: docs/regression-gate.md).
  Only the first is a regression, and only an A/B tells it from the other two, so a cell flagged for
  speed is timed again by an A/B of the baseline's commit against this code on this machine
  (bench/verdict/ab.py), and its speed regression stands only if the A/B confirms it (and, for a cell that
  A/B flags, a second A/B as on the A/B path: one slow spell during one version's rounds can flag a cell;
  bench/verdict/confirm.py).
  Where no A/B is possible, the flagged cells are rerun instead, which tells a slow spell but not a
  slower machine.
* **A/B** (the baseline comes from another machine, or ``--base REF`` names a revision): speed recorded
  on another CPU is no reference (bench/verdict/ab.py says why), so the baseline's own commit (or ``REF``) is
  exported from git and both versions time the cells here, interleaved (bench/verdict/ab.py); a flagged cell
  is confirmed by a second A/B of it. Speed against the committed baseline is still shown, normalised
  by calibration, as information. Accuracy too is judged here: the base's code trains the cells once on
  this machine and each cell's test accuracy is judged against that, since accuracy is deterministic on
  one machine but not across CPUs (results/README.md: the same seed cells on two VMs' CPUs); the
  committed baseline's accuracy stays as information.
* **Speed not gated**: the A/B is impossible (no git, the commit is not in the clone, the base's code
  does not install or start). Speed is reported, marked not gated with the reason and the command that
  would gate it, and the exit code depends on the deterministic checks alone.
  A ``--base`` the user named that does not resolve or install is bad input instead (exit 2, before
  any sweep): a typo in CI's command must not pass.

Parameter count and status are judged against the committed baseline on every path, accuracy on the
same-machine path and where no A/B is possible (then against a figure from another CPU: the only one
there is): deterministic figures that need no confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnbench.config.spec import SweepSpec
from rnnbench.errors import BadInput
from rnnbench.execute.sweep import run_sweep
from rnnbench.storage import environment, ownership
from rnnbench.storage.store import Run, command_lock, load_run
from rnnbench.verdict import ab
from rnnbench.verdict.compare import (
    INFO,
    NOT_GATED,
    REGRESSION,
    UNCHANGED,
    Comparison,
    Finding,
    compare_runs,
    row_launch,
)
from rnnbench.verdict.confirm import confirm_flags, measured_speed, speed_flagged
from rnnbench.verdict.thresholds import ALPHA, GATE_MAX_SLOWDOWN, MAX_ACCURACY_DROP, check_thresholds

#: The folders of ``--out`` where flagged cells are timed again (by a rerun, an A/B, a second A/B).
CONFIRMATION_DIRS = ("confirm", "ab-confirm", "ab-confirm-2")


def run_gate(baseline: str | Path, spec: SweepSpec, out: str | Path, preset: str | None = None,
             max_slowdown: float = GATE_MAX_SLOWDOWN, max_accuracy_drop: float = MAX_ACCURACY_DROP, alpha: float = ALPHA,
             quiet: bool = False, base_ref: str | None = None, rounds: int = ab.AB_ROUNDS) -> Comparison:
    """Run ``spec`` into ``out``, compare it with ``baseline`` and gate speed on the path that fits
    (module docstring); return the final verdicts."""
    check_thresholds(max_slowdown, max_accuracy_drop, alpha)  # bad input is found before anything runs
    ab.check_rounds(rounds)
    base = load_run(baseline)
    out = Path(out)
    recorded = base.meta.environment
    differences = environment.differences(recorded, environment.collect(), spec.all_backends)
    settings = ab.ABSettings(rounds=rounds, max_slowdown=max_slowdown, alpha=alpha, quiet=quiet)
    gate = GateRun(base, recorded, spec, out, preset, max_accuracy_drop, settings)
    with command_lock(out, "gate", inputs=[baseline]):
        for confirmation in CONFIRMATION_DIRS:  # written only when a cell is flagged: none may stay from an earlier gate
            ownership.make_way(out / confirmation)
        if base_ref is None and not differences:
            return _same_machine(gate)
        return _ab_gate(gate, differences, base_ref)


@dataclass(frozen=True)
class GateRun:
    """What every path of one gate shares: the baseline (its run and recorded environment), the sweep and
    its run directory, the accuracy threshold, and the A/B's settings (whose slowdown threshold, alpha
    and quietness the same-machine comparison and the sweep use too)."""

    base: Run
    recorded: dict
    spec: SweepSpec
    out: Path
    preset: str | None
    max_accuracy_drop: float
    settings: ab.ABSettings

    def sweep(self, out: Path, spec: SweepSpec | None = None, only: set[str] | None = None) -> None:
        run_sweep(spec or self.spec, out, preset=self.preset, force=True, quiet=self.settings.quiet, only=only)

    def compare(self, new: Run, only: set[str], skipped_is_regression: bool = False) -> Comparison:
        return compare_runs(self.base, new, self.settings.max_slowdown, self.max_accuracy_drop, self.settings.alpha, only=only,
                            skipped_is_regression=skipped_is_regression)

    def ab(self, cells, base_code, new_code, work: Path) -> Comparison:
        return ab.run_ab(cells, self.spec, base_code, new_code, work, self.settings)

    def confirm(self, first: Comparison, cells, base_code, new_code, work: Path) -> None:
        """The speed flags of ``first`` (an A/B) kept only where a second A/B under ``work`` repeats them."""
        ab.confirm_by_second_ab(first, cells, self.spec, base_code, new_code, work, self.settings)


def _baseline_commit(base: Run, recorded: dict) -> str:
    """The commit the committed baseline was recorded from, the base of an A/B against it; ABUnavailable
    when its run.json names none, or names uncommitted changes that no commit holds."""
    commit = str(recorded.get("git_commit") or "")
    if not commit:
        raise ab.ABUnavailable(f"the baseline's run.json records no git commit ({base.path / 'run.json'})")
    if commit.endswith("+dirty"):
        raise ab.ABUnavailable(f"the baseline was recorded from uncommitted code changes on top of {commit[:10]}, "
                               "which no commit holds; commit them and re-record the baseline, or name a base with --base")
    return commit


def _same_machine(gate: GateRun) -> Comparison:
    spec, out = gate.spec, gate.out
    gate.sweep(out)
    # Only this gate's cells are judged (a reused --out may hold rows of an earlier gate's other cells);
    # on the baseline's own kind of machine a cell the new code newly skips is a regression.
    result = gate.compare(load_run(out), {c.cell_id for c in spec.expand()}, skipped_is_regression=True)
    result.notes.insert(0, "speed: against the committed baseline, recorded on this kind of machine")
    result.title = "rnnbench gate"
    flagged = speed_flagged(result)
    if not flagged:
        return result
    cells = [c for c in spec.expand() if c.cell_id in flagged]
    try:
        ref = _baseline_commit(gate.base, gate.recorded)
        base_code, new_code = ab.prepare(ref, out / "ab-code", out)
        again = gate.ab(cells, base_code, new_code, out / "ab-confirm")
    except ab.ABUnavailable as exc:
        gate.sweep(out / "confirm", only=flagged)
        confirm = gate.compare(load_run(out / "confirm"), flagged)
        confirm_flags(result.findings, confirm.findings, "a rerun")
        result.notes.append(f"{len(flagged)} cell(s) flagged for speed were rerun in {out / 'confirm'}, as no A/B with "
                            f"the baseline's commit was possible ({exc}); a rerun tells a slow spell of this machine "
                            "from slower code, but not a slower machine of the same kind")
        return result
    # As on the A/B path, an A/B's own flag stands only if a second A/B repeats it: one slow spell during
    # one version's rounds can flag a cell (GRU at -16.9% in one run of unchanged code on this VM).
    gate.confirm(again, cells, base_code, new_code, out / "ab-confirm-2")
    confirm_flags(result.findings, again.findings, "an A/B with the baseline's commit",
                  cleared="this machine, not the code, is slower than the baseline's")
    result.notes.append(f"{len(flagged)} cell(s) flagged for speed were timed again by an A/B of the baseline's commit "
                        f"({ref[:10]}) against this code on this machine, in {out / 'ab-confirm'}: a slower machine slows "
                        "both versions, slower code only the new one")
    result.notes.extend(again.notes)
    return result


def _accuracy_against_base_here(gate: GateRun, result: Comparison, cells, base_code: ab.CodeVersion, work: Path) -> None:
    """Train each accuracy cell once with the base's code on this machine and judge the new code's test
    accuracy against it; the committed baseline's verdict becomes information. A cell the base cannot
    train here keeps the committed baseline's verdict, with the reason."""
    trained = [c for c in cells if c.epochs]
    if trained:
        ownership.fresh_subdir(work, "A/B accuracy")
    for cell in trained:
        committed = next((f for f in result.findings if f.check == "accuracy" and f.cell_id == cell.cell_id), None)
        if committed is None or not isinstance(committed.new, float):
            continue  # no accuracy to judge, or a damaged one: the committed verdict (a regression) stands
        here = ab.run_version_accuracy(base_code, cell, gate.spec, work / cell.cell_id)
        if isinstance(here, str):
            committed.note = "; ".join(filter(None, [committed.note, f"the base code could not train it here ({here}): "
                                                                     "judged against the committed baseline"]))
            continue
        drop = here - committed.new
        verdict = REGRESSION if drop > gate.max_accuracy_drop else UNCHANGED
        note = f"against the base code trained on this machine ({base_code.name})"
        result.findings.insert(result.findings.index(committed), Finding(
            cell.cell_id, committed.cell, "accuracy", verdict, here, committed.new, f"{-drop + 0.0:+.4f}",
            note=note + (f"; tolerance {gate.max_accuracy_drop}" if verdict == REGRESSION else "")))
        committed.verdict = INFO
        committed.note = "; ".join(filter(None, ["against the committed baseline, recorded elsewhere: information only",
                                                 committed.note]))


def _ab_gate(gate: GateRun, differences: list[str], base_ref: str | None) -> Comparison:
    base, recorded, spec, out = gate.base, gate.recorded, gate.spec, gate.out
    prepared = None
    if base_ref is not None:
        # A base the user named must resolve to a commit and install: a typo in CI's command is bad input,
        # found before the sweep, never a quiet "not gated".
        try:
            prepared = ab.prepare(base_ref, out / "ab-code", out)
        except ab.ABUnavailable as exc:
            raise BadInput(f"--base {base_ref!r}: {exc}") from None
    # Accuracy, parameters and status against the committed baseline; one speed process is enough, as
    # speed here is information only. Its cells start as the baseline's did (spawned, where it timed them
    # in several processes), so its information rows compare like with like.
    launches = {row_launch(row) for row in base.cells.values()}
    gate.sweep(out, spec.replace(processes=1, launch=launches.pop() if len(launches) == 1 else spec.launch))
    new_run = load_run(out)
    result = gate.compare(new_run, {c.cell_id for c in spec.expand()})
    result.title = "rnnbench gate"
    why = (f"--base {base_ref}" if base_ref is not None
           else f"the baseline was recorded on another machine ({'; '.join(differences)})")
    ref = base_ref if base_ref is not None else str(recorded.get("git_commit") or "").removesuffix("+dirty")
    try:
        if prepared is None:
            prepared = ab.prepare(_baseline_commit(base, recorded), out / "ab-code", out)
        base_code, new_code = prepared
        cells = [c for c in spec.expand() if (new_run.cells.get(c.cell_id) or {}).get("status") == "ok"]
        speed = gate.ab(cells, base_code, new_code, out / "ab")
        gate.confirm(speed, cells, base_code, new_code, out / "ab-confirm")
        _accuracy_against_base_here(gate, result, cells, base_code, out / "ab-accuracy")
    except ab.ABUnavailable as exc:
        for f in result.findings:
            if measured_speed(f):
                f.verdict = NOT_GATED
        target = ref or "BASE_COMMIT"
        result.notes.insert(0, f"speed NOT GATED ({why}): no A/B was possible: {exc}. To gate speed, run "
                               f"'rnnbench gate --base {target}' in a full clone that has that commit, or re-record "
                               "the baseline on this machine (README, Regression tracking)")
        return result
    for f in result.findings:
        if measured_speed(f):
            f.verdict = INFO
            f.note = "; ".join(filter(None, ["against the committed baseline, information only", f.note]))
    result.notes.insert(0, f"speed and accuracy gated against the base code on this machine ({why}); parameters and status "
                           "against the committed baseline")
    result.findings = speed.findings + result.findings
    result.notes[1:1] = speed.notes
    return result
