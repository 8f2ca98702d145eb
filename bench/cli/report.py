"""``rnnbench report``: a run directory's tables and charts, rebuilt from its stored files."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnbench.cli.shared import EXIT_OK

NAME = "report"
HELP = "tables and charts of a run directory, rebuilt from its stored files"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="DIR", help="where to write REPORT.md, the PNG charts and index.html (default: RUN_DIR/report)")
    p.add_argument("--show-skipped", action="store_true",
                   help="list every cell that could not run, not one line per reason")


def run(args: argparse.Namespace) -> int:
    from rnnbench.reporting import report
    from rnnbench.reporting.leaderboard import terminal_text
    from rnnbench.reporting.table import accuracy_summary, cells_overview
    from rnnbench.storage.store import load_run

    out = report.build(Path(args.run_dir), args.out)
    stored = load_run(args.run_dir)
    rows = list(stored.cells.values())
    print(cells_overview(rows, args.show_skipped))
    if summary := accuracy_summary(rows):
        print(f"\n{summary}")
    if board := terminal_text(rows, stored.predictions, stored.epochs):
        print(f"\n{board}")
    print(f"\nreport: {out / 'REPORT.md'} and {out / 'index.html'}")
    return EXIT_OK
