"""``rnnbench bisect GOOD BAD``: the first commit that made the cells slower, or less accurate (bench/verdict/bisect.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnbench.cli.shared import EXIT_OK, EXIT_REGRESSION, add_summary_option, add_timing_options, spec_from_args
from rnnbench.errors import BadInput

NAME = "bisect"
HELP = ("find the first commit from GOOD to BAD whose code is slower (or, --metric accuracy, less accurate) "
        "than GOOD's, by binary search; each probe an A/B against GOOD on this machine (a cell it flags "
        "slower is timed again in a second A/B and counts only if that agrees)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("good", metavar="GOOD", help="a commit (branch, tag) whose code is as it should be")
    p.add_argument("bad", metavar="BAD", help="a later commit whose code is slower or less accurate; GOOD must be its ancestor")
    p.add_argument("--metric", choices=("speed", "accuracy"), default="speed",
                   help="speed: an A/B of each probe against GOOD (default); accuracy: each version trains the cells "
                        "once and a test-accuracy drop beyond --max-accuracy-drop is bad")
    # The A/B's 3 rounds: one round of a tiny cell read identical code +21.5% faster here (tests/test_bisect.py).
    add_timing_options(p, "runs/bisect", "work directory: each probed commit's code in DIR/work/code, its timings in "
                       "DIR/work/cells", rounds_help="; an undecided probe is run once more")
    add_summary_option(p)


def run(args: argparse.Namespace) -> int:
    import time

    from rnnbench.config.plan import skip_reason
    from rnnbench.storage.store import command_lock
    from rnnbench.verdict import ab, bisect
    from rnnbench.verdict.compare import write_summary
    from rnnbench.verdict.thresholds import check_thresholds

    check_thresholds(args.max_slowdown, args.max_accuracy_drop, args.alpha)
    ab.check_rounds(args.rounds)
    spec = spec_from_args(args)
    cells = [c for c in spec.expand() if skip_reason(c) is None]
    if not cells:
        raise BadInput("none of the sweep's cells can run on this machine (see 'rnnbench run --dry-run')")
    root = bisect.repository(Path.cwd())
    out = Path(args.out)
    start = time.perf_counter()
    with command_lock(out, "bisect"):
        found = bisect.bisect(root, args.good, args.bad, cells, spec, out / "work", metric=args.metric, rounds=args.rounds,
                              max_slowdown=args.max_slowdown, max_accuracy_drop=args.max_accuracy_drop, alpha=args.alpha,
                              quiet=args.quiet)
    seconds = time.perf_counter() - start
    text = bisect.to_markdown(found, args.metric, seconds)
    print(bisect.to_json(found, args.metric, seconds) if args.format == "json" else text)
    write_summary(text, args.summary)
    return EXIT_OK if found.found else EXIT_REGRESSION  # 1: BAD is not worse than GOOD
