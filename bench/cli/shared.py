"""What several commands share: exit codes, the sweep options (every setting's flag, from its one
declaration), the verdict options, and the sweep spec the options describe."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

from rnnbench.verdict import thresholds

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


_ALL = object()  # "--train-samples all": the whole split, overriding a preset's subset


def _samples(text: str):
    if text.strip().lower() == "all":
        return _ALL
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of samples or 'all', got {text!r}") from None


def package_version() -> str:
    """The installed rnnbench's version, for --version and crash reports."""
    try:
        return version("rnnbench")
    except PackageNotFoundError:
        return "unknown (not installed)"


def add_sweep_options(p: argparse.ArgumentParser, default_preset: str = "default") -> None:
    src = p.add_mutually_exclusive_group()
    from rnnbench.config.presets import PRESETS

    src.add_argument("--preset", help=f"named sweep: {', '.join(PRESETS)} (default: {default_preset}; see README, Presets)")
    src.add_argument("--sweep", metavar="FILE.toml", help="sweep file (TOML); see README for its keys")
    from rnnbench.config.settings import SETTINGS

    axes = p.add_argument_group("axis overrides (comma-separated lists)")
    fixed = p.add_argument_group("fixed settings")
    for setting in SETTINGS:  # every sweep setting's flag, from its one declaration (bench/config/settings.py)
        kind = str if setting.axis or setting.listed else _samples if setting.samples else setting.kind
        (axes if setting.axis else fixed).add_argument(
            setting.flag, *setting.aliases, dest=setting.name, type=kind, metavar=setting.metavar,
            help=(setting.help + (f" (default: {setting.unset})" if setting.unset else "")).replace("%", "%%"))


def add_verdict_options(p: argparse.ArgumentParser, max_slowdown: float, why: str, accuracy: bool = True) -> None:
    """The thresholds and output format shared by ``compare``, ``gate`` and ``ab``."""
    p.add_argument("--max-slowdown", type=float, default=max_slowdown,
                   help=f"throughput drop that counts, as a fraction (default {max_slowdown:.2f}{why})")
    if accuracy:
        p.add_argument("--max-accuracy-drop", type=float, default=thresholds.MAX_ACCURACY_DROP,
                       help=f"absolute test-accuracy drop that counts (default {thresholds.MAX_ACCURACY_DROP:g})")
    add_alpha_option(p)
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")


def add_alpha_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alpha", type=float, default=thresholds.ALPHA,
                   help=f"significance level of the Mann-Whitney U test (default {thresholds.ALPHA:g})")


def add_summary_option(p: argparse.ArgumentParser) -> None:
    """``--summary FILE`` of ``compare`` and ``gate`` (bench/verdict/compare.py, write_summary)."""
    p.add_argument("--summary", metavar="FILE",
                   help="append the verdict as Markdown to FILE (it is appended to $GITHUB_STEP_SUMMARY too when that is "
                        "set, as in a GitHub Actions job)")


def add_timing_options(p: argparse.ArgumentParser, out: str, out_help: str, accuracy: bool = True,
                       rounds: int | None = None, rounds_help: str = "") -> None:
    """What ``gate``, ``ab`` and ``bisect`` share: the regress preset by default, --out, A/B rounds (default
    the A/B's own), the gate's thresholds."""
    from rnnbench.verdict.ab import AB_ROUNDS

    rounds = AB_ROUNDS if rounds is None else rounds
    add_sweep_options(p, default_preset="regress")
    p.set_defaults(preset="regress")
    p.add_argument("--out", default=out, metavar="DIR", help=f"{out_help} (default: {out})")
    p.add_argument("--rounds", type=int, default=rounds, metavar="N",
                   help=f"A/B rounds per cell and version (default {rounds}{rounds_help})")
    add_verdict_options(p, max_slowdown=thresholds.GATE_MAX_SLOWDOWN, why=": above this machine's measured run-to-run drift",
                         accuracy=accuracy)
    p.add_argument("--quiet", action="store_true", help="no progress output")


def spec_from_args(args: argparse.Namespace):
    """The sweep spec of a command's --preset or --sweep with its setting flags applied."""
    from rnnbench.config import presets, sweep_file

    if args.sweep:
        base = sweep_file.from_toml(args.sweep)
    else:
        base = presets.get_preset(args.preset or "default")
    from rnnbench.config.settings import SETTINGS

    overrides: dict[str, object] = {}
    for setting in SETTINGS:
        value = getattr(args, setting.name)
        if value is None:
            continue
        if setting.axis or setting.listed:
            value = sweep_file.parse_list(value, setting.kind, setting.flag.lstrip("-"))
        overrides[setting.name] = None if value is _ALL else value
    if "cpus" in overrides and "threads" not in overrides:
        overrides["threads"] = None  # --cpus alone: one thread per core given, whatever the preset's threads
    return base.replace(**overrides) if overrides else base
