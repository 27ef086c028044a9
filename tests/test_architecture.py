"""The layout keeps the architecture (docs/architecture.md): no import cycle between modelyard's modules
and no import from below a door into a door, counting imports inside functions too (an explicit
allow-list names the lazy imports kept for start-up time); the framework-free layers (``access``,
``errors``, ``settings``, ``store``, ``storage``, ``files``, ``importers``, ``aip``, ``resources``,
``client``) import no web framework or server; the API free of database drivers; nobody outside
``store/`` touches the store's engine; request bodies are read only by the preamble; no module over 500
lines."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "modelyard"
MAX_LINES = 500
#: Third-party packages each layer must not import (module level or not).
WEB = ("fastapi", "starlette", "uvicorn")
FORBIDDEN = {
    "modelyard.aip": (*WEB, "sqlalchemy", "psycopg", "psycopg_pool"),
    "modelyard.resources": (*WEB, "sqlalchemy", "psycopg", "psycopg_pool"),
    "modelyard.api": ("sqlalchemy", "psycopg", "psycopg_pool"),
    "modelyard.access": WEB,
    "modelyard.errors": WEB,
    "modelyard.settings": WEB,
    "modelyard.store": WEB,
    "modelyard.storage": WEB,
    "modelyard.files": WEB,
    "modelyard.importers": WEB,
    "modelyard.client": WEB,
}
#: The doors: each translates its protocol and calls what is below; nothing below imports one.
DOORS = ("modelyard.api", "modelyard.web", "modelyard.hub", "modelyard.oci")
#: What hosts the doors (builds the app, runs the server or the command line): may import a door.
ABOVE_DOORS = ("modelyard.serving.server", "modelyard.cli", "modelyard.cli_support", "modelyard.cli_group",
               "modelyard.cli_failures", "modelyard.identity_cli")  # fmt: skip
#: The module that composes the app out of every door (may import each of them).
COMPOSER = "modelyard.api.app"
#: Imports inside a function that the import graph does not count: lazy on purpose, for start-up time
#: or start-up order (importer -> imported).
LAZY_IMPORTS = {
    # prometheus_client picks its value class when first imported: the worker sets its directory first.
    ("modelyard.serving.server", "modelyard.api.app"),
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
    """modelyard's modules and what each imports, at module level or inside a function (bar
    :data:`LAZY_IMPORTS`)."""
    mods = _modules()
    names = frozenset(mods)
    return {
        name: {
            dep
            for dep in _imports(name, path, False, names)
            if dep in mods and dep != name and (name, dep) not in LAZY_IMPORTS
        }
        for name, path in mods.items()
    }


def _in(name: str, layers: tuple[str, ...]) -> bool:
    return any(name == layer or name.startswith(layer + ".") for layer in layers)


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


def test_the_import_graph_sees_imports_inside_functions() -> None:
    graph = _import_graph()
    # files/cli.py imports what it runs inside its command function.
    assert "modelyard.files.gc" in graph["modelyard.files.cli"]
    assert all((a in graph and b in _modules()) for a, b in LAZY_IMPORTS)


def test_nothing_below_a_door_imports_a_door() -> None:
    upward = sorted(
        f"{name} imports {dep}"
        for name, deps in _import_graph().items()
        if not _in(name, DOORS) and not _in(name, ABOVE_DOORS)
        for dep in deps
        if _in(dep, DOORS)
    )
    assert upward == []


def test_doors_do_not_import_each_other() -> None:
    crossing = sorted(
        f"{name} imports {dep}"
        for name, deps in _import_graph().items()
        for door in DOORS
        if _in(name, (door,)) and name != COMPOSER
        for dep in deps
        if _in(dep, DOORS) and not _in(dep, (door,))
    )
    assert crossing == []


def test_only_the_store_touches_its_engine() -> None:
    """``store.engine`` and ``.engine.`` bypass the store's error boundary: the facade has a method for
    each need."""
    pattern = re.compile(r"\.engine\b(?!\s*import)")
    offenders = []
    for name, path in _modules().items():
        if _in(name, ("modelyard.store",)):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and "sqlalchemy.engine" not in code and "store.engine import" not in code:
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_only_the_preamble_reads_request_bodies() -> None:
    """Every JSON or form body goes through ``modelyard.doorway`` (``admit``: authentication, ids,
    permission, then the body under ``max_body_bytes``; ``read_body`` for a door's own limit); only the
    raw file uploads stream theirs: the signed PUTs of ``api/blobs.py``, the Hub's LFS object and part PUTs
    (``hub/lfs.py``) and the OCI blob uploads (``oci/push.py``)."""
    readers = {"modelyard.doorway", "modelyard.api.blobs", "modelyard.hub.lfs", "modelyard.oci.push"}
    pattern = re.compile(r"\b(?:request|req)\.(?:body|stream|json|form)\(")
    offenders = [
        name
        for name, path in _modules().items()
        if name not in readers and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_layers_do_not_import_what_they_must_not() -> None:
    offenders = []
    for name, path in _modules().items():
        for layer, banned in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                for dep in _imports(name, path, top_level_only=False):
                    if dep.split(".")[0] in banned:
                        offenders.append(f"{name} imports {dep}")
    assert offenders == []


def test_only_the_serving_package_imports_uvicorn() -> None:
    """The serving internals (uvicorn's hooks, sendfile) are fenced in ``modelyard.serving``."""
    importers = sorted(
        name
        for name, path in _modules().items()
        if not (name == "modelyard.serving" or name.startswith("modelyard.serving."))
        and any(dep.split(".")[0] == "uvicorn" for dep in _imports(name, path, top_level_only=False))
    )
    assert importers == []


def test_no_module_over_the_size_limit() -> None:
    long = {
        str(path.relative_to(REPO_ROOT)): n
        for path in _modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
