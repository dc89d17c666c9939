"""Scenarios: an emulator built from a mapping or a JSON file, and the checks on what they declare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from emulator_clients import make_client
from resource_definitions import ID_MAPPING_DEFINITION, MATCHING_DEFINITION, ROLE, SCENARIO

from airflow_entityresolution.emulator import EntityResolutionEmulator


def test_scenario_file_declares_definitions_and_id_namespaces(tmp_path: Path) -> None:
    from airflow_entityresolution.emulator import EmulatorServer

    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))

    with EmulatorServer(EntityResolutionEmulator.from_scenario(scenario)) as server:
        client = make_client(server.endpoint_url)
        orders = client.get_id_mapping_workflow(workflowName="orders")
        job_id = client.start_id_mapping_job(workflowName="orders")["jobId"]
        people = make_client(server.endpoint_url, region="eu-west-1").get_matching_workflow(
            workflowName="people"
        )
        namespaces = client.list_id_namespaces()["idNamespaceSummaries"]

    assert orders["idMappingTechniques"] == ID_MAPPING_DEFINITION["idMappingTechniques"]
    assert job_id
    assert people["resolutionTechniques"] == MATCHING_DEFINITION["resolutionTechniques"]
    assert [(summary["idNamespaceName"], summary["type"]) for summary in namespaces] == [
        ("loyalty", "TARGET"),
        ("crm", "SOURCE"),
    ]


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"id_namespaces": {"loyalty": {"typo": 1}}}, "typo"),
        ({"id_namespaces": {"loyalty": {"definition": {"type": "BOTH"}}}}, "type"),
        ({"matching_workflows": {"people": {"definition": {"roleArn": ROLE}}}}, "inputSourceConfig"),
        ({"namespaces": {}}, "namespaces"),
    ],
)
def test_scenario_is_checked(scenario: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EntityResolutionEmulator.from_scenario(scenario)
