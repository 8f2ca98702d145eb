"""``rnnbench run``: a sweep into a run directory (resumable), its table and its report."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnbench.cli.shared import EXIT_OK, add_sweep_options, spec_from_args

NAME = "run"
HELP = "run a sweep into a run directory (resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_sweep_options(p)
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<preset or sweep name>)")
    p.add_argument("--force", action="store_true", help="rerun cells already done in --out")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells that failed before")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--show-skipped", action="store_true",
                   help="list every cell that cannot run here, not one line per reason")
    p.add_argument("--data-path", metavar="FILE", help="imdb.npz to read (dataset imdb)")
    p.add_argument("--allow-unverified-data", action="store_true", help="read a data file whose sha256 is not the published one")
    p.add_argument("--dry-run", action="store_true",
                   help="list the cells, say which will run, be skipped here or are done in --out, estimate the wall time, and exit")
    p.add_argument("--no-report", action="store_true", help="do not build RUN_DIR/report at the end")


def run(args: argparse.Namespace) -> int:
    from rnnbench.execute.sweep import run_sweep
    from rnnbench.reporting.leaderboard import terminal_text
    from rnnbench.reporting.table import cells_overview
    from rnnbench.storage.store import load_run

    spec = spec_from_args(args)
    name = Path(args.sweep).stem if args.sweep else (args.preset or "default")
    out = Path(args.out or Path("runs") / name)
    if args.dry_run:
        dry_run(spec, out, args.force, args.retry_failed, args.show_skipped)
        return EXIT_OK
    result = run_sweep(spec, out, preset=None if args.sweep else name, force=args.force,
                       retry_failed=args.retry_failed, quiet=args.quiet, show_skipped=args.show_skipped, data_path=args.data_path,
                       allow_unverified=args.allow_unverified_data)
    ids = {c.cell_id for c in result.cells}
    stored = load_run(out)
    rows = [r for r in stored.cells.values() if r["cell_id"] in ids]
    if not args.quiet:
        print(cells_overview(rows, args.show_skipped))
        counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")}
        print(f"\n{len(rows)} cells: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed; "
              f"{result.ran} run now in {result.wall_s:.0f} s; results in {out}/")
        if board := terminal_text(rows, stored.predictions, stored.epochs):
            print(f"\n{board}")
    if not args.no_report:
        from rnnbench.reporting import report

        path = report.build(out)
        if not args.quiet:
            print(f"report: {path / 'REPORT.md'} and {path / 'index.html'}")
    return EXIT_OK


def dry_run(spec, out: Path, force: bool, retry_failed: bool, show_skipped: bool) -> None:
    """Each cell with what will happen to it (its estimated seconds, or done in ``out``), the skipped ones
    once per reason, then the plan's counts and its estimated wall time with the estimate's basis."""
    from rnnbench.config.estimate import SWEEP_OVERHEAD_S, CostModel, describe_seconds, reference_dirs, reference_rows
    from rnnbench.config.plan import group_skips, skip_reason
    from rnnbench.execute.sweep import resume_plan
    from rnnbench.storage.store import load_run

    cells = spec.expand()
    stored = load_run(out).cells if (out / "cells.csv").is_file() else {}
    todo, _ = resume_plan(stored, cells, force, retry_failed)
    pending = {c.cell_id for c in todo}
    reasons = {c.cell_id: skip_reason(c) for c in todo}
    sources = reference_dirs(out)
    estimated = CostModel(reference_rows(sources)).estimate_sweep(spec, [c for c in todo if reasons[c.cell_id] is None])
    skipped, estimates = [], []
    for cell in cells:
        if cell.cell_id not in pending:
            print(cell.cell_id, cell.label, f"  done in {out}")
        elif reason := reasons[cell.cell_id]:
            skipped.append((cell.cell_id, cell.model, reason))
            if show_skipped:
                print(cell.cell_id, cell.label, f"  skipped: {reason}")
        else:
            estimates.append(estimated[cell.cell_id])
            print(cell.cell_id, cell.label, f"  ~{describe_seconds(estimates[-1].seconds)}")
    done = len(cells) - len(todo)
    print(f"\nplan: {len(cells)} cells: {len(estimates)} to run, {len(skipped)} skipped here, {done} already done in {out}")
    for group in group_skips(skipped):
        print(f"  skipped {group.line()}")
    if estimates:
        measured = sum(e.basis == "measured" for e in estimates)
        basis = [f"{measured} from similar cells stored in {', '.join(map(str, sources))}"] if measured else []
        if measured < len(estimates):
            basis.append(f"{len(estimates) - measured} from stated defaults (a 2-core CPU; bench/config/estimate.py)")
        total = SWEEP_OVERHEAD_S + sum(e.seconds for e in estimates) / max(1, spec.parallel)
        slots = f" in {spec.parallel} slots" if spec.parallel > 1 else ""
        print(f"estimated wall time: {describe_seconds(total)}{slots} ({'; '.join(basis)})")
