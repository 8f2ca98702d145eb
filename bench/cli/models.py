"""``rnnbench models``: which model is more accurate on this data, on the evidence of the same test examples."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnbench.cli.shared import EXIT_OK
from rnnbench.errors import BadInput

NAME = "models"
HELP = "paired comparison of accuracy: better, worse, equivalent or not resolved, and the leaderboard"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    from rnnbench.verdict.paired import ALPHA, BY_AXES, ROPE

    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+",
                   help="a run directory; with two or more, --by run pairs the same cells across them")
    p.add_argument("--by", default="model", choices=BY_AXES, metavar="AXIS",
                   help=f"the axis the compared cells differ in; everything else is held equal (default model; one of "
                        f"{', '.join(BY_AXES)})")
    p.add_argument("--rope", type=_fraction, default=ROPE,
                   help=f"region of practical equivalence: accuracies closer than this are 'equivalent' (default {ROPE:g})")
    p.add_argument("--alpha", type=_fraction, default=ALPHA,
                   help=f"family-wise error rate over the pairs shown (Bonferroni; default {ALPHA:g})")
    p.add_argument("--target-acc", type=_fraction, metavar="ACC",
                   help="validation accuracy to time training to (default: 80%% of the way from chance to the ceiling)")
    p.add_argument("--markdown", action="store_true", help="print GitHub-flavoured Markdown tables")


def load_cells(run_dirs: list[str]) -> tuple[list[dict], dict, list[dict]]:
    """Rows, predictions and epochs of one run, or of several with each row's ``run`` (its directory's
    name) and cell ids made unique across them."""
    from rnnbench.storage.store import load_run

    runs = [load_run(d) for d in run_dirs]
    if len(runs) == 1:
        run = runs[0]
        return list(run.cells.values()), run.predictions, run.epochs
    names = [Path(d).resolve().name for d in run_dirs]
    if len(set(names)) != len(names):
        names = [str(Path(d)) for d in run_dirs]
    rows, predictions, epochs = [], {}, []
    for k, (name, run) in enumerate(zip(names, runs, strict=True)):
        rows.extend({**r, "cell_id": f"{k}:{r['cell_id']}", "run": name} for r in run.cells.values())
        predictions.update({f"{k}:{cid}": p for cid, p in run.predictions.items()})
        epochs.extend({**e, "cell_id": f"{k}:{e['cell_id']}"} for e in run.epochs)
    return rows, predictions, epochs


def run(args: argparse.Namespace) -> int:
    from rnnbench.reporting import leaderboard
    from rnnbench.verdict import paired
    from tabulate import tabulate

    if args.by == "run" and len(args.run_dirs) < 2:
        raise BadInput("--by run compares the same cells of two or more run directories; give at least two")
    rows, predictions, epochs = load_cells(args.run_dirs)
    fmt = "github" if args.markdown else "simple"
    pairs, notes = paired.compare(rows, predictions, by=args.by, rope=args.rope, alpha=args.alpha)
    if pairs:
        columns = paired.varying_settings(pairs)
        table = [{**paired.setting_record(p.setting, columns), **paired.describe(p, args.by)} for p in pairs]
        print(f"paired comparison by {args.by} ({len(pairs)} pairs; A is the more accurate on average):")
        print(tabulate(table, headers="keys", tablefmt=fmt, disable_numparse=True))
        print(paired.VERDICT_NOTE.format(rope=args.rope, alpha=args.alpha))
    else:
        print(f"no pair of cells that differ only in {args.by} has predictions on one test split to compare")
    for note in notes:
        print(f"note: {note}")
    if len(args.run_dirs) == 1:
        board = leaderboard.build(rows, predictions, epochs, args.target_acc, args.rope, args.alpha)
        print(f"\nleaderboard:\n{leaderboard.table(board, fmt)}")
    return EXIT_OK
