"""``rnnbench bisect GOOD BAD``: the first commit whose code is slower (or less accurate) than GOOD's.

A binary search over the first-parent path from GOOD (exclusive) to BAD (inclusive), as ``git bisect``
and asv's ``find`` do, where each probe is a same-machine judgement of one commit's code against GOOD's
(bench/verdict/ab.py: both exported from git and installed apart, run through their own ``rnnbench run``):

* speed (the default): an A/B of the commit against GOOD in interleaved rounds, judged by compare's
  rule (threshold and test, q-values over the cells); any cell slower, and slower again in a second A/B
  of the flagged cells, is a **bad** probe;
* ``--metric accuracy``: each version trains the cells once (accuracy is deterministic on one machine)
  and a test-accuracy drop beyond the threshold in any cell is **bad**.

What asv's users found derails a bisection (asv issue 623) is said and stepped around instead: a commit
whose code does not install or start, or whose cells fail, is **skipped** (``git bisect skip``) and the
search tries the untested commit nearest the middle; a cell that times out counts as slow, not as an
error; a speed probe beyond the threshold but not significant is run once more, and if it is still
undecided it is **ambiguous** and skipped. A cell that reads slower is timed again in a second A/B and
counts only if that reads slower too (bench/verdict/confirm.py, as the gate and ``rnnbench ab`` do): one
A/B's test pools the steps of a few processes, so one slow spell of the machine can read as a significant
slowdown of identical code. Slower, then not, is undecided: the probe is run once more. When only
skipped commits separate the last good probe from the first bad one, the answer is that run of commits,
as git says "the first bad commit could be any of".

BAD is probed first: a BAD that is not slower than GOOD ends the search (exit 1) before any other probe.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rnnbench.config.spec import Cell, SweepSpec
from rnnbench.errors import BadInput
from rnnbench.reporting.text import md_text
from rnnbench.storage import ownership
from rnnbench.verdict import ab, code_versions
from rnnbench.verdict.compare import NOT_GATED, REGRESSION, UNCHANGED, Finding
from rnnbench.verdict.confirm import CLEARED, CONFIRMED, SecondLook
from tabulate import tabulate

BAD, GOOD, SKIPPED, AMBIGUOUS = "bad", "good", "skipped", "ambiguous"
SPEED, ACCURACY = "speed", "accuracy"


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    date: str  # author date, ISO 8601

    @property
    def short(self) -> str:
        return self.sha[:10]


@dataclass
class Probe:
    """One commit judged against GOOD."""

    commit: Commit
    outcome: str  # BAD | GOOD | SKIPPED | AMBIGUOUS
    why: str  # the evidence, one line
    seconds: float = 0.0
    runs: int = 1  # speed: the A/Bs it took (a flagged cell's second A/B included); accuracy: its judgements


@dataclass
class Bisection:
    good: Commit
    bad: Commit
    commits: list[Commit]  # GOOD's successors on the first-parent path to BAD, oldest first, BAD last
    probes: list[Probe] = field(default_factory=list)  # in the order taken
    culprits: list[Commit] = field(default_factory=list)  # the first bad commit, or the run it hides in

    @property
    def found(self) -> bool:
        return bool(self.culprits)


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise BadInput(f"git {args[0]} failed in {root}: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    return proc.stdout


def repository(cwd: Path) -> Path:
    """The git work tree the current directory is in (where GOOD and BAD are looked up and exported from)."""
    try:
        return Path(_git(cwd, "rev-parse", "--show-toplevel").strip())
    except (BadInput, OSError):
        raise BadInput(f"{cwd} is not inside a git clone: bisect reads the commits of the repository you run it in") from None


def commit_info(root: Path, ref: str) -> Commit:
    """The commit ``ref`` names, with its subject and author date; BadInput for an unknown ref."""
    try:
        sha = code_versions.resolve(ref, root)
    except ab.ABUnavailable as exc:
        raise BadInput(str(exc)) from None
    sha_, subject, date = _git(root, "log", "-1", "--format=%H%x00%s%x00%aI", sha).rstrip("\n").split("\x00")
    return Commit(sha_, subject, date)


def commit_range(root: Path, good: str, bad: str) -> tuple[Commit, Commit, list[Commit]]:
    """GOOD, BAD and the commits after GOOD on BAD's first-parent path, oldest first; BadInput unless
    GOOD is an ancestor of BAD and they differ."""
    g, b = commit_info(root, good), commit_info(root, bad)
    if g.sha == b.sha:
        raise BadInput(f"GOOD and BAD are the same commit ({g.short}): nothing to bisect")
    if subprocess.run(["git", "-C", str(root), "merge-base", "--is-ancestor", g.sha, b.sha]).returncode != 0:
        raise BadInput(f"GOOD {good!r} ({g.short}) is not an ancestor of BAD {bad!r} ({b.short}): bisect searches the "
                       "commits from GOOD to BAD")
    shas = _git(root, "rev-list", "--first-parent", "--reverse", f"{g.sha}..{b.sha}").split()
    if not shas or _git(root, "rev-parse", f"{shas[0]}^").strip() != g.sha:
        raise BadInput(f"GOOD {good!r} ({g.short}) is not on BAD's first-parent path (a commit of a merged branch?): "
                       "name a GOOD on the main line")
    return g, b, [commit_info(root, s) for s in shas]


def search(bisection: Bisection, judge: Callable[[Commit], Probe]) -> Bisection:
    """Binary search for the first bad commit, BAD judged first; skipped and ambiguous probes are stepped
    around (the untested commit nearest the middle is tried instead)."""
    commits, judged = bisection.commits, {}

    def probe(i: int) -> str:
        result = judge(commits[i])
        bisection.probes.append(result)
        judged[i] = result.outcome
        return result.outcome

    if probe(len(commits) - 1) != BAD:
        return bisection
    lo, hi = -1, len(commits) - 1  # lo: the last good (-1: GOOD itself); hi: the first bad known
    while True:
        untested = [i for i in range(lo + 1, hi) if i not in judged]
        if not untested:
            break
        middle = (lo + hi) / 2
        i = min(untested, key=lambda j: (abs(j - middle), j))
        outcome = probe(i)
        if outcome == BAD:
            hi = i
        elif outcome == GOOD:
            lo = i
    bisection.culprits = commits[lo + 1:hi + 1]  # all skipped but the last, or the last alone
    return bisection


# --- judging one commit ------------------------------------------------------------------------------------

def _timed_out(f: Finding) -> bool:
    return "timed out" in f.note or "took over" in f.note


def classify_speed(findings: list[Finding], max_slowdown: float,
                   second: Mapping[str, SecondLook] | None = None) -> tuple[str, str]:
    """A probe's outcome from its A/B findings (after ``second``, the flagged cells' second A/B, by cell id:
    ab.confirm_by_second_ab), and the evidence in one line."""
    second = second or {}
    measured = [f for f in findings if f.check == "speed" and isinstance(f.new, float) and isinstance(f.baseline, float)]
    timed_out = [f for f in findings if f.verdict == REGRESSION and f not in measured and _timed_out(f)]
    failed = [f for f in findings if f.verdict == REGRESSION and f not in measured and f not in timed_out]
    base_failed = [f for f in findings if f.verdict == NOT_GATED]

    def figure(f: Finding) -> str:
        q = "" if f.q_value is None else f", q {f.q_value:.2g}"
        return f"{f.cell}: {f.change}" + ("" if f.p_value is None else f" (p {f.p_value:.2g}{q})")

    def after_second(f: Finding) -> str:
        look = second.get(f.cell_id)
        if look is None:
            return ""
        return (f"confirmed by a second A/B ({look.gave})" if look.outcome == CONFIRMED
                else f"a second A/B gave no figure ({look.gave}): it stands")

    evidence = "; ".join(figure(f) for f in measured)
    if base_failed:
        raise BadInput(f"GOOD's code cannot time {base_failed[0].cell}: {base_failed[0].note}")
    if timed_out or any(f.verdict == REGRESSION for f in measured):
        why = [", ".join(filter(None, [figure(f), after_second(f)])) for f in measured if f.verdict == REGRESSION]
        why += [f"{f.cell}: timed out (counts as slow)" for f in timed_out]
        return BAD, "slower: " + "; ".join(why)
    if failed:
        return SKIPPED, f"its cells fail: {failed[0].cell}: {failed[0].note}"
    undecided = [f for f in measured if f.verdict == UNCHANGED and f.new / f.baseline < 1 - max_slowdown]
    cleared = [f for f in undecided if f.cell_id in second and second[f.cell_id].outcome == CLEARED]
    if cleared:
        return AMBIGUOUS, "slower in one A/B, not in a second: " + "; ".join(
            f"{figure(f)}, then {second[f.cell_id].gave}" for f in cleared)
    if undecided:
        return AMBIGUOUS, "beyond the threshold but not significant: " + "; ".join(figure(f) for f in undecided)
    return GOOD, "not slower: " + evidence


@dataclass
class Judge:
    """Judges commits against GOOD's code on this machine; one instance per bisection."""

    root: Path
    work: Path
    cells: list[Cell]
    spec: SweepSpec
    metric: str
    max_accuracy_drop: float
    settings: ab.ABSettings
    good: ab.CodeVersion | None = None
    good_accuracy: dict[str, float] = field(default_factory=dict)

    def install(self, commit: Commit, label: str) -> ab.CodeVersion:
        version = ab.materialise(commit.sha, self.work / "code" / commit.short, root=self.root, label=label)
        ab.imported_from(version, self.work)
        return version

    def prepare(self, good: Commit) -> None:
        """Install GOOD's code, and with --metric accuracy train its cells (BadInput when it cannot: there
        would be nothing to judge against)."""
        try:
            self.good = self.install(good, "base")
        except ab.ABUnavailable as exc:
            raise BadInput(f"GOOD {good.short} cannot be judged against: {exc}") from None
        if self.metric == ACCURACY:
            for cell in self.cells:
                acc = self._accuracy(self.good, cell, "good")
                if isinstance(acc, str):
                    raise BadInput(f"GOOD {good.short} cannot train {cell.label}: {acc}")
                self.good_accuracy[cell.cell_id] = acc

    def __call__(self, commit: Commit) -> Probe:
        start = time.perf_counter()
        if not self.settings.quiet:
            print(f"probe {commit.short} {commit.subject[:60]}", flush=True)
        try:
            version = self.install(commit, "new")
        except ab.ABUnavailable as exc:
            return Probe(commit, SKIPPED, f"does not install or start: {exc}", time.perf_counter() - start, runs=0)
        attempts, runs, (outcome, why) = 0, 0, (AMBIGUOUS, "")
        while attempts < 2 and outcome == AMBIGUOUS:  # an undecided probe is run once more, then left ambiguous
            attempts += 1
            outcome, why, n = self._judge(version, commit, attempts)
            runs += n
        probe = Probe(commit, outcome, why, time.perf_counter() - start, runs)
        if not self.settings.quiet:
            print(f"  {outcome}: {why}", flush=True)
        return probe

    def _judge(self, version: ab.CodeVersion, commit: Commit, attempt: int) -> tuple[str, str, int]:
        """One judgement of ``commit``: its outcome, the evidence, and how many A/Bs (or trainings) it took."""
        if self.metric == ACCURACY:
            return *self._judge_accuracy(version, commit), 1
        work = self.work / "cells" / f"{commit.short}-{attempt}"
        try:
            result = ab.run_ab(self.cells, self.spec, self.good, version, work, self.settings)
        except ab.ABUnavailable as exc:
            raise BadInput(f"GOOD's code timed no cell: {exc}") from None
        # A flag stands only if a second A/B repeats it (verdict/confirm.py); one it clears leaves the cell
        # beyond the threshold but unchanged, which classify_speed calls undecided.
        second = ab.confirm_by_second_ab(result, self.cells, self.spec, self.good, version,
                                         work.with_name(f"{work.name}-confirm"), self.settings)
        return *classify_speed(result.findings, self.settings.max_slowdown, second), 1 + bool(second)  # A/Bs run or tried

    def _accuracy(self, version: ab.CodeVersion, cell: Cell, name: str) -> float | str:
        return ab.run_version_accuracy(version, cell, self.spec, self.work / "accuracy" / name / cell.cell_id)

    def _judge_accuracy(self, version: ab.CodeVersion, commit: Commit) -> tuple[str, str]:
        worse, failed, shown = [], [], []
        for cell in self.cells:
            acc = self._accuracy(version, cell, commit.short)
            if isinstance(acc, str):
                (worse if "timed out" in acc or "took over" in acc else failed).append(f"{cell.label}: {acc}")
                continue
            before = self.good_accuracy[cell.cell_id]
            shown.append(f"{cell.label}: {before:.4f} -> {acc:.4f}")
            if before - acc > self.max_accuracy_drop:
                worse.append(shown[-1])
        if worse:
            return BAD, f"less accurate by more than {self.max_accuracy_drop:g}: " + "; ".join(worse)
        if failed:
            return SKIPPED, "its cells fail: " + failed[0]
        return GOOD, "as accurate: " + "; ".join(shown)


