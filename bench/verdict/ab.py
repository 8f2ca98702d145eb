"""Same-machine A/B: time cells with two versions of the harness's code on this machine, interleaved.

A speed figure recorded on one CPU says little about another: a large matmul's speed (the calibration)
does not predict a small recurrent step's across CPUs (docs/regression-gate.md has the figures), so no
normalisation makes a baseline from another machine a speed reference. What does hold on any machine
is the question asv's ``continuous`` asks: is the new code slower than the base code *here*? Both
versions time each cell in turn, the order alternating cell by cell and round by round (A B, B A, A B
...), so a slow spell of the machine hits both alike.

Each version runs its own code in its own processes: the base is exported from git and installed
apart (bench/verdict/code_versions.py). A cell runs through that version's own
``rnnbench run`` for one cell, speed only (or, to judge accuracy on this machine, trained: the gate and
bisect): the contract between versions is the command line and the run directory, the two things a
release keeps stable, never internal APIs.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rnnbench.config.settings import IDENTITY_SETTINGS
from rnnbench.config.spec import DEFAULT_UNITS, Cell, SweepSpec
from rnnbench.errors import BadInput
from rnnbench.storage import ownership
from rnnbench.storage.run_meta import RunMeta
from rnnbench.storage.store import Run, load_run
from rnnbench.verdict.code_versions import (
    INSTALL_TIMEOUT_S,
    ABUnavailable,
    CodeVersion,
    imported_from,
    materialise,
    this_version,
)
from rnnbench.verdict.compare import NOT_GATED, REGRESSION, Comparison, Finding, compare_runs
from rnnbench.verdict.confirm import SecondLook, confirm_flags, speed_flagged, stands_unlooked
from rnnbench.verdict.thresholds import ALPHA, GATE_MAX_SLOWDOWN

#: Rounds per cell and version. Each round is one process per version (about 15 s for a regress cell
#: here); three give each side 15 timed repeats and cost about 4.5 minutes for the regress preset.
AB_ROUNDS = 3


@dataclass(frozen=True, kw_only=True)
class ABSettings:
    """How an A/B times and judges, the same for its first look and its second: rounds per cell and
    version, the slowdown it flags (a fraction), the significance level of its test, and whether it
    prints each timing. The gate, ``rnnbench ab`` and bisect each build one from their options."""

    rounds: int = AB_ROUNDS
    max_slowdown: float = GATE_MAX_SLOWDOWN
    alpha: float = ALPHA
    quiet: bool = False


def check_rounds(rounds: int) -> None:
    """BadInput unless ``rounds`` is a usable round count (checked before anything runs)."""
    if rounds < 1:
        raise BadInput(f"--rounds must be at least 1, got {rounds}")


def prepare(ref: str, work: Path, cwd: Path) -> tuple[CodeVersion, CodeVersion]:
    """The base (``ref`` exported and installed under ``work``) and the new side (the running harness),
    each checked to import its own code; ABUnavailable when either cannot."""
    base, new = materialise(ref, work), this_version()
    for version in (base, new):
        imported_from(version, cwd)
    return base, new


def cell_args(cell: Cell, spec: SweepSpec, out: Path, threads: int, train: bool = False) -> list[str]:
    """``rnnbench run`` arguments that run exactly ``cell``, speed only (with ``train``: its epochs too),
    in one process, into ``out``.

    Every setting of the cell is given as a flag (the preset named is only a starting point every
    version has), so both versions time the same cell whatever their presets say. A base older than
    these flags cannot run it, and the A/B says so (no speed verdict).
    """
    args = ["run", "--preset", "smoke"]
    for setting in IDENTITY_SETTINGS:
        value = 0 if setting.name == "epochs" and not train else getattr(cell, setting.column)  # speed only
        if setting.name == "units" and value == DEFAULT_UNITS:
            continue  # the tutorial's width, which a base older than --units runs anyway
        # the flag's oldest spelling (--jit for --jit-compile), which every base that has the setting knows
        args += [(*setting.aliases, setting.flag)[0], setting.text(value)]
    args += ["--timeout", f"{spec.timeout_s:g}", "--threads", str(threads),
             "--out", str(out), "--force", "--quiet", "--no-report"]  # one speed process: the smoke preset's
    if spec.memory_limit_mb:
        args += ["--memory-limit", f"{spec.memory_limit_mb:g}"]
    return args


@dataclass
class Timing:
    """One version's timing of one cell in one round: per-repeat throughput and raw step times."""

    repeat_samples_per_s: list[float]
    step_s: np.ndarray


