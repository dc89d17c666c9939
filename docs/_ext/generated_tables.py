"""
Tables the documentation reads from the repository instead of keeping a copy that could drift.

``.. deployment-profiles::`` lists the profiles of ``scripts/profiles.py`` with the versions
their locks (``constraints/<profile>.txt``) pin; ``.. package-layout:: PACKAGE`` lists the
package's modules with the first paragraph of each one's docstring.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

REPO = Path(__file__).resolve().parents[2]

# The columns of the profile table after the profile's own: the distributions each lock pins.
PINNED_COLUMNS = (
    ("Airflow", "apache-airflow"),
    ("amazon", "apache-airflow-providers-amazon"),
    ("common-compat", "apache-airflow-providers-common-compat"),
    ("standard", "apache-airflow-providers-standard"),
    ("botocore", "botocore"),
)


def list_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A ``list-table`` directive's lines, with a header row."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in (header, *rows):
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return lines


def profiles_module() -> ModuleType:
    """``scripts/profiles.py``, which is a script rather than an importable module."""
    spec = importlib.util.spec_from_file_location("profiles", REPO / "scripts" / "profiles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up while they make its classes.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def locked_versions(lock: Path) -> dict[str, str]:
    pins = (line.split("==") for line in lock.read_text().splitlines() if not line.startswith("#"))
    return {name.lower(): version for name, version in (pin for pin in pins if len(pin) == 2)}


def profile_rows() -> Iterable[list[str]]:
    profiles = profiles_module()
    for profile in profiles.PROFILES:
        locked = locked_versions(profiles.lock_path(profile))
        pinned = [locked[distribution] for _, distribution in PINNED_COLUMNS]
        tiers = ", ".join(f"``{tier}``" for tier in profile.process_tiers) or "none"
        yield [f"``{profile.name}``", profile.about, profile.python, *pinned, tiers]


# A cross-reference role, such as :class:`~package.module.Name`: its target means nothing out of its module.
ROLE = re.compile(r":[a-z:]+:`~?(?:[^`]*\.)?([^`.]+)`")


def docstring_summary(source: Path) -> str:
    """The first paragraph of the module's docstring, its cross-references as plain literals."""
    docstring = ast.get_docstring(ast.parse(source.read_text(), filename=str(source))) or ""
    first = " ".join(docstring.strip().split("\n\n")[0].split())
    return ROLE.sub(r"``\1``", first)


def module_rows(package: Path) -> Iterable[list[str]]:
    for source in sorted(package.rglob("*.py")):
        parts = source.relative_to(package.parent).with_suffix("").parts
        dotted = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield [f"``{dotted}``", docstring_summary(source)]


class GeneratedTable(SphinxDirective):
    """A directive whose content is a table made when the page is built."""

    def table_lines(self) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container()
        self.state.nested_parse(
            StringList(self.table_lines(), source=self.get_source_info()[0]), 0, container
        )
        return container.children


class DeploymentProfiles(GeneratedTable):
    def table_lines(self) -> list[str]:
        self.env.note_dependency(str(REPO / "scripts" / "profiles.py"))
        for lock in sorted((REPO / "constraints").glob("*.txt")):
            self.env.note_dependency(str(lock))
        header = [
            "profile",
            "stands for",
            "Python",
            *(title for title, _ in PINNED_COLUMNS),
            "real-process tiers",
        ]
        return list_table(header, profile_rows())


class PackageLayout(GeneratedTable):
    required_arguments = 1

    def table_lines(self) -> list[str]:
        package = REPO / self.arguments[0]
        for source in package.rglob("*.py"):
            self.env.note_dependency(str(source))
        return list_table(["module", "holds"], module_rows(package))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("deployment-profiles", DeploymentProfiles)
    app.add_directive("package-layout", PackageLayout)
    return {"parallel_read_safe": True}
