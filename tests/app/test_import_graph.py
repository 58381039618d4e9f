"""The structure drawn from the imports of src/mdm_hub (grimp): pure modules import no feature,
and no import cycle, neither among modules nor among packages (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

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