def read_timing(run_dir: Path, cell: Cell) -> Timing | str:
    """The timing stored in a one-cell run directory (read like any run, through store.load_run), or why
    there is none."""
    try:
        run = load_run(run_dir)
    except BadInput as exc:
        return f"unreadable result: {exc}"
    if len(run.cells) != 1:
        return f"{run_dir} holds {len(run.cells)} cells, expected 1"
    (cid, row), = run.cells.items()
    if row["status"] != "ok":
        return f"{row['status']}: {row['error']}"
    if cid not in run.steps:
        return "no raw step times stored"
    steps, repeats = run.steps[cid], run.step_repeats[cid]
    rates = [len(s) * cell.batch_size / s.sum() for s in (steps[repeats == r] for r in np.unique(repeats))]
    return Timing(rates, steps)


#: Runs one version on one cell and returns its timing or why there is none; the gate's tests replace it.
CellRunner = Callable[[CodeVersion, Cell, SweepSpec, Path], "Timing | str"]


def run_version_cell(version: CodeVersion, cell: Cell, spec: SweepSpec, out: Path) -> Timing | str:
    """Time ``cell`` with ``version``'s own ``rnnbench run`` in a fresh process tree, into ``out``."""
    failed = _run_version(version, cell, spec, out, train=False)
    return failed if failed is not None else read_timing(out.resolve(), cell)


def run_version_accuracy(version: CodeVersion, cell: Cell, spec: SweepSpec, out: Path) -> float | str:
    """Train ``cell`` (its epochs) with ``version``'s own ``rnnbench run``, into ``out``: its test accuracy,
    or why there is none."""
    failed = _run_version(version, cell, spec, out, train=True)
    if failed is not None:
        return failed
    try:
        run = load_run(out.resolve())
    except BadInput as exc:
        return f"unreadable result: {exc}"
    row = run.cells.get(cell.cell_id)
    if row is None or row["status"] != "ok":
        return "no result" if row is None else f"{row['status']}: {row['error']}"
    return float(row["test_acc"]) if row.get("test_acc") is not None else "no test accuracy (no epochs?)"


_LAUNCH_ARGS: dict[CodeVersion, tuple[str, ...]] = {}


