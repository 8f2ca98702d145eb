"""The ``rnnbench`` command line. Exit codes: 0 ok, 1 regression found by ``compare``, ``gate`` or ``ab``,
2 bad input or an unusable environment, 3 internal error (traceback saved to a file)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rnnbench import thresholds
from rnnbench.errors import BadInput

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit code 2), and no abbreviated flags: a typo
    such as ``--model`` must be an error, not ``--models`` run with the preset's other settings."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_ALL = object()  # "--train-samples all": the whole split, overriding a preset's subset


def _samples(text: str):
    if text.strip().lower() == "all":
        return _ALL
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of samples or 'all', got {text!r}") from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnnbench")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _add_sweep_options(p: argparse.ArgumentParser, default_preset: str = "default") -> None:
    src = p.add_mutually_exclusive_group()
    from rnnbench.presets import PRESETS

    src.add_argument("--preset", help=f"named sweep: {', '.join(PRESETS)} (default: {default_preset}; see README, Presets)")
    src.add_argument("--sweep", metavar="FILE.toml", help="sweep file (TOML); see README for its keys")
    from rnnbench.settings import SETTINGS

    axes = p.add_argument_group("axis overrides (comma-separated lists)")
    fixed = p.add_argument_group("fixed settings")
    for setting in SETTINGS:  # every sweep setting's flag, from its one declaration (bench/settings.py)
        kind = str if setting.axis or setting.listed else _samples if setting.samples else setting.kind
        (axes if setting.axis else fixed).add_argument(
            setting.flag, *setting.aliases, dest=setting.name, type=kind, metavar=setting.metavar,
            help=(setting.help + (f" (default: {setting.unset})" if setting.unset else "")).replace("%", "%%"))


def _add_verdict_options(p: argparse.ArgumentParser, max_slowdown: float, why: str, accuracy: bool = True) -> None:
    """The thresholds and output format shared by ``compare``, ``gate`` and ``ab``."""
    p.add_argument("--max-slowdown", type=float, default=max_slowdown,
                   help=f"throughput drop that counts, as a fraction (default {max_slowdown:.2f}{why})")
    if accuracy:
        p.add_argument("--max-accuracy-drop", type=float, default=thresholds.MAX_ACCURACY_DROP,
                       help=f"absolute test-accuracy drop that counts (default {thresholds.MAX_ACCURACY_DROP:g})")
    _add_alpha_option(p)
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")


def _add_alpha_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=float, default=thresholds.ALPHA,
                   help=f"significance level of the Mann-Whitney U test (default {thresholds.ALPHA:g})")


def _add_summary_option(p: argparse.ArgumentParser) -> None:
    """``--summary FILE`` of ``compare`` and ``gate`` (bench/compare.py, write_summary)."""
    p.add_argument("--summary", metavar="FILE",
                   help="append the verdict as Markdown to FILE (it is appended to $GITHUB_STEP_SUMMARY too when that is "
                        "set, as in a GitHub Actions job)")


def _add_timing_options(p: argparse.ArgumentParser, out: str, out_help: str, accuracy: bool = True) -> None:
    """What ``gate`` and ``ab`` share: the regress preset by default, --out, A/B rounds, the gate's thresholds."""
    from rnnbench.ab import AB_ROUNDS

    _add_sweep_options(p, default_preset="regress")
    p.set_defaults(preset="regress")
    p.add_argument("--out", default=out, metavar="DIR", help=f"{out_help} (default: {out})")
    p.add_argument("--rounds", type=int, default=AB_ROUNDS, metavar="N", help=f"A/B rounds per cell and version (default {AB_ROUNDS})")
    _add_verdict_options(p, max_slowdown=thresholds.GATE_MAX_SLOWDOWN, why=": above this machine's measured run-to-run drift",
                         accuracy=accuracy)
    p.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnbench", description="Benchmark and compare recurrent networks (Keras 3).")
    parser.add_argument("--version", action="version", version=f"rnnbench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    p = sub.add_parser("list", help="registry entries with arch, kernels and parameter count")
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="fnmatch patterns (default: all)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")

    p = sub.add_parser("run", help="run a sweep into a run directory (resumable)")
    _add_sweep_options(p)
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/<preset or sweep name>)")
    p.add_argument("--force", action="store_true", help="rerun cells already done in --out")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells that failed before")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--data-path", metavar="FILE", help="imdb.npz to read (dataset imdb)")
    p.add_argument("--allow-unverified-data", action="store_true", help="read a data file whose sha256 is not the published one")
    p.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    p.add_argument("--no-report", action="store_true", help="do not build RUN_DIR/report at the end")

    p = sub.add_parser("report", help="tables and charts of a run directory, rebuilt from its stored files")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--out", metavar="DIR", help="where to write REPORT.md, the PNG charts and index.html (default: RUN_DIR/report)")

    p = sub.add_parser("compare", help="regression verdict of NEW against BASELINE (exit 1 on regression)")
    p.add_argument("baseline", metavar="BASELINE_DIR")
    p.add_argument("new", metavar="NEW_DIR")
    _add_verdict_options(p, max_slowdown=thresholds.MAX_SLOWDOWN, why="")
    _add_summary_option(p)

    p = sub.add_parser("history", help="the same cells over many runs (commits, machines): history.csv, a trend chart "
                                       "with regressions marked, HISTORY.md and index.html")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories, in any order: they are put in order of their commit's time (git, in the current "
                        "directory's repository), else of their start time; a folder of run directories (gate --history "
                        "DIR) stands for all of them")
    p.add_argument("--out", default="history", metavar="DIR",
                   help="where to write history.csv, the PNG charts, HISTORY.md and index.html (default: ./history, "
                        "in the current directory)")
    p.add_argument("--max-slowdown", type=float, default=thresholds.MAX_SLOWDOWN,
                   help="a point slower than the cell's previous run on the same machine by more than this fraction, "
                        f"and significantly, is marked a regression (default {thresholds.MAX_SLOWDOWN:.2f}, compare's)")
    _add_alpha_option(p)

    p = sub.add_parser("gate", help="CI regression gate: run a preset (regress), compare it with a baseline; speed "
                                    "gated against the baseline on its own machine, else by an A/B with its commit; "
                                    "exit 1 on a regression")
    p.add_argument("--baseline", default="results/baseline-regress", metavar="DIR",
                   help="baseline run directory (default: results/baseline-regress)")
    p.add_argument("--base", metavar="REF",
                   help="gate speed by an A/B against this git revision (branch, tag, commit) on this machine, "
                        "whatever machine the baseline came from (a pull request: --base origin/main, in a clone with its history)")
    _add_timing_options(p, "runs/gate", "run directory; a rerun goes to DIR/confirm, an A/B to DIR/ab")
    _add_summary_option(p)
    p.add_argument("--history", metavar="DIR",
                   help="after the gate, copy its run (run.json and the CSV files) into DIR as a new entry, "
                        "DIR/<UTC start>-<short commit>/, for 'rnnbench history DIR'")

    p = sub.add_parser("ab", help="same-machine A/B: time a sweep's cells with BASE_REF's code and with this code, "
                                  "interleaved; exit 1 when this code is slower by more than --max-slowdown and significantly")
    p.add_argument("base_ref", metavar="BASE_REF", help="git revision to compare against: a branch, tag or commit")
    _add_timing_options(p, "runs/ab", "work directory: the base's code in DIR/base-code, each timing in DIR/cells",
                        accuracy=False)

    p = sub.add_parser("data", help="data sets: list, info NAME|FILE, fetch NAME")
    p.add_argument("action", choices=("list", "info", "fetch"))
    p.add_argument("name", nargs="?", metavar="NAME|FILE", help="a data set's name, or (info) a .csv/.tsv/.jsonl file of labelled texts")
    p.add_argument("--text-column", default="text", metavar="NAME", help="info FILE: the text column (default: text)")
    p.add_argument("--label-column", default="label", metavar="NAME", help="info FILE: the label column (default: label)")
    p.add_argument("--data-path", metavar="FILE", help="imdb.npz to verify and read (fetch: no download)")
    p.add_argument("--allow-unverified-data", action="store_true")
    p.add_argument("--url", metavar="URL", help="fetch imdb: download from this URL, a mirror (default: $RNNBENCH_IMDB_URL, "
                                                "else Keras' own URL); the file must have the published sha256")
    p.add_argument("--dest", metavar="PATH", help="fetch imdb: where to put the file (default: $KERAS_HOME/datasets/imdb.npz, "
                                                  "where the reader looks); an existing file is never overwritten")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="fetch: seconds the connection may stay silent before the download fails (default 60)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("doctor", help="what this machine can run: Python, backends and their devices, CUDA, "
                                      "NVML and RAPL (energy), cores and threads")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="seconds each backend's child may take to import and list its devices (default 120)")
    return parser


