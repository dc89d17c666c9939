"""
The names the package imports for type checkers only, bound for autodoc.

The package's modules import what their annotations name under ``if TYPE_CHECKING:``, so
that a DAG file loads as little as it can. autodoc evaluates annotations when the
documentation is built, where those names are unbound, and would then show every annotation
of such a signature as unlinked text. :func:`bind_type_checking_names` binds each of them in
its module, in the documentation build's process only, to the object a type checker sees,
so signatures link to the classes they name. A name the module binds itself is left alone.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

UNBOUND = object()


def type_checking_blocks(tree: ast.Module) -> Iterator[ast.If]:
    """The ``if TYPE_CHECKING:`` blocks of a module, at any depth."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            yield node


def checked_imports(source: Path) -> Iterator[tuple[str, str, str]]:
    """``(alias, module, name)`` for each ``from module import name as alias`` for type checkers."""
    tree = ast.parse(source.read_text(), filename=str(source))
    for block in type_checking_blocks(tree):
        for node in block.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    yield alias.asname or alias.name, node.module, alias.name


def imported(module_name: str, name: str) -> Any:
    """What ``from module_name import name`` gives a type checker: a submodule, or the module's name."""
    try:
        return importlib.import_module(f"{module_name}.{name}")
    except ImportError:
        pass
    module = importlib.import_module(module_name)
    value = getattr(module, name, UNBOUND)
    if value is UNBOUND and module.__file__:
        # That module imports it for type checkers only, too.
        bind_in(module, Path(module.__file__))
        value = getattr(module, name)
    return value


def bind_in(module: Any, source: Path) -> None:
    for alias, imported_module, name in checked_imports(source):
        if alias not in vars(module):
            setattr(module, alias, imported(imported_module, name))


def bind_type_checking_names(package: str) -> None:
    """Bind, in every module of ``package``, the names it imports for type checkers only."""
    root = Path(importlib.import_module(package).__file__ or "").parent
    for source in sorted(root.rglob("*.py")):
        parts = source.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if any(True for _ in checked_imports(source)):
            bind_in(importlib.import_module(name), source)
