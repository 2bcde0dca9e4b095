"""The one-way layering of runners/ (README, "Layout"), checked on the source, function-local imports included.

    errors, text, files, quiet, pipeline_args < store < home < serving < monitoring | reports < preflight
    < local | vertex < rehearsal < commands < cli < __main__

A module may import modules of lower layers and of its own room; rooms of one layer (`|`) do not
import each other, and no command module imports another. Across the whole project no module imports
another's private name, and the import graph has no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("runners", "pipeline", "models")
LAYERS: tuple[tuple[str, ...], ...] = (
    ("runners.errors", "runners.text", "runners.files", "runners.quiet", "runners.pipeline_args"),
    ("runners.store",),
    ("runners.home",),
    ("runners.serving",),
    ("runners.monitoring", "runners.reports"),
    ("runners.preflight",),
    ("runners.local", "runners.vertex"),
    ("runners.rehearsal",),
    ("runners.commands",),
    ("runners.cli",),
    ("runners.__main__",),
)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module: str) -> Iterator[tuple[str, str | None, int]]:
    """Yields (imported project module, imported name or None, line) for every import, nested ones too."""
    tree = ast.parse(MODULES[module].read_text())
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    aliases[alias.asname or alias.name] = alias.name
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}"
            for alias in node.names:
                if f"{base}.{alias.name}" in MODULES:  # `from package import module`
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
                    yield f"{base}.{alias.name}", None, node.lineno
                elif base in MODULES:
                    yield base, alias.name, node.lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            yield aliases[node.value.id], node.attr, node.lineno


def _room(module: str) -> tuple[int, str] | None:
    for rank, rooms in enumerate(LAYERS):
        for room in rooms:
            if module == room or module.startswith(room + "."):
                return rank, room
    return None


def layering_offences() -> list[str]:
    """Every import in runners/ that goes up, sideways between rooms, or between command modules."""
    offences = []
    for module in MODULES:
        here = _room(module)
        if here is None:
            continue
        for target, _, line in _imports(module):
            there = _room(target)
            if there is None or (there[1] == here[1] and here[1] != "runners.commands"):
                continue
            if there[1] == here[1] == "runners.commands" and target != "runners.commands":
                offences.append(f"{module}:{line} imports the command module {target}")
            elif there[0] >= here[0] and there[1] != here[1]:
                offences.append(f"{module}:{line} ({here[1]}) imports {target} ({there[1]}), not a lower layer")
    return offences


def private_name_imports() -> list[str]:
    """Every use of another module's private name (`_name`) across the project."""
    return [
        f"{module}:{line} uses {target}.{name}"
        for module in MODULES
        for target, name, line in _imports(module)
        if name is not None and name.startswith("_") and not name.startswith("__") and target != module
    ]


def import_cycles() -> list[list[str]]:
    """The strongly connected components of more than one module in the import graph (Tarjan)."""
    graph = {m: sorted({t for t, _, _ in _imports(m) if t != m}) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            # A package importing its own submodules (`__init__` re-exports) is not a cycle of logic.
            real = [m for m in component if not any(o.startswith(m + ".") for o in component)]
            if len(real) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return cycles


def test_runners_import_only_downwards() -> None:
    assert not layering_offences(), "\n".join(layering_offences())


def test_every_runners_module_belongs_to_a_layer() -> None:
    assert [m for m in MODULES if m.startswith("runners.") and _room(m) is None] == []


def test_no_module_uses_another_modules_private_names() -> None:
    assert not private_name_imports(), "\n".join(private_name_imports())


def test_the_import_graph_has_no_cycle() -> None:
    assert import_cycles() == []


def test_library_code_never_imports_a_command() -> None:
    library = [m for m in MODULES if not m.startswith(("runners.commands", "runners.cli", "runners.__main__"))]
    offenders = [f"{m} imports {t}" for m in library for t, _, _ in _imports(m) if t.startswith("runners.commands")]
    assert offenders == []


def test_the_layering_check_sees_function_local_imports(tmp_path: Path) -> None:
    # The check reads nested imports too: a reader importing a command inside a function is caught.
    source = "def f():\n    from runners.commands import ops\n    return ops.x\n"
    MODULES["runners.store.probe"] = tmp_path / "probe.py"
    MODULES["runners.store.probe"].write_text(source)
    try:
        assert any("runners.store.probe" in o for o in layering_offences())
    finally:
        del MODULES["runners.store.probe"]
