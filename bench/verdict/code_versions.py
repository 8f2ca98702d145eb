"""Versions of the harness's code, each exported from git and installed apart, that cells can be run
with: the two sides of an A/B (bench/verdict/ab.py) and a bisection's probes (bench/verdict/bisect.py).

The base is exported from git (``git archive``) and installed with pip into a private folder (no
dependencies, no index: it uses the frameworks installed here); its processes get that folder first on
``PYTHONPATH`` and start with ``PYTHONSAFEPATH`` so that no working directory can shadow it.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnbench.cell.hooks import HOOK_ENVS
from rnnbench.storage import ownership

#: A base whose code cannot install or start within this is as good as absent.
INSTALL_TIMEOUT_S = 300


class ABUnavailable(Exception):
    """The A/B cannot run here (no git, a commit missing from the clone, a base that cannot install or
    start); the message says why in one line."""


@dataclass(frozen=True)
class CodeVersion:
    """One version of the harness that cells can be run with."""

    label: str  # "base" or "new"
    ref: str  # what the user named: a commit, branch or tag, or "working tree"
    commit: str | None
    site: Path | None  # folder its packages are installed in (None: this process's own installation)
    entry: str  # "module:function" of its rnnbench command

    @property
    def name(self) -> str:
        short = (self.commit[:10] + ("+dirty" if self.commit.endswith("+dirty") else "")) if self.commit else "unknown commit"
        named = self.commit is not None and self.commit.startswith(self.ref)  # the ref is the commit itself
        return f"{self.label} ({short})" if named else f"{self.label} ({self.ref}, {short})"

    def env(self) -> dict[str, str]:
        """The environment its processes start with (the cells it spawns inherit it)."""
        env = dict(os.environ, PYTHONSAFEPATH="1")
        if self.site is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.site), env.get("PYTHONPATH")]))
            for name in HOOK_ENVS:  # test-only hooks stand for a change in the new code: never the base's
                env.pop(name, None)
        return env

    def command(self, args: Sequence[str]) -> list[str]:
        module, _, function = self.entry.partition(":")
        code = f"import sys; sys.argv[0] = 'rnnbench'; from {module} import {function} as main; sys.exit(main())"
        return [sys.executable, "-P", "-c", code, *args]


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise ABUnavailable(f"git {args[0]} in {root} took over 120 s") from None


def source_root() -> Path:
    """The git work tree the running harness comes from (where the base's commit is looked up)."""
    if shutil.which("git") is None:
        raise ABUnavailable("git is not installed")
    here = Path(__file__).resolve().parent
    proc = _git(here, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise ABUnavailable(f"the harness at {here} is not in a git clone")
    return Path(proc.stdout.strip())


def resolve(ref: str, root: Path) -> str:
    """The full commit id ``ref`` names in the clone at ``root``."""
    proc = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if proc.returncode != 0:
        shallow = _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
        hint = " (a shallow clone: 'git fetch --unshallow' brings the history)" if shallow else ""
        raise ABUnavailable(f"commit {ref!r} is not in the clone at {root}{hint}")
    return proc.stdout.strip()


def _entry_point(site: Path) -> str:
    for path in site.glob("*.dist-info/entry_points.txt"):
        parser = configparser.ConfigParser()
        parser.read(path)
        if parser.has_option("console_scripts", "rnnbench"):
            return parser.get("console_scripts", "rnnbench").strip()
    raise ABUnavailable(f"the code installed in {site} declares no rnnbench command")


def materialise(ref: str, work: Path, root: Path | None = None, label: str = "base") -> CodeVersion:
    """Export ``ref`` from the git clone at ``root`` (default: the one the running harness comes from) into
    ``work`` and install it there; the base side of an A/B (``label``: a bisection's probes are "new")."""
    root = source_root() if root is None else root
    commit = resolve(ref, root)
    work = work.resolve()  # git runs in the clone's root: a relative path would be read from there
    ownership.fresh_subdir(work, "A/B base code")  # a folder of that name rnnbench did not make is refused
    src, site = work / "src", work / "site"
    src.mkdir()
    archive = work / "code.tar"
    proc = _git(root, "archive", "--format=tar", "-o", str(archive), commit)
    if proc.returncode != 0:
        raise ABUnavailable(f"git could not export {commit[:10]}: {proc.stderr.strip()[-200:]}")
    with tarfile.open(archive) as tar:
        # git's own archive of a commit; the "data" filter (Python >= 3.11.4) refuses links out of src anyway
        tar.extractall(src, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    archive.unlink()
    # No dependencies: the base must run on the frameworks installed here, so that the two versions
    # differ in the harness's code only. Built offline with the setuptools installed here when that
    # works; else pip builds it in isolation, which fetches the build backend (setuptools) from the index.
    for offline in (True, False):
        shutil.rmtree(site, ignore_errors=True)
        flags = ["--no-build-isolation", "--no-index"] if offline else []
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *flags, "--target", str(site), str(src)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ABUnavailable(f"installing the code of {commit[:10]} took over {INSTALL_TIMEOUT_S} s") from None
        if proc.returncode == 0:
            break
    else:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ABUnavailable(f"the code of {commit[:10]} could not be installed: {last}")
    return CodeVersion(label, ref, commit, site.resolve(), _entry_point(site))


def this_version() -> CodeVersion:
    """The running harness: the new side of an A/B."""
    from rnnbench.storage import environment

    package = __name__.split(".")[0]  # the top-level package (rnnbench), whose cli is the command
    commit = environment.git_commit()
    return CodeVersion("new", "working tree", commit, None, f"{package}.cli:main")


def imported_from(version: CodeVersion, cwd: Path) -> Path:
    """Where ``version``'s processes import its package from; ABUnavailable if it does not import, or if
    a base would run code other than its own (the guard against the shadowing A/B must never suffer)."""
    module = version.entry.partition(":")[0]
    try:
        proc = subprocess.run([sys.executable, "-P", "-c", f"import {module} as m; print(m.__file__)"],
                              env=version.env(), cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ABUnavailable(f"the {version.label} code took over {INSTALL_TIMEOUT_S} s to import") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ABUnavailable(f"the {version.label} code does not start: {last}")
    path = Path(proc.stdout.strip().splitlines()[-1]).resolve()
    own = version.site if version.site is not None else Path(__file__).resolve().parents[1]  # the running package (rnnbench/)
    if not path.is_relative_to(own):
        raise ABUnavailable(f"the {version.label} code would import {path}, not its own copy in {own}")
    return path
