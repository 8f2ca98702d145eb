"""Running a sweep: plan the cells, skip what cannot run, hand the rest to an executor, store each row.

Data flows one way: spec -> cells -> executor (child processes) -> outcome -> store. Resuming is the
default: cells already ``ok`` in the run directory are not run again (``force`` reruns everything,
``retry_failed`` reruns failed cells; skipped cells are always re-planned, since the machine may have
changed).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rnnbench.config.estimate import CostModel, for_sweep
from rnnbench.config.plan import skip_reason
from rnnbench.config.spec import Cell, SweepSpec
from rnnbench.datasets import imdb, textfile
from rnnbench.errors import BadInput
from rnnbench.execute.executor import Executor, LocalExecutor
from rnnbench.execute.processes import CellProcesses
from rnnbench.execute.progress import Progress
from rnnbench.execute.spawner import default_memory_limit_mb
from rnnbench.storage import environment, ownership
from rnnbench.storage.run_meta import RunMeta
from rnnbench.storage.store import SCRATCH_PREFIX, RunStore


@dataclass
class SweepResult:
    run_dir: Path
    cells: list[Cell]
    ran: int
    reused: int
    wall_s: float


def _row(cell: Cell, status: str, extra: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
    where = {"host": env.get("host"), "cpu_model": (env.get("cpu") or {}).get("model"), "git_commit": env.get("git_commit")}
    # An outcome that ran elsewhere (a Ray node) names its own host and CPU; the driver's are the default.
    where.update({key: extra[key] for key in where if key in extra})
    return {**cell.to_dict(), "status": status, **extra, **where}


@contextlib.contextmanager
def _closing(executor: Any) -> Iterator[None]:
    """Close ``executor`` (shut down the local Ray instance it started) however the sweep ends."""
    try:
        yield
    finally:
        if executor is not None and hasattr(executor, "close"):
            executor.close()


def _environment(previous: RunMeta | None, env: dict[str, Any], kept_rows: int, backends: tuple[str, ...],
                 out_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """run.json's environment and resume log for a sweep starting now with ``env``.

    The environment a directory was started with stays while any row measured under it stays (a resume
    must not make an unchanged baseline look like another machine's); a resume on another machine or
    commit is said in one line and logged in ``resumes``, and each row names its own host, CPU and commit.
    """
    resumes = list(previous.resumes) if previous else []
    first = previous.environment if previous else None
    if not first or not kept_rows:
        return env, resumes
    changed = environment.differences(first, env, backends)
    changed += [f"{key}: {first.get(key)} vs {env.get(key)}" for key in ("host", "git_commit") if first.get(key) != env.get(key)]
    if changed:
        print(f"rnnbench: resuming {out_dir}, started elsewhere ({'; '.join(changed)}): its {kept_rows} stored row(s) keep "
              "their environment; each row records its host, CPU and commit", file=sys.stderr)
        resumes.append({"started_at": env["started_at"], "host": env.get("host"), "cpu_model": (env.get("cpu") or {}).get("model"),
                        "git_commit": env.get("git_commit"), "differences": changed})
    return first, resumes


def _data_source(spec: SweepSpec, data_path: str | None, allow_unverified: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the sweep's data before anything is stored or run; return the cells' data options (keyword
    arguments of ``datasets.padded``) and what ``run.json`` records of the data (its fingerprint)."""
    if textfile.is_file_dataset(spec.dataset):
        if data_path:
            raise BadInput("--data-path names an imdb.npz; a data file is given with --dataset FILE alone")
        texts = textfile.read(spec.dataset, spec.text_column, spec.label_column)  # every bad-file case, one line
        # The cells get the absolute path: they may run in another directory, or on another node.
        # The fingerprint is taken once, here: each cell checks the bytes it trains on against it, so that a
        # file changed during the sweep fails the cells that would read it instead of mixing two data sets.
        options = {"data_path": str(texts.path.resolve()), "text_column": spec.text_column, "label_column": spec.label_column,
                   "expected_fingerprint": texts.fingerprint}
        return options, {"name": spec.dataset, "path": options["data_path"], "fingerprint": texts.fingerprint,
                         "text_column": spec.text_column, "label_column": spec.label_column,
                         "classes": list(texts.classes), "train": len(texts.train_texts), "test": len(texts.test_texts),
                         "split": texts.split}
    options: dict[str, Any] = {"data_path": data_path, "allow_unverified": allow_unverified}
    if spec.dataset == "imdb":  # a missing or unverified file
        digest = imdb.verify(imdb.locate(data_path), allow_unverified=allow_unverified)
        return {**options, "expected_fingerprint": digest}, {"name": "imdb", "fingerprint": digest}
    return options, {"name": spec.dataset}


def make_executor(spec: SweepSpec, out_dir: Path, data_options: dict[str, Any]) -> Executor:
    """The executor ``spec`` asks for (local slots or Ray tasks), its logs in ``out_dir/logs``. It checks its
    settings (unusable cpus, Ray missing or unreachable) on creation: before the store is touched."""
    config = CellProcesses(out_dir / "logs", spec.timeout_s, threads=spec.threads, data=data_options,
                           memory_limit_mb=spec.memory_limit_mb, processes=spec.processes, cpus=spec.cpus,
                           parallel=spec.parallel, launch=spec.launch)
    if spec.executor == "ray":
        from rnnbench.execute.ray_executor import RayExecutor

        return RayExecutor(config, address=spec.ray_address)
    # One slot: the spec's threads resolved here (one per --cpus core); N cells at once share the memory.
    return LocalExecutor(config.replace(threads=spec.cell_threads if spec.parallel == 1 else spec.threads,
                                        memory_limit_mb=spec.memory_limit_mb or default_memory_limit_mb() / spec.parallel))


def resume_plan(stored: Mapping[str, Mapping[str, Any]], cells: list[Cell], force: bool, retry_failed: bool
                ) -> tuple[list[Cell], int]:
    """The cells to run now (new, skipped before, or rerun by ``force`` / ``retry_failed``), and how many
    of the ``stored`` rows (by cell id) stay as they are."""
    def wanted(c: Cell) -> bool:
        status = stored[c.cell_id]["status"] if c.cell_id in stored else None
        return force or status is None or status == "skipped" or (retry_failed and status == "failed")

    todo = [c for c in cells if wanted(c)]
    rerun = {c.cell_id for c in todo}
    return todo, sum(cid not in rerun for cid in stored)


def check_same_data(previous: RunMeta | None, data_record: dict[str, Any], kept_rows: int, out_dir: Path) -> None:
    """BadInput when stored rows stay and the data (file or columns) differs from what the directory was
    started with: rows of two data sets under one cell id would compare data, not models."""
    before = previous.data if previous else {}
    identity = ("fingerprint", "text_column", "label_column")
    if kept_rows and before.get("fingerprint") and any(before.get(k) != data_record.get(k) for k in identity):
        then, now = ([str(d.get(k))[:16] for k in identity] for d in (before, data_record))
        raise BadInput(f"the data differs from what {out_dir} was started with (sha256, text and label column: "
                       f"{', '.join(then)} then, {', '.join(now)} now); use a new --out, or --force to rerun every cell")


def remove_scratch(out_dir: Path) -> None:
    """Remove the sweep processes' scratch folders (job and result files) in ``out_dir``: only those a
    sweep made and marked; a user's folder of that name stays."""
    for scratch in out_dir.glob(f"{SCRATCH_PREFIX}*"):
        ownership.remove_own(scratch)


def begin_run_meta(spec: SweepSpec, preset: str | None, cells: list[Cell], data_record: dict[str, Any],
                   previous: RunMeta | None, env: dict[str, Any], kept_rows: int, out_dir: Path) -> RunMeta:
    """run.json for a sweep starting now: its spec and data, the environment it keeps (see
    :func:`_environment`), its first start and the calibration measured so far."""
    recorded, resumes = _environment(previous, env, kept_rows, spec.all_backends, out_dir)
    return RunMeta(
        spec=spec.to_dict(), preset=preset, cells=len(cells), data=data_record, environment=recorded,
        first_started_at=(previous.first_started_at if previous and previous.first_started_at else env["started_at"]),
        # matmul GFLOP/s per backend and device, measured like the cells (bench/cell/calibrate.py)
        calibration=list(previous.calibration) if previous else [],
        resumes=resumes,
    )


def estimate_cells(model: CostModel, spec: SweepSpec, cells: list[Cell]) -> dict[str, float]:
    """The estimated seconds of ``cells``, ``spec``'s cells to run in their order, by cell id, under
    ``model`` (the progress display's ETA)."""
    return {cid: e.seconds for cid, e in model.estimate_sweep(spec, cells).items()}


def _run_cells(store: RunStore, executor: Executor, todo: list[Cell], skip: Callable[[Cell], str | None],
               meta: RunMeta, env: dict[str, Any], progress: Progress) -> None:
    """Record the cells that cannot run here as skipped, run the rest, commit each outcome as it comes,
    and keep run.json's calibration up to date."""
    runnable, skipped = [], []
    for cell in todo:
        reason = skip(cell)
        if reason:
            store.record(_row(cell, "skipped", {"error": reason}, env))
            skipped.append((cell, reason))
        else:
            runnable.append(cell)
    progress.plan(runnable, skipped)
    for outcome in executor.run(runnable, on_start=progress.start):
        cell = outcome.cell
        store.record(_row(cell, outcome.status, outcome.row, env), outcome.epochs, outcome.steps, outcome.predictions)
        measured = [c for c in executor.calibrations.values() if c]
        if measured and measured != meta.calibration:
            meta.calibration = measured
            store.write_run_json(meta)
        progress.advance(cell, outcome.status, outcome.row.get("error"))


def run_sweep(
    spec: SweepSpec,
    out_dir: str | Path,
    *,
    preset: str | None = None,
    force: bool = False,
    retry_failed: bool = False,
    quiet: bool = False,
    show_skipped: bool = False,
    executor: Executor | None = None,
    data_path: str | None = None,
    allow_unverified: bool = False,
    skip: Callable[[Cell], str | None] = skip_reason,
    only: set[str] | None = None,
) -> SweepResult:
    """Run ``spec`` into ``out_dir`` and return what was done. Raises BadInput for unusable input.

    ``only`` (cell ids) narrows the sweep to those of its cells (the gate's confirmation rerun);
    ``show_skipped`` says each cell that cannot run here, not one line per reason.
    """
    out_dir = Path(out_dir)
    cells = [c for c in spec.expand() if only is None or c.cell_id in only]
    start = time.perf_counter()
    # Bad input is found before any stored result is touched or any cell runs.
    data_options, data_record = _data_source(spec, data_path, allow_unverified)
    # The folder is claimed before the executor or the store makes anything in it (bench/storage/ownership.py);
    # a sweep refused from here on leaves no folder it created behind.
    inputs = [data_options["data_path"]] if data_options.get("data_path") else []
    with ownership.output_dir(out_dir, "run directory", inputs):
        owned = executor is None  # one it makes, it closes (a local Ray instance is shut down)
        executor = executor or make_executor(spec, out_dir, data_options)
        if skip is skip_reason and hasattr(executor, "skip_reason"):
            skip = executor.skip_reason  # where the cells run (a Ray cluster's GPUs) decides what can run
        with _closing(executor if owned else None), RunStore(out_dir) as store:
            previous = store.read_run_json()
            todo, kept_rows = resume_plan(store.rows, cells, force, retry_failed)
            check_same_data(previous, data_record, kept_rows, out_dir)
            store.prepare()
            remove_scratch(out_dir)  # of a killed sweep (the lock says none runs)
            env = environment.collect()
            meta = begin_run_meta(spec, preset, cells, data_record, previous, env, kept_rows, out_dir)
            store.write_run_json(meta)
            # The ETA's cost model reads stored runs: only where someone is watching.
            estimate = None if quiet else partial(estimate_cells, for_sweep(out_dir), spec)
            with Progress(total=len(todo), reused=len(cells) - len(todo), quiet=quiet, stream=sys.stdout,
                          # on Ray, several cells run at once: each start is said
                          parallel=spec.parallel if spec.executor == "local" else 2, show_skipped=show_skipped,
                          estimate=estimate) as progress:
                _run_cells(store, executor, todo, skip, meta, env, progress)
            remove_scratch(out_dir)  # job files of this sweep's cells
        return SweepResult(out_dir, cells, len(todo), len(cells) - len(todo), time.perf_counter() - start)
