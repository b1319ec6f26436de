"""The layers of broker/, read from the imports (docs/architecture.md draws them).

Each package may import only the packages below it; nothing imports upward, nothing forms a
cycle, and only broker/store/ speaks SQLAlchemy. Imports inside functions count as much as
those at the top of a module: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "broker"

# What each part of broker/ may import from the others (besides itself).
PURE = {"errors", "iam", "policy", "crypto"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "settings": {"errors"},
    "iam": {"errors"},
    "policy": {"errors", "iam"},
    "crypto": {"errors", "iam"},
    "saml": {"errors", "iam", "crypto"},
    "store": {"errors", "iam", "settings"},
    "client": PURE,
    "services": PURE | {"settings", "saml", "store"},
    "demo": PURE | {"settings", "saml", "services"},
    "web": PURE | {"settings", "saml", "services", "demo"},
    # The command line: the client library, the use cases, and `broker serve` builds the web app.
    "cli": PURE | {"settings", "client", "services", "web", "demo"},
}
# Within services/, the AWS API (handlers and pipeline) sits on top of the use cases.
SERVICES_TOP = "broker.services.api"
# What a module outside broker/store/ never calls on a transaction: store functions do.
SESSION_METHODS = {
    "execute",
    "scalars",
    "scalar",
    "add",
    "add_all",
    "delete",
    "flush",
    "merge",
    "refresh",
    "query",
    "begin",
    "begin_nested",
    "commit",
    "rollback",
    "get",
}
SESSION_NAMES = {"session", "tx", "db_session"}
MAX_LINES = 500


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: path for name, path in found.items() if ".migrations" not in name}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The broker module an import names (``from a.b import c`` may name module a.b.c)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}"
            yield Import(module, base, node.lineno)
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno)


ALL_IMPORTS = [found for module, path in MODULES.items() for found in _imports(module, path)]


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def test_each_part_imports_only_the_parts_below_it() -> None:
    assert {_part(m) for m in MODULES if m != "broker"} <= set(ALLOWED), "a new part of broker/ needs a rule"
    wrong = sorted(
        {
            f"{found.importer}:{found.line} imports {target}"
            for found in ALL_IMPORTS
            if (target := _resolve(found.imported)) is not None
            and target != "broker"
            and _part(found.importer) != _part(target)
            and _part(target) not in ALLOWED[_part(found.importer)]
        }
    )
    assert wrong == []


def test_only_the_store_speaks_sqlalchemy() -> None:
    wrong = sorted(
        f"{found.importer}:{found.line}"
        for found in ALL_IMPORTS
        if found.imported.split(".")[0] == "sqlalchemy" and not found.importer.startswith("broker.store")
    )
    assert wrong == []


def test_no_module_outside_the_store_calls_a_transaction() -> None:
    wrong = []
    for module, path in MODULES.items():
        if module.startswith("broker.store"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_METHODS
                and _receiver_name(node.func.value) in SESSION_NAMES
            ):
                wrong.append(f"{module}:{node.lineno} .{node.func.attr}()")
    assert wrong == []


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def test_only_the_web_layer_uses_the_api_package() -> None:
    wrong = sorted(
        f"{found.importer}:{found.line}"
        for found in ALL_IMPORTS
        if (target := _resolve(found.imported)) is not None
        and target.startswith(SERVICES_TOP)
        and not found.importer.startswith((SERVICES_TOP, "broker.web"))
    )
    assert wrong == []


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for found in ALL_IMPORTS:
        target = _resolve(found.imported)
        # A package is initialised before its modules, so naming it from inside is no cycle.
        if target is not None and target != found.importer and not found.importer.startswith(target + "."):
            graph[found.importer].add(target)
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
            parent = target.rpartition(".")[0]
            while parent and parent in MODULES and not found.importer.startswith(parent + "."):
                graph[found.importer].add(parent)
                parent = parent.rpartition(".")[0]
    cycles = [sorted(component) for component in _strongly_connected(graph) if len(component) > 1]
    assert cycles == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (the graph is a few hundred modules deep at most)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return components


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it along what it does"


def test_the_checks_see_a_violation() -> None:
    """The rules are not vacuous: an upward import and a cycle are caught."""
    fake = Import("broker.iam.arn", "broker.services.auth", 1)
    assert _resolve(fake.imported) == "broker.services.auth"
    assert _part(_resolve(fake.imported) or "") not in ALLOWED[_part(fake.importer)]
    assert [len(c) for c in _strongly_connected({"a": {"b"}, "b": {"a"}, "c": set()}) if len(c) > 1] == [2]
