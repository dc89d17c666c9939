"""Declaring workflows, ID namespaces and job scripts in Python, and the checks on what is declared."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_clients import ACCOUNT, REGION, make_client
from resource_clients import ResourceCalls
from resource_definitions import ID_MAPPING_DEFINITION, MATCHING_DEFINITION

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript


def test_declared_definition_is_echoed(resource: ResourceCalls, client: Any) -> None:
    arn = resource.declare("loyalty", definition=resource.definition)

    got = resource.get(client, "loyalty")

    assert arn == resource.arn("loyalty")
    assert {member: got[member] for member in resource.definition} == resource.definition


def test_declaration_without_a_definition_gets_the_documented_default(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_id_mapping_workflow("orders")
    emulator.add_matching_workflow("people", region="eu-west-1")
    emulator.add_id_namespace("loyalty")
    role = f"arn:aws:iam::{ACCOUNT}:role/EntityResolutionWorkflowRole"

    id_mapping = client.get_id_mapping_workflow(workflowName="orders")
    matching = make_client(client.meta.endpoint_url, region="eu-west-1").get_matching_workflow(
        workflowName="people"
    )
    namespace = client.get_id_namespace(idNamespaceName="loyalty")

    assert id_mapping["inputSourceConfig"] == [
        {
            "inputSourceARN": f"arn:aws:glue:{REGION}:{ACCOUNT}:table/entity_resolution/orders",
            "schemaName": "orders",
            "type": "SOURCE",
        }
    ]
    assert id_mapping["outputSourceConfig"] == [
        {"outputS3Path": f"s3://entity-resolution-{ACCOUNT}-{REGION}/orders/"}
    ]
    assert id_mapping["idMappingTechniques"]["idMappingType"] == "RULE_BASED"
    assert matching["inputSourceConfig"][0]["inputSourceARN"] == (
        f"arn:aws:glue:eu-west-1:{ACCOUNT}:table/entity_resolution/people"
    )
    assert (
        matching["outputSourceConfig"][0]["outputS3Path"]
        == f"s3://entity-resolution-{ACCOUNT}-eu-west-1/people/"
    )
    assert matching["resolutionTechniques"]["resolutionType"] == "RULE_MATCHING"
    assert namespace["type"] == "SOURCE"
    assert namespace["inputSourceConfig"][0]["schemaName"] == "loyalty"
    assert id_mapping["roleArn"] == matching["roleArn"] == namespace["roleArn"] == role


@pytest.mark.parametrize(
    ("declare", "definition", "member"),
    [
        ("add_matching_workflow", {**MATCHING_DEFINITION, "roleArn": None}, "roleArn"),
        (
            "add_matching_workflow",
            {name: value for name, value in MATCHING_DEFINITION.items() if name != "resolutionTechniques"},
            "resolutionTechniques",
        ),
        (
            "add_id_mapping_workflow",
            {**ID_MAPPING_DEFINITION, "inputSourceConfig": [{"inputSourceARN": "customers"}]},
            r"inputSourceConfig\[0\]\.inputSourceARN",
        ),
        ("add_id_mapping_workflow", {**ID_MAPPING_DEFINITION, "workflowName": "orders"}, "workflowName"),
        ("add_id_namespace", {"type": "BOTH"}, "type"),
        ("add_id_namespace", {}, "type"),
        ("add_id_namespace", ["type", "SOURCE"], "definition"),
    ],
)
def test_declared_definition_is_checked_like_a_create(
    emulator: EntityResolutionEmulator, client: Any, declare: str, definition: Any, member: str
) -> None:
    with pytest.raises(ValueError, match=member):
        getattr(emulator, declare)("loyalty", definition=definition)

    assert client.list_matching_workflows()["workflowSummaries"] == []
    assert client.list_id_mapping_workflows()["workflowSummaries"] == []
    assert client.list_id_namespaces()["idNamespaceSummaries"] == []


def test_declaring_a_name_twice_is_refused(emulator: EntityResolutionEmulator) -> None:
    emulator.add_id_namespace("loyalty")
    emulator.add_id_namespace("loyalty", region="eu-west-1")

    with pytest.raises(ValueError, match="already declared"):
        emulator.add_id_namespace("loyalty")
    with pytest.raises(ValueError, match="1 to 255 characters"):
        emulator.add_id_namespace("team/loyalty")


def test_declarations_are_checked(emulator: EntityResolutionEmulator) -> None:
    with pytest.raises(ValueError, match="metrics"):
        emulator.add_matching_workflow("people", JobScript(metrics={"totalMappedRecords": 1}))
    with pytest.raises(ValueError, match="1 to 255 characters"):
        emulator.add_matching_workflow("team/people")
    with pytest.raises(ValueError, match="SUCCEEDED or FAILED"):
        JobScript(status="RUNNING")  # type: ignore[arg-type]
    emulator.add_id_mapping_workflow("shared")
    emulator.add_matching_workflow("shared")
    with pytest.raises(ValueError, match="kind="):
        emulator.script_next_jobs("shared", JobScript())
    emulator.script_next_jobs("shared", JobScript(), kind="matching")
