"""
The documentation in docs/: each how-to guide shows code of the example DAGs, which the suite runs,
through include markers; each public class links to its guide; the code the other pages show runs;
and the site builds with every cross-reference resolved.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO
from provider_classes import PUBLIC_CLASSES

from airflow_entityresolution.emulator import EntityResolutionEmulator

DOCS = REPO / "docs"
EXAMPLES = REPO / "example_dags"
PAGES = sorted(path for path in DOCS.rglob("*.rst") if "_build" not in path.parts)
GUIDES = [page for page in PAGES if page.parent.name == "howto" and page.name != "index.rst"]
# The public classes, and the base classes that document the parameters their subclasses share.
DOCUMENTED_CLASSES = [
    *(path for paths in PUBLIC_CLASSES.values() for path in paths),
    "airflow_entityresolution.operators.EntityResolutionStartJobOperator",
    "airflow_entityresolution.sensors.EntityResolutionJobCompletedSensor",
    "airflow_entityresolution.triggers.EntityResolutionJobCompletedTrigger",
]

LITERALINCLUDE = re.compile(
    r"^\.\. literalinclude:: (?P<path>\S+)\n(?P<options>(?:[ \t]+:.*\n)*)", re.MULTILINE
)
CODE_BLOCK = re.compile(
    r"^\.\. code-block:: (?P<language>\w+)\n\n(?P<body>(?:(?:[ \t]+.*)?\n)+)", re.MULTILINE
)
MARKER = re.compile(r"^ *# \[(START|END) (\w+)\]$", re.MULTILINE)


def includes(page: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """Each file a page includes, with the include's options."""
    for match in LITERALINCLUDE.finditer(page.read_text()):
        options = dict(re.findall(r":([a-z-]+):[ \t]*(.*)", match["options"]))
        yield (page.parent / match["path"]).resolve(), options


def code_blocks(page: Path, language: str) -> list[str]:
    return [
        textwrap.dedent(match["body"])
        for match in CODE_BLOCK.finditer(page.read_text())
        if match["language"] == language
    ]


def labels() -> set[str]:
    """Every label the pages define, as Sphinx stores them: lower case."""
    return {label.lower() for page in PAGES for label in re.findall(r"^\.\. _(.+):$", page.read_text(), re.M)}


def public_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


@pytest.mark.parametrize("guide", GUIDES, ids=[guide.stem for guide in GUIDES])
def test_each_guide_shows_example_dag_code_between_markers_that_exist(guide):
    shown = list(includes(guide))
    assert shown, f"{guide.name} includes no example DAG code"
    assert not code_blocks(guide, "python"), "a guide's code is included from the example DAGs, never pasted"
    for path, options in shown:
        assert path.parent == EXAMPLES, path
        start, end = options["start-after"], options["end-before"]
        name = re.fullmatch(r"\[START (\w+)\]", start)
        assert name and end == f"[END {name[1]}]", (start, end)
        markers = [(edge, marker) for edge, marker in MARKER.findall(path.read_text()) if marker == name[1]]
        assert markers == [("START", name[1]), ("END", name[1])], f"{path.name}: {start} ... {end}"


def test_every_marked_snippet_of_the_example_dags_is_shown_in_a_guide():
    shown = {(path, options["start-after"]) for page in PAGES for path, options in includes(page)}
    for example in sorted(EXAMPLES.glob("*.py")):
        markers = MARKER.findall(example.read_text())
        starts = sorted(name for edge, name in markers if edge == "START")
        assert starts == sorted(name for edge, name in markers if edge == "END"), example.name
        for name in starts:
            assert (example, f"[START {name}]") in shown, f"{example.name}: {name} is shown nowhere"


@pytest.mark.parametrize(
    "path", DOCUMENTED_CLASSES, ids=[path.rpartition(".")[2] for path in DOCUMENTED_CLASSES]
)
def test_each_public_class_links_to_its_guide(path):
    docstring = inspect.getdoc(public_class(path)) or ""
    seealso = re.search(r"^\.\. seealso::\n((?:[ ]+.*\n?)+)", docstring, re.MULTILINE)
    assert seealso, f"{path} has no seealso"
    [label] = re.findall(r":ref:`([^`]+)`", seealso[1])
    assert label.lower() in labels(), f"{path}: no page defines {label}"


PAGES_WITH_PYTHON = [page for page in PAGES if code_blocks(page, "python")]


@pytest.mark.parametrize("page", PAGES_WITH_PYTHON, ids=[page.stem for page in PAGES_WITH_PYTHON])
def test_the_python_a_page_shows_runs(page, entity_resolution_emulator):
    for source in code_blocks(page, "python"):
        exec(compile(source, str(page), "exec"), {"__name__": "docs_example"})


def test_the_scenarios_the_testing_page_shows_load():
    scenarios = code_blocks(DOCS / "testing.rst", "json")
    assert scenarios
    for scenario in scenarios:
        EntityResolutionEmulator.from_scenario(json.loads(scenario))


def test_no_page_keeps_a_parameter_table():
    """Each parameter is described once, in its docstring, whence the API reference comes."""
    for path in [*PAGES, REPO / "README.md"]:
        assert not re.search(r"^\s*(\* - |\| )`*parameter\b", path.read_text(), re.MULTILINE), path


@pytest.mark.parametrize("name", ["RELIABILITY", "BENCHMARKS", "CHANGELOG"])
def test_the_repositorys_own_pages_are_included_not_copied(name):
    stub = DOCS / f"{name.lower()}.md"
    assert stub.read_text() == f"```{{include}} ../{name}.md\n```\n"


@pytest.mark.timeout(600)
def test_the_documentation_builds_with_every_reference_resolved(tmp_path):
    pytest.importorskip("sphinx", reason="the documentation's tools are in the newest profile only")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-E",
            "-n",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            DOCS,
            tmp_path,
        ],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert built.returncode == 0, built.stderr[-5000:]
    assert (tmp_path / "howto" / "when_busy.html").exists()
