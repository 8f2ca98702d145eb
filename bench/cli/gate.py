"""``rnnbench gate``: CI's regression gate (bench/verdict/gate.py has its paths)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnbench.cli.shared import EXIT_OK, EXIT_REGRESSION, add_summary_option, add_timing_options, spec_from_args

NAME = "gate"
HELP = ("CI regression gate: run a preset (regress), compare it with a baseline; speed "
        "gated against the baseline on its own machine, else by an A/B with its commit; "
        "exit 1 on a regression")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", default="results/baseline-regress", metavar="DIR",
                   help="baseline run directory (default: results/baseline-regress)")
    p.add_argument("--base", metavar="REF",
                   help="gate speed by an A/B against this git revision (branch, tag, commit) on this machine, "
                        "whatever machine the baseline came from (a pull request: --base origin/main, in a clone with its history)")
    add_timing_options(p, "runs/gate", "run directory; a rerun goes to DIR/confirm, an A/B to DIR/ab")
    add_summary_option(p)
    p.add_argument("--history", metavar="DIR",
                   help="after the gate, copy its run (run.json and the CSV files) into DIR as a new entry, "
                        "DIR/<UTC start>-<short commit>/, for 'rnnbench history DIR'")


def run(args: argparse.Namespace) -> int:
    from rnnbench.verdict.compare import write_summary
    from rnnbench.verdict.gate import run_gate

    spec = spec_from_args(args)
    name = Path(args.sweep).stem if args.sweep else args.preset
    if args.history:
        from rnnbench.reporting.history_store import check_history_dir

        check_history_dir(args.history, args.out)  # before the gate's long run, not after it
    result = run_gate(args.baseline, spec, args.out, preset=None if args.sweep else name,
                      max_slowdown=args.max_slowdown, max_accuracy_drop=args.max_accuracy_drop, alpha=args.alpha,
                      quiet=args.quiet, base_ref=args.base, rounds=args.rounds)
    print(result.to_json() if args.format == "json" else result.to_markdown())
    write_summary(result.to_markdown(), args.summary)
    if args.history:
        from rnnbench.reporting.history_store import record_entry

        print(f"rnnbench: the gate's run recorded in the history as {record_entry(args.out, args.history)}", file=sys.stderr)
    return EXIT_REGRESSION if result.regressions else EXIT_OK
