"""The ``rnnbench`` command line: one module per command (its arguments and what it does), assembled
here in the order ``--help`` lists them. Exit codes: 0 ok, 1 regression found by ``compare``, ``gate`` or
``ab`` (``bisect``: BAD is not worse than GOOD), 2 bad input or an unusable environment, 3 internal error (traceback saved to a file)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from rnnbench.cli import ab, bisect, compare, data, doctor, gate, history, list_models, models, report, run
from rnnbench.cli.shared import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_OK, EXIT_REGRESSION, package_version
from rnnbench.errors import BadInput

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_OK", "EXIT_REGRESSION", "build_parser", "main"]

#: The commands, in --help order; each module has NAME, HELP, add_arguments(parser) and run(args).
_MODULES = (list_models, run, report, models, compare, history, gate, ab, bisect, data, doctor)
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {m.NAME: m.run for m in _MODULES}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit code 2), and no abbreviated flags: a typo
    such as ``--model`` must be an error, not ``--models`` run with the preset's other settings."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser: every command's subparser, each filled by its own module."""
    parser = _Parser(prog="rnnbench", description="Benchmark and compare recurrent networks (Keras 3).")
    parser.add_argument("--version", action="version", version=f"rnnbench {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for module in _MODULES:
        module.add_arguments(sub.add_parser(module.NAME, help=module.HELP))
    return parser


def _save_traceback() -> Path:
    """Write the current exception's traceback to a file of its own and return its path."""
    import tempfile
    import time
    import traceback

    fd, path = tempfile.mkstemp(prefix=f"rnnbench-crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(f"rnnbench {package_version()}: {' '.join(sys.argv)}\n\n{traceback.format_exc()}")
    return Path(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code (see the module docstring)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # a subcommand's typo: point at that subcommand's flags, which the top-level help does not list
        command = getattr(args, "command", None)
        prog = f"{parser.prog} {command}" if command else parser.prog
        parser.exit(EXIT_BAD_INPUT, f"{prog}: error: unrecognized arguments: {' '.join(unknown)} (see {prog} --help)\n")
    try:
        return COMMANDS[args.command](args)
    except BadInput as exc:
        print(f"rnnbench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("rnnbench: interrupted; finished cells are stored, rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (| head): no more output, and no traceback from flushing it at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("rnnbench: output closed early (broken pipe)", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        # An unusable environment (a read-only or unwritable --out, a full disk): exit 2, never 1, which CI
        # would read as a regression found.
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"rnnbench: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug of ours: its own exit code and the traceback kept for the report
        path = _save_traceback()
        print(f"rnnbench: internal error ({type(exc).__name__}: {exc}); traceback saved to {path}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
