"""The layers of broker/, read from the imports (docs/architecture.md draws them).

Each package may import only the packages below it; nothing imports upward, nothing forms a
cycle, and only broker/store/ speaks SQLAlchemy. Imports inside functions count as much as
those at the top of a module: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "broker"

# What each part of broker/ may import from the others (besides itself).
PURE = {"errors", "iam", "policy", "crypto"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "logs": set(),
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
    "cli": PURE | {"settings", "logs", "client", "services", "web", "demo"},
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


def test_only_the_store_handles_rows() -> None:
    """Services get values from store functions and ask store functions to write: the ORM
    models (and so rows, relationships, lazy loads) never leave broker/store/."""
    wrong = sorted(
        f"{found.importer}:{found.line}"
        for found in ALL_IMPORTS
        if (target := _resolve(found.imported)) is not None
        and (target == "broker.store.models" or target.startswith("broker.store.models."))
        and not found.importer.startswith("broker.store")
    )
    assert wrong == []


def _model_names() -> set[str]:
    names = set()
    for path in (PACKAGE / "store" / "models").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                names.add(node.name)
    return names


def _model_references(tree: ast.Module, models: set[str]) -> Callable[[ast.expr], set[str]]:
    """What in an annotation names an ORM model: ``models.User``, or ``User`` imported from the models."""
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("broker.store.models")
        for alias in node.names
        if alias.name in models
    }

    def references(annotation: ast.expr) -> set[str]:
        found = set()
        for part in ast.walk(annotation):
            if isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name) and part.value.id == "models":
                found.add(part.attr)
            elif isinstance(part, ast.Name) and part.id in imported:
                found.add(part.id)
            elif isinstance(part, ast.Constant) and isinstance(part.value, str):
                found |= references(ast.parse(part.value, mode="eval").body)
        return found & models

    return references


def test_store_functions_speak_in_values() -> None:
    """No public store function takes or returns an ORM instance: only ids and values cross."""
    models = _model_names()
    assert {"User", "Role", "AuditEvent"} <= models
    wrong = []
    for module, path in MODULES.items():
        if not module.startswith("broker.store.") or module.startswith(("broker.store.models", "broker.store.db")):
            continue
        tree = ast.parse(path.read_text())
        references = _model_references(tree, models)
        if module.rpartition(".")[2].startswith("_"):
            continue  # a private module of the store: its converters take rows on purpose
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            annotations = [node.returns] + [a.annotation for a in node.args.args + node.args.kwonlyargs]
            named = set().union(*(references(a) for a in annotations if a is not None))
            if named:
                wrong.append(f"{module}.{node.name}: {sorted(named)}")
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
