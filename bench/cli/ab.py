"""``rnnbench ab``: a same-machine A/B of another commit's code against this code."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnbench.cli.shared import EXIT_OK, EXIT_REGRESSION, add_timing_options, spec_from_args
from rnnbench.errors import BadInput

NAME = "ab"
HELP = ("same-machine A/B: time a sweep's cells with BASE_REF's code and with this code, "
        "interleaved; exit 1 when this code is slower by more than --max-slowdown, significantly, in this A/B "
        "and again in a second A/B of the cells it flags (or cannot time a cell)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("base_ref", metavar="BASE_REF", help="git revision to compare against: a branch, tag or commit")
    add_timing_options(p, "runs/ab", "work directory: the base's code in DIR/base-code, each timing in DIR/cells "
                                   "(a flagged cell's second A/B in DIR/confirm)",
                        accuracy=False)


def run(args: argparse.Namespace) -> int:
    from rnnbench.config.plan import skip_reason
    from rnnbench.verdict import ab
    from rnnbench.verdict.thresholds import check_thresholds

    check_thresholds(args.max_slowdown, 0.0, args.alpha)
    ab.check_rounds(args.rounds)
    spec = spec_from_args(args)
    cells = [c for c in spec.expand() if skip_reason(c) is None]
    if not cells:
        raise BadInput("none of the sweep's cells can run on this machine (see 'rnnbench run --dry-run')")
    out = Path(args.out)
    from rnnbench.storage import ownership
    from rnnbench.storage.store import command_lock

    with command_lock(out, "ab"):
        ownership.make_way(out / "confirm")  # an earlier run's second A/B, or a folder that is not ours: before any timing
        try:
            base, new = ab.prepare(args.base_ref, out / "base-code", out)
            settings = ab.ABSettings(rounds=args.rounds, max_slowdown=args.max_slowdown, alpha=args.alpha,
                                     quiet=args.quiet)
            result = ab.run_ab(cells, spec, base, new, out / "cells", settings)
            # One A/B's flag can be a slow spell during one version's process: it stands only if a second repeats it.
            ab.confirm_by_second_ab(result, cells, spec, base, new, out / "confirm", settings)
        except ab.ABUnavailable as exc:
            raise BadInput(f"no A/B possible: {exc}") from None
    print(result.to_json() if args.format == "json" else result.to_markdown())
    return EXIT_REGRESSION if result.regressions else EXIT_OK
