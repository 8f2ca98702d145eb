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
    p.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    p.add_argument("--no-report", action="store_true", help="do not build RUN_DIR/report at the end")


def run(args: argparse.Namespace) -> int:
    from rnnbench.execute.sweep import run_sweep
    from rnnbench.reporting.leaderboard import terminal_text
    from rnnbench.reporting.table import cells_overview
    from rnnbench.storage.store import load_run

    spec = spec_from_args(args)
    if args.dry_run:
        for cell in spec.expand():
            print(cell.cell_id, cell.label)
        return EXIT_OK
    name = Path(args.sweep).stem if args.sweep else (args.preset or "default")
    out = Path(args.out or Path("runs") / name)
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