def launch_args(version: CodeVersion) -> tuple[str, ...]:
    """``--launch spawn`` where ``version``'s ``rnnbench run`` has the flag, else nothing.

    Versions from before the flag always spawned; later ones fork by default. Spawning both keeps an
    A/B a comparison of code, not of two ways to start a cell (and a one-cell run gains nothing from a
    fork server, which imports the framework itself). Asked once per version, from its own help text; a
    version whose help cannot be read is asked again next time (its run then says what is wrong).
    """
    if version not in _LAUNCH_ARGS:
        try:
            proc = subprocess.run(version.command(["run", "--help"]), env=version.env(), capture_output=True,
                                  text=True, timeout=INSTALL_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (subprocess.TimeoutExpired, OSError):
            return ()
        if proc.returncode != 0:
            return ()
        _LAUNCH_ARGS[version] = ("--launch", "spawn") if "--launch" in proc.stdout else ()
    return _LAUNCH_ARGS[version]


def _run_version(version: CodeVersion, cell: Cell, spec: SweepSpec, out: Path, train: bool) -> str | None:
    """Run ``cell`` through ``version``'s ``rnnbench run`` into ``out``; None when it exited 0, else why not."""
    threads = spec.cell_threads
    # Absolute: the version's process runs in out's parent folder, where a relative --out (as CI's
    # "runs/ci-gate" gives) would name a folder inside itself and the timing would be looked for elsewhere.
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cpus = spec.cpus
    with open(out.parent / f"{out.name}.log", "wb") as log:
        try:
            proc = subprocess.run(
                version.command([*cell_args(cell, spec, out, threads, train), *launch_args(version)]), env=version.env(),
                cwd=out.parent,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=spec.timeout_s + INSTALL_TIMEOUT_S,
                # The cores go to the process, not as a flag: every cell process inherits them, and an
                # older version without --cpus is confined all the same.
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        except subprocess.TimeoutExpired:
            return f"its rnnbench run took over {spec.timeout_s + INSTALL_TIMEOUT_S:g} s"
    if proc.returncode != 0:
        tail = (out.parent / f"{out.name}.log").read_text(errors="replace").strip().splitlines()
        return f"its rnnbench run exited with code {proc.returncode}: {tail[-1] if tail else 'no output'}"
    return None


def _pooled(path: Path, cells: list[Cell], timings: dict[str, list[Timing]], threads: int | None, meta: RunMeta) -> Run:
    """One version's rounds as one run: repeats pooled (median throughput), raw steps concatenated."""
    rows, steps = {}, {}
    for cell in cells:
        done = timings.get(cell.cell_id) or []
        if not done:
            continue
        rates = [r for t in done for r in t.repeat_samples_per_s]
        rows[cell.cell_id] = {**cell.to_dict(), "status": "ok", "error": None, "train_samples_per_s": float(np.median(rates)),
                              "threads": threads, "cpus": None}
        steps[cell.cell_id] = np.concatenate([t.step_s for t in done])
    return Run(path, meta, rows, steps)


@dataclass
class Rounds:
    """What the interleaved rounds gave, per version label and cell id: the timings, and each cell's
    first error."""

    timings: dict[str, dict[str, list[Timing]]]
    errors: dict[str, dict[str, str]]

    def timed(self, version: CodeVersion, cell: Cell) -> int:
        return len(self.timings[version.label].get(cell.cell_id, []))


def time_rounds(cells: list[Cell], spec: SweepSpec, base: CodeVersion, new: CodeVersion, work: Path, rounds: int,
                runner: CellRunner, quiet: bool) -> Rounds:
    """Time every cell with both versions, ``rounds`` times, alternating which version goes first."""
    done = Rounds({v.label: {} for v in (base, new)}, {v.label: {} for v in (base, new)})
    for r in range(rounds):
        for i, cell in enumerate(cells):
            # A B, then B A: neither version always runs first, right after the other has warmed the caches.
            for version in (base, new) if (r + i) % 2 == 0 else (new, base):
                result = runner(version, cell, spec, work / cell.cell_id / f"{version.label}-{r + 1}")
                if isinstance(result, Timing):
                    done.timings[version.label].setdefault(cell.cell_id, []).append(result)
                    figure = f"{np.median(result.repeat_samples_per_s):,.0f} samples/s"
                else:
                    done.errors[version.label].setdefault(cell.cell_id, result)
                    figure = f"no result ({result})"
                if not quiet:
                    print(f"A/B round {r + 1}/{rounds}  {cell.label}  {version.label}: {figure}", flush=True)
    return done


def round_changes(base_rounds: list[Timing], new_rounds: list[Timing], rounds: int) -> str:
    """Each round's change, new over base (median repeat throughputs, the two timed side by side), when
    both versions timed every one of ``rounds`` >= 2 rounds; else empty.

    The A/B's p-value pools the steps of all rounds, so it cannot tell a change of the code (every round
    alike) from a slow spell of the machine during one version's process (one round out of line); the
    rounds side by side can (docs/regression-gate.md, "Why speed needs its own path" and "Bisect")."""
    if rounds < 2 or not len(base_rounds) == len(new_rounds) == rounds:
        return ""
    changes = [float(np.median(n.repeat_samples_per_s) / np.median(b.repeat_samples_per_s)) - 1
               for b, n in zip(base_rounds, new_rounds, strict=True)]
    return "by round: " + ", ".join(f"{c:+.1%}" for c in changes)


def _speed_findings(a: Run, b: Run, done: Rounds, base: CodeVersion, new: CodeVersion, rounds: int,
                    max_slowdown: float, alpha: float) -> list[Finding]:
    """The speed verdict of every cell both versions timed (compare's test on the pooled rounds)."""
    both = set(a.cells) & set(b.cells)
    if not both:
        return []
    findings = []
    for f in compare_runs(a, b, max_slowdown, 0.0, alpha, only=both, checks=("speed",)).findings:
        if f.check == "speed":
            timed_a, timed_b = done.timings[base.label][f.cell_id], done.timings[new.label][f.cell_id]
            f.note = "; ".join(filter(None, [f"A/B on this machine, rounds timed: base {len(timed_a)}, new {len(timed_b)}; "
                                             f"threshold -{max_slowdown:.0%}", round_changes(timed_a, timed_b, rounds),
                                             f.note]))
            findings.append(f)
    return findings


def _failures(result: Comparison, cells: list[Cell], a: Run, b: Run, done: Rounds, base: CodeVersion,
              new: CodeVersion, rounds: int) -> None:
    """Findings and notes for the cells a version could not time, in some rounds or in all."""
    for cell in cells:
        name = cell.label
        failed_new, failed_base = done.errors[new.label].get(cell.cell_id), done.errors[base.label].get(cell.cell_id)
        if cell.cell_id in b.cells and cell.cell_id not in a.cells:
            result.findings.append(Finding(cell.cell_id, name, "speed", NOT_GATED, None, b.cells[cell.cell_id]["train_samples_per_s"],
                                           note=f"the base code could not time it: {failed_base}"))
        elif cell.cell_id not in b.cells:
            result.findings.append(Finding(cell.cell_id, name, "speed", REGRESSION, None, "no result",
                                           note=f"the new code produced no speed figure in the A/B: {failed_new}"))
        elif failed_new:  # timed in some rounds, failed in others: a cell that crashes now and then is no pass
            result.findings.append(Finding(cell.cell_id, name, "status", REGRESSION, "ok", "failed",
                                           note=f"the new code failed in {rounds - done.timed(new, cell)} of {rounds} "
                                                f"A/B rounds: {failed_new}"))
        if failed_base and cell.cell_id in a.cells:
            result.notes.append(f"{name}: the base code failed in {rounds - done.timed(base, cell)} "
                                f"of {rounds} rounds ({failed_base})")


def run_ab(cells: list[Cell], spec: SweepSpec, base: CodeVersion, new: CodeVersion, work: Path,
           settings: ABSettings, *, runner: CellRunner | None = None) -> Comparison:
    """Time ``cells`` with both versions in interleaved rounds under ``work`` and compare their speed.

    A cell the base cannot time is reported as not gated, with the base's own error, and a base that
    times no cell at all makes the whole A/B unavailable (:class:`ABUnavailable`); a cell the new code
    cannot time, or fails to in some rounds, is a regression. ``runner`` defaults to :func:`run_version_cell`.
    """
    rounds, max_slowdown = settings.rounds, settings.max_slowdown
    check_rounds(rounds)
    ownership.fresh_subdir(work, "A/B timings")  # a folder of that name rnnbench did not make is refused
    start = time.perf_counter()
    done = time_rounds(cells, spec, base, new, work, rounds, runner or run_version_cell, settings.quiet)
    if not done.timings[base.label]:
        first = next(iter(done.errors[base.label].values()), "no cell to time")
        raise ABUnavailable(f"the base code timed no cell ({first})")
    meta = RunMeta()  # one machine for both sides: nothing to normalise
    a = _pooled(work / base.label, cells, done.timings[base.label], spec.cell_threads, meta)
    b = _pooled(work / new.label, cells, done.timings[new.label], spec.cell_threads, meta)
    result = Comparison(title="rnnbench ab", findings=_speed_findings(a, b, done, base, new, rounds, max_slowdown,
                                                                          settings.alpha))
    _failures(result, cells, a, b, done, base, new, rounds)
    if base.commit and new.commit and base.commit == new.commit:
        result.notes.append("base and new are the same commit: this A/B measures the machine's noise, not a change")
    result.notes.append(f"speed: A/B of {base.name} against {new.name} on this machine, {rounds} interleaved round(s) "
                        f"per cell, in {time.perf_counter() - start:.0f} s ({work})")
    return result


def confirm_by_second_ab(first: Comparison, cells: list[Cell], spec: SweepSpec, base: CodeVersion, new: CodeVersion,
                         work: Path, settings: ABSettings) -> dict[str, SecondLook]:
    """Time the cells ``first`` (an A/B) flags for speed in a second A/B under ``work``; keep each flag
    only where the second repeats it (bench/verdict/confirm.py says why). Returns each flagged cell's
    :class:`SecondLook` (empty: nothing was flagged). A second A/B that cannot run leaves the flags standing."""
    flagged = speed_flagged(first)
    if not flagged:
        return {}
    try:
        again = run_ab([c for c in cells if c.cell_id in flagged], spec, base, new, work, settings)
    except ABUnavailable as exc:
        return stands_unlooked(first.findings, flagged, "a second A/B", str(exc))
    looks = confirm_flags(first.findings, again.findings, "a second A/B")
    first.notes.append(f"{len(flagged)} cell(s) flagged for speed by the A/B were timed again in {work}")
    # Its own notes too (a base that failed some rounds), but not its timing line or one said already.
    first.notes.extend(n for n in again.notes if not n.startswith("speed: A/B of ") and n not in first.notes)
    return looks
