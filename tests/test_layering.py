"""Dependencies point downwards: no library package imports the command line (`leadrank`), and `serving` never
imports `training` (ARCHITECTURE.md, "Data flow"). Checked on the source with `ast`, imports inside functions
and under `if TYPE_CHECKING:` included."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Library packages.
LIBRARY = ("features", "training", "handoff", "serving", "simulator", "model", "marketing", "monitoring", "engines")
# What each library package must not import (by top-level package name). `engines` runs the other packages on a
# cluster: it builds on them, none of them on it.
FORBIDDEN: dict[str, frozenset[str]] = {package: frozenset({"leadrank", "engines"}) for package in LIBRARY}
FORBIDDEN["engines"] = frozenset({"leadrank"})
FORBIDDEN["serving"] = frozenset({"leadrank", "training", "engines"})
FORBIDDEN["marketing"] = frozenset({"leadrank", "training", "engines"})
# The fitted model depends on the features alone: serving, training and the command line build on it.
FORBIDDEN["model"] = frozenset({"leadrank", "training", "serving", "handoff", "marketing", "monitoring", "engines"})
# Monitoring reads the model, the training metrics and the log; nothing below it reads monitoring.
for _package in ("features", "training", "handoff", "serving", "simulator", "marketing", "engines"):
    FORBIDDEN[_package] = FORBIDDEN[_package] | {"monitoring"}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in `source`: `import a.b`, `from a.b import c` (as `a.b`),
    `importlib.import_module("a.b")` and `__import__("a.b")` with a literal name. Relative imports stay inside
    their own package and are left out."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append((node.lineno, first.value))
    return sorted(found)


def forbidden_imports(source: str, package: str) -> list[tuple[int, str]]:
    """The imports in `source`, a module of library package `package`, that break the layering."""
    banned = FORBIDDEN[package]
    return [(line, module) for line, module in imported_modules(source) if module.split(".")[0] in banned]


def _violations() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for package in LIBRARY:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            found = forbidden_imports(path.read_text(encoding="utf-8"), package)
            if found:
                out[rel] = [f"{rel}:{line}: imports {module}" for line, module in found]
    return out


def test_the_checker_finds_command_line_imports_anywhere_in_a_module() -> None:
    assert forbidden_imports("import leadrank\n", "features") == [(1, "leadrank")]
    assert forbidden_imports("import os, leadrank.settings as s\n", "handoff") == [(1, "leadrank.settings")]
    assert forbidden_imports("from leadrank.settings import Settings\n", "training") == [(1, "leadrank.settings")]
    assert forbidden_imports("from leadrank import cli\n", "simulator") == [(1, "leadrank")]
    inside = "def f() -> None:\n    x = 1\n    from leadrank.cli_support import fail\n"
    assert forbidden_imports(inside, "serving") == [(3, "leadrank.cli_support")]
    typing_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from leadrank.settings import Settings\n"
    assert forbidden_imports(typing_only, "training") == [(3, "leadrank.settings")]
    dynamic = "import importlib\nm = importlib.import_module('leadrank.settings')\n"
    assert forbidden_imports(dynamic, "features") == [(2, "leadrank.settings")]


def test_the_checker_keeps_serving_off_training_only() -> None:
    assert forbidden_imports("from training.registry import champion_version\n", "serving") == [
        (1, "training.registry")
    ]
    assert forbidden_imports("import training\n", "serving") == [(1, "training")]
    assert forbidden_imports("from training.registry import champion_version\n", "features") == []


def test_the_checker_ignores_lookalikes() -> None:
    source = (
        '"""import leadrank is only prose here."""\n'
        "import leadrank_extras\n"
        "from features.leadrank import x\n"
        "from . import leadrank\n"
        "name = 'leadrank.settings'\n"
    )
    assert forbidden_imports(source, "serving") == []


def test_no_library_package_imports_the_command_line_and_serving_never_imports_training() -> None:
    scanned = [p for package in LIBRARY for p in (REPO / package).rglob("*.py")]
    assert len(scanned) > 30, "the layering check found almost no library modules: wrong root?"
    violations = _violations()
    unexpected = [line for lines in violations.values() for line in lines]
    assert not unexpected, "library packages must not import these:\n" + "\n".join(unexpected)