def _spec_from_args(args: argparse.Namespace):
    from rnnbench import presets, spec

    if args.sweep:
        base = spec.from_toml(args.sweep)
    else:
        base = presets.get_preset(args.preset or "default")
    from rnnbench.settings import SETTINGS

    overrides: dict[str, object] = {}
    for setting in SETTINGS:
        value = getattr(args, setting.name)
        if value is None:
            continue
        if setting.axis or setting.listed:
            value = spec.parse_list(value, setting.kind, setting.flag.lstrip("-"))
        overrides[setting.name] = None if value is _ALL else value
    if "cpus" in overrides and "threads" not in overrides:
        overrides["threads"] = None  # --cpus alone: one thread per core given, whatever the preset's threads
    return base.replace(**overrides) if overrides else base


def cmd_list(args: argparse.Namespace) -> int:
    from rnnbench.models import create_model, get_spec, list_models

    names = list_models(*args.patterns)
    if not names:
        raise BadInput(f"no registered model matches {' '.join(args.patterns)!r}; known models: {', '.join(list_models())}")
    from rnnbench.quiet import native_stderr_silenced

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


def cmd_run(args: argparse.Namespace) -> int:
    from rnnbench.progress import describe
    from rnnbench.store import load_run
    from rnnbench.sweep import run_sweep
    from rnnbench.table import accuracy_summary, cells_table

    spec = _spec_from_args(args)
    if args.dry_run:
        for cell in spec.expand():
            print(cell.cell_id, describe(cell))
        return EXIT_OK
    name = Path(args.sweep).stem if args.sweep else (args.preset or "default")
    out = Path(args.out or Path("runs") / name)
    result = run_sweep(spec, out, preset=None if args.sweep else name, force=args.force,
                       retry_failed=args.retry_failed, quiet=args.quiet, data_path=args.data_path,
                       allow_unverified=args.allow_unverified_data)
    ids = {c.cell_id for c in result.cells}
    rows = [r for r in load_run(out).cells.values() if r["cell_id"] in ids]
    if not args.quiet:
        print(cells_table(rows))
        counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")}
        print(f"\n{len(rows)} cells: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed; "
              f"{result.ran} run now in {result.wall_s:.0f} s; results in {out}/")
        if summary := accuracy_summary(rows):  # only where two or more seeds share the other settings
            print(f"\n{summary}")
    if not args.no_report:
        from rnnbench import report

        path = report.build(out)
        if not args.quiet:
            print(f"report: {path / 'REPORT.md'} and {path / 'index.html'}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from rnnbench import report
    from rnnbench.store import load_run
    from rnnbench.table import accuracy_summary, cells_table

    out = report.build(Path(args.run_dir), args.out)
    rows = list(load_run(args.run_dir).cells.values())
    print(cells_table(rows))
    if summary := accuracy_summary(rows):
        print(f"\n{summary}")
    print(f"\nreport: {out / 'REPORT.md'} and {out / 'index.html'}")
    return EXIT_OK


def cmd_data(args: argparse.Namespace) -> int:
    from rnnbench import datasets
    from rnnbench.datasets import textfile
    from tabulate import tabulate

    if args.action == "list":
        rows = [[d.name, d.description, d.source, len(datasets.cached_entries(d.name))] for d in datasets.DATASETS.values()]
        print(tabulate(rows, headers=["name", "description", "source", "cached maxlens"], maxcolwidths=[None, 50, 50, None]))
        return EXIT_OK
    if not args.name:
        raise BadInput(f"'rnnbench data {args.action}' needs a data set name; known: {', '.join(datasets.DATASETS)}")
    if args.action == "info" and textfile.is_file_dataset(args.name):
        print("\n".join(textfile.summary(textfile.read(args.name, args.text_column, args.label_column))))
        return EXIT_OK
    info = datasets.check_name(args.name)
    if args.action == "info":
        print(f"{info.name}: {info.description}\nsource: {info.source}\ncache: {datasets.cache_dir()}")
        for path in datasets.cached_entries(info.name):
            print(f"  {path.relative_to(datasets.cache_dir())}  {path.stat().st_size / 2**20:.1f} MiB")
        if info.name == "synthetic":
            from rnnbench.datasets import synthetic

            print("accuracy ceiling (Bayes-optimal reader, test split) by maxlen:")
            data = synthetic.generate()
            for maxlen in (50, 100, 200, 500, 1000):
                print(f"  {maxlen:>5}: {synthetic.bayes_accuracy(datasets.pad_sequences(data.x_test, maxlen), data.word_llr):.4f}")
        return EXIT_OK
    data_path = args.data_path
    if info.name != "imdb" or data_path is not None:
        if args.url or args.dest:
            why = "a local file is verified, nothing is downloaded" if data_path is not None else f"{info.name} is not downloaded"
            raise BadInput(f"--url and --dest are for downloading imdb; {why}")
    else:
        from rnnbench.datasets import fetch

        dest = fetch.imdb_dest(args.dest)
        if args.allow_unverified_data and dest.is_file():
            data_path = dest  # the user's own file, read as --allow-unverified-data asks; nothing downloaded
        else:
            got = fetch.fetch_imdb(args.url, dest, timeout=args.timeout, progress=not args.quiet)
            if got.downloaded:
                print(f"{info.name}: downloaded to {got.path} ({got.size / 2**20:.1f} MiB, {got.size:,} bytes); "
                      f"sha256 matched the published {got.sha256}")
            else:
                print(f"{info.name}: {got.path} already present and verified (sha256 {got.sha256}); nothing downloaded")
            data_path = got.path
            if got.path.resolve() not in {c.resolve() for c in datasets.imdb.candidate_paths()}:
                print(f"note: 'rnnbench run' reads this file with --data-path {got.path} or RNNBENCH_IMDB_PATH={got.path}")
    data = datasets.padded(info.name, 500, data_path=data_path, allow_unverified=args.allow_unverified_data)
    print(f"{info.name}: ready ({len(data.x_train)} train / {len(data.x_test)} test reviews, fingerprint {data.fingerprint[:16]}); "
          f"cached in {datasets.cache_dir()}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from rnnbench.compare import compare_runs, write_summary
    from rnnbench.store import load_run

    result = compare_runs(load_run(args.baseline), load_run(args.new), args.max_slowdown, args.max_accuracy_drop, args.alpha)
    print(result.to_json() if args.format == "json" else result.to_markdown())
    write_summary(result.to_markdown(), args.summary)
    return EXIT_REGRESSION if result.regressions else EXIT_OK


def cmd_gate(args: argparse.Namespace) -> int:
    from rnnbench.compare import write_summary
    from rnnbench.gate import run_gate

    spec = _spec_from_args(args)
    name = Path(args.sweep).stem if args.sweep else args.preset
    if args.history:
        from rnnbench.history import check_history_dir

        check_history_dir(args.history, args.out)  # before the gate's long run, not after it
    result = run_gate(args.baseline, spec, args.out, preset=None if args.sweep else name,
                      max_slowdown=args.max_slowdown, max_accuracy_drop=args.max_accuracy_drop, alpha=args.alpha,
                      quiet=args.quiet, base_ref=args.base, rounds=args.rounds)
    print(result.to_json() if args.format == "json" else result.to_markdown())
    write_summary(result.to_markdown(), args.summary)
    if args.history:
        from rnnbench.history import record_entry

        print(f"rnnbench: the gate's run recorded in the history as {record_entry(args.out, args.history)}", file=sys.stderr)
    return EXIT_REGRESSION if result.regressions else EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from rnnbench import history

    found = history.build(args.run_dirs, args.out, max_slowdown=args.max_slowdown, alpha=args.alpha)
    for note in found.notes:
        print(f"note: {note}")
    runs, cells = len(found.entries), found.frame.cell_id.nunique()
    regressions = found.regressions
    print(f"{runs} run(s), {cells} cell(s); {len(regressions)} regression(s) marked "
          f"(a point slower than the cell's previous run on the same machine by more than {args.max_slowdown:.0%}, significantly)")
    for r in regressions.itertuples():
        print(f"  regression: {r.label} on {r.machine}, run {r.run} ({r.commit[:10] or r.run_dir}): {r.change}")
    print(f"history: {found.out / 'HISTORY.md'}, {found.out / 'index.html'} and {found.out / 'history.csv'}")
    return EXIT_OK


def cmd_ab(args: argparse.Namespace) -> int:
    from rnnbench import ab
    from rnnbench.plan import skip_reason
    from rnnbench.thresholds import check_thresholds

    check_thresholds(args.max_slowdown, 0.0, args.alpha)
    ab.check_rounds(args.rounds)
    spec = _spec_from_args(args)
    cells = [c for c in spec.expand() if skip_reason(c) is None]
    if not cells:
        raise BadInput("none of the sweep's cells can run on this machine (see 'rnnbench run --dry-run')")
    out = Path(args.out)
    from rnnbench.store import command_lock

    with command_lock(out, "ab"):
        try:
            base, new = ab.prepare(args.base_ref, out / "base-code", out)
            result = ab.run_ab(cells, spec, base, new, out / "cells", rounds=args.rounds,
                               max_slowdown=args.max_slowdown, alpha=args.alpha, quiet=args.quiet)
        except ab.ABUnavailable as exc:
            raise BadInput(f"no A/B possible: {exc}") from None
    print(result.to_json() if args.format == "json" else result.to_markdown())
    return EXIT_REGRESSION if result.regressions else EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from rnnbench import doctor

    if not args.timeout > 0:
        raise BadInput(f"--timeout must be more than 0 seconds, got {args.timeout}")
    return doctor.main(args.timeout)


COMMANDS = {"list": cmd_list, "run": cmd_run, "report": cmd_report, "compare": cmd_compare, "gate": cmd_gate,
            "ab": cmd_ab, "data": cmd_data, "doctor": cmd_doctor, "history": cmd_history}


def _save_traceback() -> Path:
    """Write the current exception's traceback to a file of its own and return its path."""
    import tempfile
    import time
    import traceback

    fd, path = tempfile.mkstemp(prefix=f"rnnbench-crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(f"rnnbench {_version()}: {' '.join(sys.argv)}\n\n{traceback.format_exc()}")
    return Path(path)


def main(argv: Sequence[str] | None = None) -> int:
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
