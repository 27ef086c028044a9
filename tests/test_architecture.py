"""The layout keeps the architecture (docs/architecture.md): no import cycle between modelyard's modules,
`aip/` free of web frameworks and databases, the API free of database drivers, no module over 500 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "modelyard"
MAX_LINES = 500
#: Third-party packages each layer must not import (module level or not).
FORBIDDEN = {
    "modelyard.aip": ("fastapi", "starlette", "sqlalchemy", "psycopg", "psycopg_pool", "uvicorn"),
    "modelyard.resources": ("fastapi", "starlette", "sqlalchemy", "psycopg", "psycopg_pool", "uvicorn"),
    "modelyard.api": ("sqlalchemy", "psycopg", "psycopg_pool"),
}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _imports(
    module: str, path: Path, top_level_only: bool, modules: frozenset[str] = frozenset()
) -> Iterator[str]:
    """Absolute names imported by ``module`` (relative imports resolved). ``from package import name``
    names the submodule when ``name`` is one of ``modules`` (importing a submodule runs its package's
    ``__init__`` first, which is not a dependency on what the package re-exports), else the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes: list[ast.AST] = list(tree.body) if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base


def _import_graph() -> dict[str, set[str]]:
    mods = _modules()
    names = frozenset(mods)
    return {
        name: {dep for dep in _imports(name, path, True, names) if dep in mods and dep != name}
        for name, path in mods.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert _cycles(_import_graph()) == []


def test_layers_do_not_import_what_they_must_not() -> None:
    offenders = []
    for name, path in _modules().items():
        for layer, banned in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                for dep in _imports(name, path, top_level_only=False):
                    if dep.split(".")[0] in banned:
                        offenders.append(f"{name} imports {dep}")
    assert offenders == []


def test_no_module_over_the_size_limit() -> None:
    long = {
        str(path.relative_to(REPO_ROOT)): n
        for path in _modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