def bisect(root: Path, good: str, bad: str, cells: list[Cell], spec: SweepSpec, work: Path, *, metric: str = SPEED,
           rounds: int = ab.AB_ROUNDS, max_slowdown: float, max_accuracy_drop: float, alpha: float, quiet: bool = False,
           judge: Callable[[Commit], Probe] | None = None) -> Bisection:
    """Find the first commit after ``good`` whose code is worse than ``good``'s (module docstring)."""
    g, b, commits = commit_range(root, good, bad)
    bisection = Bisection(g, b, commits)
    if judge is None:
        ownership.fresh_subdir(work, "bisect work")  # a folder of that name rnnbench did not make is refused
        judge = Judge(root, work.resolve(), cells, spec, metric, max_accuracy_drop,
                      ab.ABSettings(rounds=rounds, max_slowdown=max_slowdown, alpha=alpha, quiet=quiet))
        judge.prepare(g)
    search(bisection, judge)
    first = bisection.probes[0]
    if first.outcome == SKIPPED:
        raise BadInput(f"BAD {b.short} cannot be judged: {first.why}")
    return bisection


def to_json(b: Bisection, metric: str, seconds: float) -> str:
    """The answer and every probe as JSON (``--format json``)."""
    import json

    return json.dumps({"metric": metric, "good": dataclasses.asdict(b.good), "bad": dataclasses.asdict(b.bad),
                       "commits": len(b.commits), "found": b.found, "culprits": [dataclasses.asdict(c) for c in b.culprits],
                       "seconds": round(seconds, 1), "probes": [dataclasses.asdict(p) for p in b.probes]}, indent=2)


