"""The package's layout rules that a reviewer would otherwise check by hand (issue 24): no module of
the harness uses another module's private (underscore) name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (ROOT / "bench", ROOT / "models")


def private_uses(source: str, where: str) -> list[str]:
    """Each place in ``source`` that imports an underscore name from an rnnbench module, or reads or
    writes one as an attribute of an imported rnnbench module or name."""
    tree = ast.parse(source)
    imported: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnnbench"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{where}:{node.lineno}: from {node.module} import {alias.name}")
                imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("rnnbench"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in imported):
            found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
    return sorted(found, key=lambda use: int(use.split(":")[1]))  # in line order


def test_no_module_uses_another_modules_private_name():
    found = [use for package in PACKAGES for path in sorted(package.rglob("*.py"))
             for use in private_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert found == [], "private names used across modules:\n" + "\n".join(found)


def test_the_check_finds_each_kind_of_private_use():
    source = ("from rnnbench.reporting.report import _md\n"
              "from rnnbench import report\n"
              "import rnnbench.cell.runner as runner\n"
              "report._save(1)\n"
              "runner._MODULE_START = 0\n"
              "x._private_but_not_ours = 1\n")
    assert private_uses(source, "m.py") == ["m.py:1: from rnnbench.reporting.report import _md", "m.py:4: report._save",
                                            "m.py:5: runner._MODULE_START"]
