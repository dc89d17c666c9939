"""Create, Get, List and Delete of workflows and ID namespaces over HTTP, and the errors they answer."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest
from emulator_clients import ACCOUNT, SERVICE_MODEL, error_of, make_client, signed_request
from resource_clients import ResourceCalls, code_of, resource_calls
from resource_definitions import ID_NAMESPACE_DEFINITION, MATCHING_DEFINITION

from airflow_entityresolution.emulator import EntityResolutionEmulator


def test_create_get_list_and_delete(resource: ResourceCalls, client: Any) -> None:
    before = datetime.datetime.now(datetime.UTC)
    created = resource.create(client, "loyalty")
    got = resource.get(client, "loyalty")
    listed = resource.call(client, "list")
    deleted = resource.delete(client, "loyalty")
    missing = error_of(resource.call, client=client, verb="get", **{resource.name_member: "loyalty"})

    described = {resource.name_member: "loyalty", resource.arn_member: resource.arn("loyalty")}
    assert got == {
        **described,
        **resource.definition,
        "createdAt": got["createdAt"],
        "updatedAt": got["createdAt"],
    }
    assert before - datetime.timedelta(seconds=1) <= got["createdAt"] <= datetime.datetime.now(datetime.UTC)
    create_output = SERVICE_MODEL.operation_model(resource.operation("create")).output_shape.members
    assert created == {member: value for member, value in got.items() if member in create_output}
    summary = listed[resource.summaries_member]
    assert [entry[resource.arn_member] for entry in summary] == [resource.arn("loyalty")]
    assert summary[0]["createdAt"] == got["createdAt"]
    assert "nextToken" not in listed
    assert deleted["message"]
    assert code_of(missing) == "ResourceNotFoundException"
    assert missing.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert resource.listed(client) == []


def test_list_pages_oldest_first_and_only_the_region(resource: ResourceCalls, client: Any) -> None:
    for name in ("carol", "alice", "bob"):
        resource.declare(name)
    resource.declare("dublin", region="eu-west-1")

    first = resource.call(client, "list", maxResults=2)
    second = resource.call(client, "list", maxResults=2, nextToken=first["nextToken"])
    ireland = resource.listed(make_client(client.meta.endpoint_url, region="eu-west-1"))
    bad_token = error_of(resource.call, client=client, verb="list", nextToken="nobody")
    too_many = error_of(resource.call, client=client, verb="list", maxResults=26)

    assert [entry[resource.name_member] for entry in first[resource.summaries_member]] == ["carol", "alice"]
    assert [entry[resource.name_member] for entry in second[resource.summaries_member]] == ["bob"]
    assert "nextToken" not in second
    assert ireland == ["dublin"]
    assert code_of(bad_token) == code_of(too_many) == "ValidationException"


def test_matching_summaries_carry_the_resolution_type_and_namespaces_their_type(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_matching_workflow("people", definition=MATCHING_DEFINITION)
    emulator.add_id_namespace("loyalty", definition=ID_NAMESPACE_DEFINITION)

    matching = client.list_matching_workflows()["workflowSummaries"][0]
    namespace = client.list_id_namespaces()["idNamespaceSummaries"][0]

    assert matching["resolutionType"] == "RULE_MATCHING"
    assert namespace["type"] == "TARGET"
    assert namespace["description"] == ID_NAMESPACE_DEFINITION["description"]
    assert namespace["idMappingWorkflowProperties"] == [{"idMappingType": "RULE_BASED"}]


def test_id_namespace_is_got_by_arn_of_its_own_account_and_region(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    arn = emulator.add_id_namespace("loyalty")
    foreign = arn.replace(ACCOUNT, "210987654321")

    got = client.get_id_namespace(idNamespaceName=arn)
    missing = error_of(client.get_id_namespace, idNamespaceName=foreign)

    assert got["idNamespaceName"] == "loyalty"
    assert code_of(missing) == "ResourceNotFoundException"


def test_missing_resource_is_not_found_on_get_and_delete(resource: ResourceCalls, client: Any) -> None:
    for verb in ("get", "delete"):
        error = error_of(resource.call, client=client, verb=verb, **{resource.name_member: "nowhere"})

        assert code_of(error) == "ResourceNotFoundException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert "nowhere" in error.response["Error"]["Message"]


def test_create_of_a_name_in_use_is_a_conflict(resource: ResourceCalls, client: Any) -> None:
    arn = resource.declare("loyalty")

    error = error_of(resource.create, client=client, name="loyalty")
    kept = resource.get(client, "loyalty")

    assert code_of(error) == "ConflictException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert kept[resource.arn_member] == arn
    assert "tags" not in kept, "the declared default definition, not the refused one"


def test_create_without_a_required_member_is_a_validation_error(
    resource: ResourceCalls, unchecked: Any
) -> None:
    complete = {resource.name_member: "loyalty", **resource.definition}
    assert resource.required_members(), "the model requires members beyond the name"

    for member in [resource.name_member, *resource.required_members()]:
        without = {name: value for name, value in complete.items() if name != member}
        error = error_of(resource.call, client=unchecked, verb="create", **without)

        assert code_of(error) == "ValidationException", member
        assert member in error.response["Error"]["Message"]
    assert resource.listed(unchecked) == []


@pytest.mark.parametrize("name", ["team/people", "", "people!", "x" * 256])
def test_a_malformed_name_is_a_validation_error(resource: ResourceCalls, unchecked: Any, name: str) -> None:
    created = error_of(resource.create, client=unchecked, name=name)
    in_path = name or "a b"
    got = error_of(resource.call, client=unchecked, verb="get", **{resource.name_member: in_path})
    deleted = error_of(resource.call, client=unchecked, verb="delete", **{resource.name_member: in_path})

    # GetIdNamespace alone takes a name of the wider form [a-zA-Z_0-9-=+/]*, or an ARN.
    wider = resource.api_name == "IdNamespace" and re.fullmatch(r"[a-zA-Z0-9_\-=+/]*", in_path)
    assert code_of(created) == code_of(deleted) == "ValidationException"
    assert code_of(got) == ("ResourceNotFoundException" if wider else "ValidationException")
    assert resource.name_member in created.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("resource_key", "overrides", "member"),
    [
        (
            "id_mapping_workflow",
            {"inputSourceConfig": [{"inputSourceARN": "s3://not/a/table"}]},
            "inputSourceARN",
        ),
        ("id_mapping_workflow", {"idMappingTechniques": {"idMappingType": "FUZZY"}}, "idMappingType"),
        (
            "id_mapping_workflow",
            {"outputSourceConfig": [{"outputS3Path": "s3://b1/x"}] * 2},
            "outputSourceConfig",
        ),
        ("matching_workflow", {"inputSourceConfig": []}, "inputSourceConfig"),
        ("matching_workflow", {"roleArn": 7}, "roleArn"),
        ("matching_workflow", {"colour": "blue"}, "colour"),
        ("id_namespace", {"type": "BOTH"}, "type"),
        ("id_namespace", {"roleArn": "arn:aws:iam::1:role/x"}, "roleArn"),
        ("id_namespace", {"tags": {"": "empty key"}}, "tags"),
    ],
)
def test_create_with_an_invalid_member_is_a_validation_error(
    emulator: EntityResolutionEmulator,
    unchecked: Any,
    resource_key: str,
    overrides: dict[str, Any],
    member: str,
) -> None:
    calls = resource_calls(emulator)[resource_key]
    body = {calls.name_member: "loyalty", **calls.definition, **overrides}
    assert emulator.endpoint_url is not None

    # Sent as raw JSON: botocore cannot serialize a member its model lacks, even unvalidated.
    status, headers, answer = signed_request(
        emulator.endpoint_url, "POST", f"/{calls.api_name.lower()}s", json.dumps(body).encode()
    )

    assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert member in json.loads(answer)["message"]
    assert calls.listed(unchecked) == []
