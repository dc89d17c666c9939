"""
README.md fits on one screen and says only what is true: its quick start is the two commands,
its example DAG runs against the emulator on the Airflow it is tested with, and every page it
points to exists.
"""

from __future__ import annotations

import re

from conftest import REPO, task_states

from airflow_entityresolution.emulator import JobScript

README = (REPO / "README.md").read_text()
MOST_LINES = 100


def fenced_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def section(title: str) -> str:
    """The text of a ``## title`` section, up to the next one."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, flags=re.DOTALL | re.MULTILINE)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_the_readme_fits_on_one_screen():
    assert len(README.splitlines()) <= MOST_LINES


def test_the_quick_start_is_exactly_make_demo_and_make_test():
    [commands] = re.findall(r"```bash\n(.*?)```", section("Quick start"), flags=re.DOTALL)
    assert commands.splitlines() == ["make demo", "make test"]


def test_the_example_dag_runs_against_the_emulator(run_dag, entity_resolution_emulator):
    [source] = fenced_blocks("python")
    entity_resolution_emulator.add_id_mapping_workflow(
        "customer-id-mapping",
        JobScript.succeeded({"inputRecords": 100, "recordsNotProcessed": 1}, running_seconds=0),
    )
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(source, "README.md", "exec"), namespace)

    dag_run = run_dag(namespace["dag"])

    assert task_states(dag_run) == {"map_customer_ids": "success"}
    assert entity_resolution_emulator.count("StartIdMappingJob") == 1


def test_every_path_the_readme_names_exists():
    paths = re.findall(r"`((?:docs|example_dags)/[^`]*|[A-Z]+\.md|LICENSE)`", README)
    assert paths
    for path in paths:
        if not path.startswith("docs/_build/"):  # made by `make docs`
            assert (REPO / path).exists(), path


def test_the_readme_names_every_how_to_guide():
    guides = {path.relative_to(REPO).as_posix() for path in (REPO / "docs" / "howto").glob("*.rst")}
    named = set(re.findall(r"`(docs/howto/[^`]+\.rst)`", README))
    assert named == guides - {"docs/howto/index.rst"}


def test_the_make_targets_the_readme_names_exist():
    targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), flags=re.MULTILINE))
    named = set(re.findall(r"`make ([a-z-]+)`", README))
    assert named >= {"demo", "test", "docs"}
    assert named <= targets
