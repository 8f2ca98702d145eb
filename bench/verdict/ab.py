"""Same-machine A/B: time cells with two versions of the harness's code on this machine, interleaved.

A speed figure recorded on one CPU says little about another: a large matmul's speed (the calibration)
does not predict a small recurrent step's across CPUs (docs/regression-gate.md has the figures), so no
normalisation makes a baseline from another machine a speed reference. What does hold on any machine
is the question asv's ``continuous`` asks: is the new code slower than the base code *here*? Both versions time each cell in turn, the order alternating cell by cell and round by round
(A B, B A, A B ...), so a slow spell of the machine hits both alike.

Each version runs its own code in its own processes. The base is exported from git (``git archive``)
and installed with pip into a private folder (no dependencies, no index: it uses the frameworks
installed here); its processes get that folder first on ``PYTHONPATH`` and start with
``PYTHONSAFEPATH`` so that no working directory can shadow it. A cell runs through that version's own
``rnnbench run`` for one cell, speed only: the contract between versions is the command line and the
run directory, the two things a release keeps stable, never internal APIs.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rnnbench.cell.hooks import HOOK_ENVS
from rnnbench.config.settings import IDENTITY_SETTINGS
from rnnbench.config.spec import DEFAULT_UNITS, Cell, SweepSpec
from rnnbench.errors import BadInput
from rnnbench.storage import ownership
from rnnbench.storage.run_meta import RunMeta
from rnnbench.storage.store import Run, load_run
from rnnbench.verdict.compare import NOT_GATED, REGRESSION, Comparison, Finding, compare_runs
from rnnbench.verdict.thresholds import ALPHA, GATE_MAX_SLOWDOWN

#: Rounds per cell and version. Each round is one process per version (about 15 s for a regress cell
#: here); three give each side 15 timed repeats and cost about 4.5 minutes for the regress preset.
AB_ROUNDS = 3


#: A base whose code cannot install or start within this is as good as absent.
INSTALL_TIMEOUT_S = 300


class ABUnavailable(Exception):
    """The A/B cannot run here (no git, a commit missing from the clone, a base that cannot install or
    start); the message says why in one line."""


@dataclass(frozen=True)
class CodeVersion:
    """One version of the harness that cells can be run with."""

    label: str  # "base" or "new"
    ref: str  # what the user named: a commit, branch or tag, or "working tree"
    commit: str | None
    site: Path | None  # folder its packages are installed in (None: this process's own installation)
    entry: str  # "module:function" of its rnnbench command

    @property
    def name(self) -> str:
        short = (self.commit[:10] + ("+dirty" if self.commit.endswith("+dirty") else "")) if self.commit else "unknown commit"
        named = self.commit is not None and self.commit.startswith(self.ref)  # the ref is the commit itself
        return f"{self.label} ({short})" if named else f"{self.label} ({self.ref}, {short})"

    def env(self) -> dict[str, str]:
        """The environment its processes start with (the cells it spawns inherit it)."""
        env = dict(os.environ, PYTHONSAFEPATH="1")
        if self.site is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.site), env.get("PYTHONPATH")]))
            for name in HOOK_ENVS:  # test-only hooks stand for a change in the new code: never the base's
                env.pop(name, None)
        return env

    def command(self, args: Sequence[str]) -> list[str]:
        module, _, function = self.entry.partition(":")
        code = f"import sys; sys.argv[0] = 'rnnbench'; from {module} import {function} as main; sys.exit(main())"
        return [sys.executable, "-P", "-c", code, *args]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise ABUnavailable(f"git {args[0]} in {root} took over 120 s") from None


def source_root() -> Path:
    """The git work tree the running harness comes from (where the base's commit is looked up)."""
    if shutil.which("git") is None:
        raise ABUnavailable("git is not installed")
    here = Path(__file__).resolve().parent
    proc = _git(here, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise ABUnavailable(f"the harness at {here} is not in a git clone")
    return Path(proc.stdout.strip())


def resolve(ref: str, root: Path) -> str:
    """The full commit id ``ref`` names in the clone at ``root``."""
    proc = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if proc.returncode != 0:
        shallow = _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
        hint = " (a shallow clone: 'git fetch --unshallow' brings the history)" if shallow else ""
        raise ABUnavailable(f"commit {ref!r} is not in the clone at {root}{hint}")
    return proc.stdout.strip()


def _entry_point(site: Path) -> str:
    for path in site.glob("*.dist-info/entry_points.txt"):
        parser = configparser.ConfigParser()
        parser.read(path)
        if parser.has_option("console_scripts", "rnnbench"):
            return parser.get("console_scripts", "rnnbench").strip()
    raise ABUnavailable(f"the code installed in {site} declares no rnnbench command")


def materialise(ref: str, work: Path) -> CodeVersion:
    """Export ``ref`` from git into ``work`` and install it there; the base side of an A/B."""
    root = source_root()
    commit = resolve(ref, root)
    work = work.resolve()  # git runs in the clone's root: a relative path would be read from there
    ownership.fresh_subdir(work, "A/B base code")  # a folder of that name rnnbench did not make is refused
    src, site = work / "src", work / "site"
    src.mkdir()
    archive = work / "code.tar"
    proc = _git(root, "archive", "--format=tar", "-o", str(archive), commit)
    if proc.returncode != 0:
        raise ABUnavailable(f"git could not export {commit[:10]}: {proc.stderr.strip()[-200:]}")
    with tarfile.open(archive) as tar:
        # git's own archive of a commit; the "data" filter (Python >= 3.11.4) refuses links out of src anyway
        tar.extractall(src, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    archive.unlink()
    # No dependencies: the base must run on the frameworks installed here, so that the two versions
    # differ in the harness's code only. Built offline with the setuptools installed here when that
    # works; else pip builds it in isolation, which fetches the build backend (setuptools) from the index.
    for offline in (True, False):
        shutil.rmtree(site, ignore_errors=True)
        flags = ["--no-build-isolation", "--no-index"] if offline else []
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *flags, "--target", str(site), str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ABUnavailable(f"installing the code of {commit[:10]} took over {INSTALL_TIMEOUT_S} s") from None
        if proc.returncode == 0:
            break
    else:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ABUnavailable(f"the code of {commit[:10]} could not be installed: {last}")
    return CodeVersion("base", ref, commit, site.resolve(), _entry_point(site))


def this_version() -> CodeVersion:
    """The running harness: the new side of an A/B."""
    from rnnbench.storage import environment

    package = __name__.split(".")[0]  # the top-level package (rnnbench), whose cli is the command
    commit = environment.git_commit()
    return CodeVersion("new", "working tree", commit, None, f"{package}.cli:main")


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


def imported_from(version: CodeVersion, cwd: Path) -> Path:
    """Where ``version``'s processes import its package from; ABUnavailable if it does not import, or if
    a base would run code other than its own (the guard against the shadowing A/B must never suffer)."""
    module = version.entry.partition(":")[0]
    try:
        proc = subprocess.run([sys.executable, "-P", "-c", f"import {module} as m; print(m.__file__)"],
                              env=version.env(), cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ABUnavailable(f"the {version.label} code took over {INSTALL_TIMEOUT_S} s to import") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ABUnavailable(f"the {version.label} code does not start: {last}")
    path = Path(proc.stdout.strip().splitlines()[-1]).resolve()
    own = version.site if version.site is not None else Path(__file__).resolve().parents[1]  # the running package (rnnbench/)
    if not path.is_relative_to(own):
        raise ABUnavailable(f"the {version.label} code would import {path}, not its own copy in {own}")
    return path


def cell_args(cell: Cell, spec: SweepSpec, out: Path, threads: int) -> list[str]:
    """``rnnbench run`` arguments that run exactly ``cell``, speed only, in one process, into ``out``.

    Every setting of the cell is given as a flag (the preset named is only a starting point every
    version has), so both versions time the same cell whatever their presets say. A base older than
    these flags cannot run it, and the A/B says so (no speed verdict).
    """
    args = ["run", "--preset", "smoke"]
    for setting in IDENTITY_SETTINGS:
        value = 0 if setting.name == "epochs" else getattr(cell, setting.column)  # speed only
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
    threads = spec.cell_threads
    # Absolute: the version's process runs in out's parent folder, where a relative --out (as CI's
    # "runs/ci-gate" gives) would name a folder inside itself and the timing would be looked for elsewhere.
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cpus = spec.cpus
    with open(out.parent / f"{out.name}.log", "wb") as log:
        try:
            proc = subprocess.run(
                version.command(cell_args(cell, spec, out, threads)), env=version.env(), cwd=out.parent,
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
    return read_timing(out, cell)


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


def _speed_findings(a: Run, b: Run, done: Rounds, base: CodeVersion, new: CodeVersion, max_slowdown: float,
                    alpha: float) -> list[Finding]:
    """The speed verdict of every cell both versions timed (compare's test on the pooled rounds)."""
    both = set(a.cells) & set(b.cells)
    if not both:
        return []
    findings = []
    for f in compare_runs(a, b, max_slowdown, 0.0, alpha, only=both, checks=("speed",)).findings:
        if f.check == "speed":
            n_a, n_b = len(done.timings[base.label][f.cell_id]), len(done.timings[new.label][f.cell_id])
            f.note = "; ".join(filter(None, [f"A/B on this machine, rounds timed: base {n_a}, new {n_b}; "
                                             f"threshold -{max_slowdown:.0%}", f.note]))
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


def run_ab(cells: list[Cell], spec: SweepSpec, base: CodeVersion, new: CodeVersion, work: Path, *,
           rounds: int = AB_ROUNDS, max_slowdown: float = GATE_MAX_SLOWDOWN, alpha: float = ALPHA, quiet: bool = False,
           runner: CellRunner | None = None) -> Comparison:
    """Time ``cells`` with both versions in interleaved rounds under ``work`` and compare their speed.

    A cell the base cannot time is reported as not gated, with the base's own error, and a base that
    times no cell at all makes the whole A/B unavailable (:class:`ABUnavailable`); a cell the new code
    cannot time, or fails to in some rounds, is a regression. ``runner`` defaults to :func:`run_version_cell`.
    """
    check_rounds(rounds)
    ownership.fresh_subdir(work, "A/B timings")  # a folder of that name rnnbench did not make is refused
    start = time.perf_counter()
    done = time_rounds(cells, spec, base, new, work, rounds, runner or run_version_cell, quiet)
    if not done.timings[base.label]:
        first = next(iter(done.errors[base.label].values()), "no cell to time")
        raise ABUnavailable(f"the base code timed no cell ({first})")
    meta = RunMeta()  # one machine for both sides: nothing to normalise
    a = _pooled(work / base.label, cells, done.timings[base.label], spec.cell_threads, meta)
    b = _pooled(work / new.label, cells, done.timings[new.label], spec.cell_threads, meta)
    result = Comparison(title="rnnbench ab", findings=_speed_findings(a, b, done, base, new, max_slowdown, alpha))
    _failures(result, cells, a, b, done, base, new, rounds)
    if base.commit and new.commit and base.commit == new.commit:
        result.notes.append("base and new are the same commit: this A/B measures the machine's noise, not a change")
    result.notes.append(f"speed: A/B of {base.name} against {new.name} on this machine, {rounds} interleaved round(s) "
                        f"per cell, in {time.perf_counter() - start:.0f} s ({work})")
    return result