def to_markdown(b: Bisection, metric: str, seconds: float) -> str:
    """The answer, then the probes' evidence as a table (for the terminal and $GITHUB_STEP_SUMMARY)."""
    worse = "slower" if metric == SPEED else "less accurate"
    if not b.probes or b.probes[0].outcome != BAD:
        why = f"{b.probes[0].outcome}: {b.probes[0].why}" if b.probes else "not probed"
        head = f"**rnnbench bisect: BAD {b.bad.short} is not {worse} than GOOD {b.good.short}** ({md_text(why)}): nothing to find"
    elif len(b.culprits) == 1:
        c = b.culprits[0]
        head = f"**rnnbench bisect: first {worse} commit {c.sha}**\n\n{md_text(c.subject)} ({c.date})"
    else:
        listed = ", ".join(c.short for c in b.culprits)
        head = (f"**rnnbench bisect: the first {worse} commit is one of {listed}** (the ones before "
                f"{b.culprits[-1].short} could not be judged)")
    rows = [[i, p.commit.short, p.commit.date[:10], md_text(p.commit.subject[:50]), p.outcome, p.runs,
             f"{p.seconds:.0f}", md_text(p.why)] for i, p in enumerate(b.probes, start=1)]
    table = tabulate(rows, headers=["probe", "commit", "date", "subject", "verdict", "runs", "s", "evidence"],
                     tablefmt="github", disable_numparse=True)
    return (f"{head}\n\n{len(b.commits)} commit(s) from GOOD {b.good.short} (exclusive) to BAD {b.bad.short}, "
            f"{len(b.probes)} probe(s), {seconds:.0f} s; metric: {metric}\n\n{table}\n")
