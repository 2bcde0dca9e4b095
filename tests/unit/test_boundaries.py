"""The import boundaries of shared/STYLE.md, checked on the source so a violation fails CI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> module prefixes it must not import
FORBIDDEN = {
    "models": ("pipeline", "runners", "google.cloud", "tests", "notebooks"),
    "pipeline": ("runners", "models.preprocessing", "models.model", "models.trainer", "models.signatures", "tests"),
    "runners": ("models.", "tests"),
}
STDLIB_ONLY = ROOT / "models" / "features.py"


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_import_boundaries(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            if any(
                name == bad.rstrip(".") or name.startswith(bad if bad.endswith(".") else bad + ".")
                for bad in FORBIDDEN[package]
            ):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_features_module_uses_only_the_standard_library() -> None:
    import sys

    third_party = [
        n
        for n in _imports(STDLIB_ONLY)
        if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] != "__future__"
    ]
    assert not third_party


def test_every_module_has_a_docstring() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for package in ("pipeline", "models", "runners")
        for path in sorted((ROOT / package).rglob("*.py"))
        if not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert not missing
