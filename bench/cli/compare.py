"""``rnnbench compare``: the regression verdict of one run against a baseline."""

from __future__ import annotations

import argparse

from rnnbench.cli.shared import EXIT_OK, EXIT_REGRESSION, add_summary_option, add_verdict_options
from rnnbench.verdict import thresholds

NAME = "compare"
HELP = "regression verdict of NEW against BASELINE (exit 1 on regression)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("baseline", metavar="BASELINE_DIR")
    p.add_argument("new", metavar="NEW_DIR")
    add_verdict_options(p, max_slowdown=thresholds.MAX_SLOWDOWN, why="")
    add_summary_option(p)


def run(args: argparse.Namespace) -> int:
    from rnnbench.storage.store import load_run
    from rnnbench.verdict.compare import add_drift_caveat, compare_runs, write_summary

    base, new = load_run(args.baseline), load_run(args.new)
    result = compare_runs(base, new, args.max_slowdown, args.max_accuracy_drop, args.alpha)
    add_drift_caveat(result)
    print(result.to_json() if args.format == "json" else result.to_markdown())
    write_summary(result.to_markdown(), args.summary)
    return EXIT_REGRESSION if result.regressions else EXIT_OK
