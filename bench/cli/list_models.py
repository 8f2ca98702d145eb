"""``rnnbench list``: the registry's entries with their architecture, kernels and parameter count."""

from __future__ import annotations

import argparse
import json
import os
import sys

from rnnbench.cli.shared import EXIT_OK
from rnnbench.errors import BadInput

NAME = "list"
HELP = "registry entries with arch, kernels and parameter count"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="fnmatch patterns (default: all)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from rnnbench.models import create_model, get_spec, list_models

    names = list_models(*args.patterns)
    if not names:
        raise BadInput(f"no registered model matches {' '.join(args.patterns)!r}; known models: {', '.join(list_models())}")
    from rnnbench.cell.quiet import native_stderr_silenced

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with native_stderr_silenced():
        import keras  # noqa: F401  (the import is what logs)
    rows = []
    for name in names:
        s = get_spec(name)
        rows.append({"name": name, "arch": s.arch, "kernels": ",".join(s.kernels),
                     "params": create_model(name).count_params(), "description": s.description})
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    elif args.format == "csv":
        import csv

        w = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    else:
        from tabulate import tabulate

        print(tabulate(rows, headers="keys", intfmt=",", disable_numparse=False))
    return EXIT_OK
