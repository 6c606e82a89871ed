"""The package's import graph: no cycle (type-only imports included), and nothing in the
request-path core imports the operator surface (`guardgate.admin`); only the middleware, a door,
mounts it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
DOORS_AND_TOOLS = ("guardgate.middleware", "guardgate.sidecar", "guardgate.admin")


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module, package: str) -> set[str]:
    """Every guardgate module `tree` imports, anywhere (under `if TYPE_CHECKING:` too: a type
    that names a module is a dependency on it)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("guardgate"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            name = node.module
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module])
            if name.startswith("guardgate"):
                found.add(name)
                found.update(f"{name}.{a.name}" for a in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in (SRC / "guardgate").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for target in _imports(ast.parse(path.read_text()), package):
            while target and target not in files:
                target = target.rpartition(".")[0]  # `from pkg import name`: the package
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    assert "guardgate.gate" in graph and "guardgate.exchange" in graph
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_core_does_not_import_the_admin_surface() -> None:
    graph = _graph()
    offenders = {
        name: sorted(t for t in targets if t.startswith("guardgate.admin"))
        for name, targets in graph.items()
        if not name.startswith(DOORS_AND_TOOLS)
    }
    assert {k: v for k, v in offenders.items() if v} == {}
