"""``rnnbench history``: the same cells over many runs, with regressions marked."""

from __future__ import annotations

import argparse

from rnnbench.cli.shared import EXIT_OK, add_alpha_option
from rnnbench.verdict import thresholds

NAME = "history"
HELP = ("the same cells over many runs (commits, machines): history.csv, trend charts with change points "
        "and regressions marked, regressions.csv and an Atom feed, HISTORY.md and index.html")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories, in any order: they are put in order of their commit's time (git, in the current "
                        "directory's repository), else of their start time; a folder of run directories (gate --history "
                        "DIR) stands for all of them")
    p.add_argument("--out", default="history", metavar="DIR",
                   help="where to write history.csv, the PNG charts, regressions.csv and .xml, HISTORY.md and index.html (default: ./history, "
                        "in the current directory)")
    p.add_argument("--max-slowdown", type=float, default=thresholds.MAX_SLOWDOWN,
                   help="a point slower than the cell's previous run on the same machine by more than this fraction, "
                        f"and significantly, is marked a regression; the least step in throughput a change point "
                        f"needs (default {thresholds.MAX_SLOWDOWN:.2f}, compare's)")
    p.add_argument("--max-accuracy-drop", type=float, default=thresholds.MAX_ACCURACY_DROP,
                   help="the least step in test accuracy (absolute) a change point needs "
                        f"(default {thresholds.MAX_ACCURACY_DROP:g})")
    add_alpha_option(p)


def run(args: argparse.Namespace) -> int:
    from rnnbench.reporting import history, history_changes

    found = history.build(args.run_dirs, args.out, max_slowdown=args.max_slowdown, alpha=args.alpha,
                          max_accuracy_drop=args.max_accuracy_drop)
    for note in found.notes:
        print(f"note: {note}")
    runs, cells = len(found.entries), found.frame.cell_id.nunique()
    regressions = found.regressions
    print(f"{runs} run(s), {cells} cell(s); {len(regressions)} regression(s) marked "
          f"(a point slower than the cell's previous run on the same machine by more than {args.max_slowdown:.0%}, significantly)")
    for r in regressions.itertuples():
        print(f"  regression: {r.label} on {r.machine}, run {r.run} ({r.commit[:10] or r.run_dir}): {r.change}")
    steps = found.changes
    print(f"{len(steps)} change point(s) ({(steps.direction == 'regression').sum()} regression(s)): "
          "steps that persist over runs (PELT and a Monte Carlo test)")
    for r in steps.itertuples():
        print(f"  {r.direction}: {history_changes.sentence(r)}")
    print(f"history: {found.out / 'HISTORY.md'}, {found.out / 'index.html'} and {found.out / 'history.csv'}")
    return EXIT_OK
