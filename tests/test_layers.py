"""Layers point one way (docs/development.md, "Layers"): assembly → domains → web machinery →
accounts core → node → config, errors. Read from every `import hameau…` and `from hameau…
import …` of the sources, those inside functions too (a late import is still a dependency)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = ("files", "calendar", "notes", "messages", "search", "travel", "ai", "hamlet")
# The modules that assemble the parts: they may import anything; nothing else imports them.
ASSEMBLY = {
    "hameau.__main__", "hameau.app", "hameau.cli", "hameau.commands", "hameau.demo",
    "hameau.export", "hameau.models", "hameau.parts", "hameau.serving", "hameau.trips",
}  # fmt: skip
# Members, sessions, app passwords and devices: what the request's visitor is made of. The web
# machinery builds on them; the accounts' pages, API and commands are a part like the others.
ACCOUNTS_CORE = {
    f"hameau.accounts.{name}"
    for name in ("agents", "devices", "members", "models", "ratelimit", "secrets", "sessions",
                 "tables", "tokens", "workspace")
}  # fmt: skip
BASE = ("hameau.node", "hameau.config", "hameau.config_values", "hameau.errors")
# Known crossings, each to be fixed where it lives; the lead removes an entry at merge.
ALLOWED = {
    # Alembic's environment is a script Alembic runs, above the layers: it needs every table.
    ("hameau.node.migrations.env", "hameau.models"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of the module but those under `if TYPE_CHECKING:`: an import only the type
    checker reads never runs, so it makes no layer crossing and no cycle."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def imports() -> dict[str, set[str]]:
    """module -> the hameau modules it imports (a `from package import module` names the
    module; `from hameau import __version__` the package)."""
    sources = {_module_name(path): path for path in (ROOT / "hameau").rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in sources.items():
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[module] |= {a.name for a in node.names if a.name.split(".")[0] == "hameau"}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] != "hameau":
                    continue
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    graph[module].add(full if full in sources else node.module)
        graph[module].discard(module)
    return graph


def _is(module: str, *prefixes: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _domain(module: str) -> bool:
    accounts_part = _is(module, "hameau.accounts") and module not in ACCOUNTS_CORE
    return accounts_part or _is(module, *(f"hameau.{name}" for name in DOMAINS))


def _crossings(rule: str, importer: str, imported: str) -> list[tuple[str, str, str]]:
    return [] if (importer, imported) in ALLOWED else [(rule, importer, imported)]


def _broken(importer: str, imported: str) -> list[tuple[str, str, str]]:
    """The rules `importer` breaks by importing `imported`."""
    if importer in ASSEMBLY:
        return []
    if imported in ASSEMBLY:
        return _crossings("only the assembly imports the assembly", importer, imported)
    if _is(importer, *BASE) and not _is(imported, *BASE) and imported != "hameau":
        return _crossings("node, config and errors import no part and no web", importer, imported)
    if importer in ACCOUNTS_CORE and not (imported in ACCOUNTS_CORE or _is(imported, *BASE)):
        return _crossings("the accounts core imports only node, config, errors", importer, imported)
    if _is(importer, "hameau.web") and _domain(imported):
        return _crossings("web imports no domain, only the accounts core", importer, imported)
    return []


def test_layers_point_one_way() -> None:
    broken = [
        crossing
        for importer, imported_modules in sorted(imports().items())
        for imported in sorted(imported_modules)
        for crossing in _broken(importer, imported)
    ]
    assert broken == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while (top := stack.pop()) != node:
                component.append(top)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others() -> None:
    graph = {
        importer: {m for m in imported if (importer, m) not in ALLOWED}
        for importer, imported in imports().items()
    }
    assert _cycles(graph) == []


def _package(module: str) -> str:
    if module in ACCOUNTS_CORE:
        return "accounts core"
    return ".".join(module.split(".")[:2])


def test_no_two_parts_import_each_other() -> None:
    """Between packages too: files builds on no part that builds on files."""
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported in imports().items():
        for module in imported:
            if (importer, module) not in ALLOWED and _package(importer) != _package(module):
                graph[_package(importer)].add(_package(module))
    assert _cycles(graph) == []


def test_the_rules_catch_what_they_forbid() -> None:
    """The checks themselves, on crossings the code must never have."""
    assert _broken("hameau.web.home", "hameau.files.service")
    assert _broken("hameau.accounts.members", "hameau.web.auth")
    assert _broken("hameau.node.serve", "hameau.travel.sync")
    assert _broken("hameau.files.views", "hameau.export")
    assert not _broken("hameau.web.auth", "hameau.accounts.sessions")
    assert not _broken("hameau.app", "hameau.files.views")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
