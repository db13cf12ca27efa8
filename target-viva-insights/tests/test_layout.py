"""The package's layout holds: no import cycles between modules, and the ground floor (Viva's facts,
settings, errors, the package format) never imports a subsystem or the run above it."""

from __future__ import annotations

import ast
from pathlib import Path

import target_viva_insights

PACKAGE = Path(target_viva_insights.__file__).parent
NAME = "target_viva_insights"
# Above the ground floor though they are flat modules: the SDK target, the run, the command.
TOP = {"target", "delivery", "cli", "__main__"}


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of the package that `path` imports at module level or in a function (TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(NAME):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(NAME))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_of(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: {target for target in _imports(path) if target in modules} - {name}
        for name, path in modules.items()
    }


def test_the_import_graph_has_no_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            # A package's __init__ re-exporting its own modules is not a cycle between subsystems.
            if node.startswith(target + ".") or target.startswith(node + "."):
                continue
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target] if target in trail else [node, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_the_ground_floor_imports_nothing_above_it() -> None:
    graph = _graph()
    ground = {
        name
        for name in graph
        if name.count(".") == 1
        and name.split(".")[1] not in TOP
        and not (PACKAGE / name.split(".")[1]).is_dir()
    }
    assert {
        "target_viva_insights.rules",
        "target_viva_insights.settings",
        "target_viva_insights.package",
    } <= ground
    upward = {name: sorted(graph[name] - ground - {NAME}) for name in ground if graph[name] - ground - {NAME}}
    assert upward == {}, upward
