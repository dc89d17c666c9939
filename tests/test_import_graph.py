"""
The package's modules import one another one way only: its dependency graph has no cycle.

Every import counts, wherever it is written: at the top of a module, inside a function, under
``TYPE_CHECKING``, or as a :class:`~airflow_entityresolution.lazy.LazyModule`, which is an import
made later. So a reader can draw the graph top to bottom with no arrow going back.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

import airflow_entityresolution

PACKAGE = "airflow_entityresolution"


class Import(NamedTuple):
    """One module's import of another, and where it is written."""

    importer: str
    imported: str
    line: int


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package below ``root``, by its dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(module: str, path: Path, modules: set[str]) -> Iterator[tuple[str, int]]:
    """Every module of ``modules`` that ``module`` imports anywhere in its source, with the line."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = absolute_base(module, is_package, node)
            for alias in node.names:
                # `from a import b` imports module a.b if there is one, else a name that module a defines.
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in modules else base), node.lineno
        elif (lazy := lazy_module_name(node)) is not None:
            yield lazy, node.lineno


def absolute_base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` reads from, with a relative one made absolute."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if not is_package:
        parts.pop()
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, node.module] if node.module else parts)


def lazy_module_name(node: ast.AST) -> str | None:
    """The module a ``LazyModule("...")`` call stands for, if ``node`` is one."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "LazyModule"):
        return None
    [argument] = node.args
    return argument.value if isinstance(argument, ast.Constant) and isinstance(argument.value, str) else None


def import_graph(root: Path, package: str) -> dict[str, list[Import]]:
    """Each module's imports of the package's other modules, the first line of each."""
    modules = module_files(root, package)
    graph: dict[str, list[Import]] = {}
    for module, path in modules.items():
        imports: dict[str, Import] = {}
        for name, line in imported_modules(module, path, set(modules)):
            if name in modules and name != module:
                imports.setdefault(name, Import(module, name, line))
        graph[module] = list(imports.values())
    return graph


def cycles(graph: dict[str, list[Import]]) -> list[list[Import]]:
    """One cycle through each group of modules that import one another, as the imports that close it."""
    return [cycle_within(graph, group) for group in strongly_connected(graph)]


def strongly_connected(graph: dict[str, list[Import]]) -> list[set[str]]:
    """The groups of two or more modules from each of which every other one is reachable (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for each in graph.get(module, []):
            if each.imported not in index:
                visit(each.imported)
                low[module] = min(low[module], low[each.imported])
            elif each.imported in on_stack:
                low[module] = min(low[module], index[each.imported])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def cycle_within(graph: dict[str, list[Import]], group: set[str]) -> list[Import]:
    """The shortest cycle through the group's first module, by breadth-first search."""
    start = min(group)
    paths: dict[str, list[Import]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for each in graph[module]:
                if each.imported == start:
                    return [*paths[module], each]
                if each.imported in group and each.imported not in paths:
                    paths[each.imported] = [*paths[module], each]
                    following.append(each.imported)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")


def describe(cycle: list[Import]) -> str:
    names = " -> ".join([cycle[0].importer, *(each.imported for each in cycle)])
    where = "; ".join(f"{each.importer} imports {each.imported} on line {each.line}" for each in cycle)
    return f"{names} ({where})"


PACKAGE_ROOT = Path(airflow_entityresolution.__file__).parent


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE_ROOT, PACKAGE)
    found = [describe(cycle) for cycle in cycles(graph)]
    assert found == [], "import cycles:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("importer", "imported", "written"),
    [
        ("hooks", "clients", "as a LazyModule"),
        ("errors", "shapes", "under TYPE_CHECKING"),
        ("emulator.pytest_plugin", "emulator.server", "inside a function"),
    ],
)
def test_the_graph_counts_every_way_an_import_is_written(importer, imported, written):
    graph = import_graph(PACKAGE_ROOT, PACKAGE)
    edges = {each.imported for each in graph[f"{PACKAGE}.{importer}"]}
    assert f"{PACKAGE}.{imported}" in edges, f"{importer} imports {imported} {written}"


def test_a_cycle_is_named_with_the_lines_that_close_it(tmp_path):
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("def late():\n    from loop import second\n")
    (package / "second.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from loop.first import late\n"
    )
    (package / "third.py").write_text("from loop import first\n")
    [cycle] = cycles(import_graph(package, "loop"))
    assert describe(cycle) == (
        "loop.first -> loop.second -> loop.first "
        "(loop.first imports loop.second on line 2; loop.second imports loop.first on line 4)"
    )
