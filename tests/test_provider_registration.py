"""
Airflow lists this package as a provider: the real ``airflow providers ...`` commands show it.

The commands run as subprocesses of the running interpreter's ``airflow``, so the same tests
check Airflow 3 (``.venv``) and Airflow 2.11 (``.venv-airflow2``), against the private
Airflow home ``conftest.py`` sets up.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from provider_classes import MODULE_SECTIONS, PUBLIC_CLASSES, dotted_paths, listed_paths

from airflow_entityresolution import __version__
from airflow_entityresolution.get_provider_info import INTEGRATION_NAME, PACKAGE_NAME, get_provider_info

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = Path(sys.executable).with_name("airflow")


def import_path(path: str) -> Any:
    """Import a module, or a module's attribute, by its dotted path."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as error:
        if error.name != path:
            raise
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def base_class(section: str) -> type:
    """The Airflow class every class of a section must extend, in the running Airflow's version."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.triggers.base import BaseTrigger
    from airflow_sdk import BaseOperator, BaseOperatorLink, BaseSensorOperator

    return {
        "hooks": AwsBaseHook,
        "operators": BaseOperator,
        "sensors": BaseSensorOperator,
        "triggers": BaseTrigger,
        "extra-links": BaseOperatorLink,
    }[section]


# The provider info itself.


def test_the_provider_info_is_valid_for_the_running_airflow() -> None:
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_the_version_has_one_source() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "airflow_entityresolution/__init__.py"
    assert get_provider_info()["versions"] == [__version__]
    assert importlib.metadata.version(PACKAGE_NAME) == __version__


def test_the_entry_point_leads_to_this_get_provider_info() -> None:
    (entry_point,) = [
        entry_point
        for entry_point in importlib.metadata.entry_points(group="apache_airflow_provider")
        if entry_point.dist is not None and entry_point.dist.name == PACKAGE_NAME
    ]
    assert entry_point.load() is get_provider_info


@pytest.mark.parametrize("path", dotted_paths(get_provider_info()))
def test_every_dotted_path_in_the_provider_info_imports(path: str) -> None:
    import_path(path)


@pytest.mark.parametrize(
    ("section", "class_path"),
    [(section, path) for section, paths in PUBLIC_CLASSES.items() for path in paths],
)
def test_each_public_class_is_registered_in_its_section(section: str, class_path: str) -> None:
    module_path, _, name = class_path.rpartition(".")
    listed = listed_paths(get_provider_info(), section)
    assert class_path in listed or module_path in listed, f"{section} lists {listed}"
    cls = getattr(importlib.import_module(module_path), name)
    assert issubclass(cls, base_class(section))


def test_the_hook_adds_no_connection_type_of_its_own() -> None:
    """Users see the Amazon provider's ``aws`` connection type only, and the hook reads it."""
    from airflow_entityresolution.hooks import EntityResolutionHook

    assert "connection-types" not in get_provider_info()
    assert EntityResolutionHook.conn_type == "aws"
    # Operators, sensors and triggers pass aws_conn_id: the hook must keep reading it, default included.
    assert EntityResolutionHook.conn_name_attr == "aws_conn_id"
    assert EntityResolutionHook.default_conn_name == "aws_default"


# What the registration must not break: users keep connecting with ordinary `aws` connections.


def test_the_hook_reads_an_ordinary_aws_connection(entity_resolution_emulator: Any) -> None:
    from airflow_entityresolution.emulator import JobScript
    from airflow_entityresolution.hooks import EntityResolutionHook

    entity_resolution_emulator.add_id_mapping_workflow("customer-id-mapping", JobScript.succeeded({}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hook = EntityResolutionHook(aws_conn_id="aws_default")
        assert hook.list_id_mapping_jobs("customer-id-mapping") == []

    assert hook.conn_config.conn_type == "aws"
    assert not [warning for warning in caught if "expected connection type" in str(warning.message)]
    assert entity_resolution_emulator.count("ListIdMappingJobs") == 1
    # AmPP tells AWS which Amazon provider version made the request; this package's own version
    # would misreport it.
    amazon_version = importlib.metadata.version("apache-airflow-providers-amazon")
    assert f"AmPP/{amazon_version}" in hook.conn.meta.config.user_agent_extra.split()


# The real `airflow providers` commands.


@pytest.fixture(scope="module")
def airflow_providers() -> Iterator[Callable[..., Any]]:
    """Run ``airflow providers <args> --output json`` once per argument list and return its parsed output."""
    outputs: dict[tuple[str, ...], Any] = {}
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}

    def run(*args: str) -> Any:
        if args not in outputs:
            completed = subprocess.run(
                [str(AIRFLOW), "providers", *args, "--output", "json"],
                capture_output=True,
                text=True,
                env=env,
                timeout=240,
            )
            assert completed.returncode == 0, completed.stderr
            outputs[args] = parse_json_output(completed.stdout)
        return outputs[args]

    yield run


def parse_json_output(stdout: str) -> Any:
    """The JSON document in a command's output; Airflow may log lines to stdout before it."""
    for line in stdout.splitlines():
        if line.startswith(("[{", "[]", "{")):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise AssertionError(f"no JSON in the command's output:\n{stdout}")


def test_providers_list_shows_the_package_at_its_version(airflow_providers: Callable[..., Any]) -> None:
    rows = [row for row in airflow_providers("list") if row["package_name"] == PACKAGE_NAME]
    assert len(rows) == 1
    assert rows[0]["version"] == __version__
    assert "Entity Resolution" in rows[0]["description"]


def test_providers_get_shows_the_version(airflow_providers: Callable[..., Any]) -> None:
    assert airflow_providers("get", PACKAGE_NAME) == [{"Provider": PACKAGE_NAME, "Version": __version__}]


def test_providers_get_full_shows_every_section(airflow_providers: Callable[..., Any]) -> None:
    (shown,) = airflow_providers("get", PACKAGE_NAME, "--full")
    info = get_provider_info()
    for section in (*MODULE_SECTIONS, "extra-links", "integrations", "versions"):
        assert shown[section] == info[section], section
    assert "connection-types" not in shown


def test_providers_hooks_shows_no_connection_type_of_this_package(
    airflow_providers: Callable[..., Any],
) -> None:
    """The connection form offers one AWS type, the Amazon provider's: none a README must warn about."""
    rows = airflow_providers("hooks")
    assert [row for row in rows if row["package_name"] == PACKAGE_NAME] == []
    assert not [row for row in rows if "entityresolution" in str(row["connection_type"]).lower()]


def test_the_aws_connection_type_stays_the_amazon_providers(airflow_providers: Callable[..., Any]) -> None:
    hooks = {row["connection_type"]: row for row in airflow_providers("hooks")}
    assert hooks["aws"]["class"] == "airflow.providers.amazon.aws.hooks.base_aws.AwsGenericHook"
    assert hooks["aws"]["package_name"] == "apache-airflow-providers-amazon"


def test_providers_triggers_lists_the_trigger_module(airflow_providers: Callable[..., Any]) -> None:
    ours = [row for row in airflow_providers("triggers") if row["package_name"] == PACKAGE_NAME]
    assert ours == [
        {
            "package_name": PACKAGE_NAME,
            "class": "airflow_entityresolution.triggers",
            "integration_name": INTEGRATION_NAME,
        }
    ]


def test_providers_links_lists_the_console_link(airflow_providers: Callable[..., Any]) -> None:
    links = [row["extra_link_class_name"] for row in airflow_providers("links")]
    assert "airflow_entityresolution.links.EntityResolutionJobLink" in links
