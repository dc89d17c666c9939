"""
Tests of the emulator's workflow and ID namespace calls (Create, Get, List, Delete), through a
stock boto3 client over real HTTP, and of declaring those resources in Python, scenarios and the
pytest fixture.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore
import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_clients import (
    ERROR_FAULT_KINDS,
    NO_RETRIES,
    REGION,
    SERVICE_MODEL,
    client_of,
    error_of,
    make_client,
    signed_request,
)
from packaging.version import Version
from shape_check import assert_response_matches_model, error_code_of, record_raw_responses

from airflow_entityresolution.emulator import EntityResolutionEmulator, Fault, FaultKind, JobScript
from airflow_entityresolution.emulator.workflows import RESOURCE_TYPES, ResourceVerb

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/entity-resolution-workflows"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RULES = [{"ruleName": "email and phone", "matchingKeys": ["email", "phone"]}]
FAULT_KINDS = {**ERROR_FAULT_KINDS, "ValidationException": FaultKind.VALIDATION}


def glue_table(table: str) -> str:
    return f"arn:aws:glue:{REGION}:{ACCOUNT}:table/crm/{table}"


# One definition of each type, with every kind of member, that every profile's botocore can send.
ID_MAPPING_DEFINITION: dict[str, Any] = {
    "description": "Customers to the loyalty programme's IDs",
    "inputSourceConfig": [
        {"inputSourceARN": glue_table("customers"), "schemaName": "customers", "type": "SOURCE"},
        {
            "inputSourceARN": f"arn:aws:entityresolution:{REGION}:{ACCOUNT}:idnamespace/loyalty",
            "type": "TARGET",
        },
    ],
    "outputSourceConfig": [{"outputS3Path": "s3://entity-bucket/id-mapping/", "KMSArn": KMS}],
    "idMappingTechniques": {
        "idMappingType": "PROVIDER",
        "providerProperties": {
            "providerServiceArn": f"arn:aws:entityresolution:{REGION}::providerservice/LiveRamp/Assignment",
            "providerConfiguration": {"region": "eu", "limits": [1, 2]},
            "intermediateSourceConfiguration": {"intermediateS3Path": "s3://entity-bucket/intermediate/"},
        },
    },
    "roleArn": ROLE,
    "tags": {"team": "identity"},
}
MATCHING_DEFINITION: dict[str, Any] = {
    "description": "People across the CRM and the shop",
    "inputSourceConfig": [
        {"inputSourceARN": glue_table("crm_people"), "schemaName": "people", "applyNormalization": True},
        {"inputSourceARN": glue_table("shop_people"), "schemaName": "people"},
    ],
    "outputSourceConfig": [
        {
            "outputS3Path": "s3://entity-bucket/matching/",
            "KMSArn": KMS,
            "output": [{"name": "email", "hashed": True}, {"name": "phone"}],
            "applyNormalization": False,
        }
    ],
    "resolutionTechniques": {
        "resolutionType": "RULE_MATCHING",
        "ruleBasedProperties": {"rules": RULES, "attributeMatchingModel": "MANY_TO_MANY"},
    },
    "incrementalRunConfig": {"incrementalRunType": "IMMEDIATE"},
    "roleArn": ROLE,
    "tags": {"team": "crm"},
}
ID_NAMESPACE_DEFINITION: dict[str, Any] = {
    "description": "Loyalty programme IDs",
    "type": "TARGET",
    "inputSourceConfig": [{"inputSourceARN": glue_table("loyalty"), "schemaName": "loyalty"}],
    "idMappingWorkflowProperties": [
        {
            "idMappingType": "RULE_BASED",
            "ruleBasedProperties": {
                "rules": RULES,
                "ruleDefinitionTypes": ["TARGET"],
                "attributeMatchingModel": "ONE_TO_ONE",
                "recordMatchingModels": ["ONE_SOURCE_TO_ONE_TARGET"],
            },
        }
    ],
    "roleArn": ROLE,
    "tags": {"team": "identity"},
}


@dataclass(frozen=True)
class ResourceCalls:
    """The client calls, declaration and a definition of one resource type, so one test covers all."""

    api_name: str
    name_member: str
    arn_member: str
    summaries_member: str
    declare: Callable[..., str]
    definition: dict[str, Any]

    def operation(self, verb: str) -> str:
        return f"{verb.capitalize()}{self.api_name}{'s' if verb == 'list' else ''}"

    def call(self, client: Any, verb: str, **parameters: Any) -> dict[str, Any]:
        answer: dict[str, Any] = getattr(client, xform_name(self.operation(verb)))(**parameters)
        answer.pop("ResponseMetadata", None)
        return answer

    def create(self, client: Any, name: str, **overrides: Any) -> dict[str, Any]:
        return self.call(client, "create", **{self.name_member: name, **self.definition, **overrides})

    def get(self, client: Any, name: str) -> dict[str, Any]:
        return self.call(client, "get", **{self.name_member: name})

    def delete(self, client: Any, name: str) -> dict[str, Any]:
        return self.call(client, "delete", **{self.name_member: name})

    def listed(self, client: Any, **parameters: Any) -> list[str]:
        return [
            summary[self.name_member]
            for summary in self.call(client, "list", **parameters)[self.summaries_member]
        ]

    def job_call(self, client: Any, verb: str, **parameters: Any) -> dict[str, Any]:
        """Call a workflow's job operation, such as ``StartMatchingJob``."""
        operation = f"{verb.capitalize()}{self.api_name.removesuffix('Workflow')}Job"
        answer: dict[str, Any] = getattr(client, xform_name(operation))(**parameters)
        return answer

    def arn(self, name: str, region: str = REGION) -> str:
        return f"arn:aws:entityresolution:{region}:{ACCOUNT}:{self.api_name.lower()}/{name}"

    def required_members(self) -> list[str]:
        shape = SERVICE_MODEL.operation_model(self.operation("create")).input_shape
        return [member for member in shape.required_members if member != self.name_member]


def resource_calls(emulator: EntityResolutionEmulator) -> dict[str, ResourceCalls]:
    return {
        "id_mapping_workflow": ResourceCalls(
            "IdMappingWorkflow",
            "workflowName",
            "workflowArn",
            "workflowSummaries",
            emulator.add_id_mapping_workflow,
            ID_MAPPING_DEFINITION,
        ),
        "matching_workflow": ResourceCalls(
            "MatchingWorkflow",
            "workflowName",
            "workflowArn",
            "workflowSummaries",
            emulator.add_matching_workflow,
            MATCHING_DEFINITION,
        ),
        "id_namespace": ResourceCalls(
            "IdNamespace",
            "idNamespaceName",
            "idNamespaceArn",
            "idNamespaceSummaries",
            emulator.add_id_namespace,
            ID_NAMESPACE_DEFINITION,
        ),
    }


@pytest.fixture
def emulator(entity_resolution_emulator: EntityResolutionEmulator) -> EntityResolutionEmulator:
    return entity_resolution_emulator


@pytest.fixture
def client(emulator: EntityResolutionEmulator) -> Any:
    return client_of(emulator)


@pytest.fixture
def unchecked(emulator: EntityResolutionEmulator) -> Any:
    """A client that sends what botocore's own parameter validation would refuse."""
    return client_of(emulator, NO_RETRIES.merge(Config(parameter_validation=False)))


@pytest.fixture(params=["id_mapping_workflow", "matching_workflow", "id_namespace"])
def resource(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator) -> ResourceCalls:
    return resource_calls(emulator)[request.param]


@pytest.fixture(params=["id_mapping_workflow", "matching_workflow"])
def workflow(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator) -> ResourceCalls:
    return resource_calls(emulator)[request.param]


def code_of(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def start_job(client: Any, workflow: ResourceCalls, name: str) -> str:
    return str(workflow.job_call(client, "start", workflowName=name)["jobId"])


def get_job(client: Any, workflow: ResourceCalls, name: str, job_id: str) -> dict[str, Any]:
    return workflow.job_call(client, "get", workflowName=name, jobId=job_id)


# --- create, get, list, delete -------------------------------------------------------------------


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


# --- errors ---------------------------------------------------------------------------------------


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


# --- jobs on workflows ------------------------------------------------------------------------------


def test_workflow_created_over_http_takes_scripts_then_runs_the_default_one(
    workflow: ResourceCalls, emulator: EntityResolutionEmulator, client: Any
) -> None:
    workflow.create(client, "nightly")
    emulator.script_next_jobs("nightly", JobScript.failed("Input table not found", running_seconds=0.0))

    scripted = start_job(client, workflow, "nightly")
    failed = get_job(client, workflow, "nightly", scripted)
    default = start_job(client, workflow, "nightly")
    running = get_job(client, workflow, "nightly", default)["status"]
    time.sleep(1.1)

    assert failed["status"] == "FAILED"
    assert failed["errorDetails"]["errorMessage"] == "Input table not found"
    assert running == "RUNNING"
    assert get_job(client, workflow, "nightly", default)["status"] == "SUCCEEDED"
    assert [job.workflow_name for job in emulator.jobs()] == ["nightly", "nightly"]


def test_start_on_a_workflow_never_created_is_not_found(workflow: ResourceCalls, client: Any) -> None:
    workflow.create(client, "nightly")

    error = error_of(start_job, client=client, workflow=workflow, name="daily")

    assert code_of(error) == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "script", [JobScript(queued_seconds=60), JobScript.never_finishing()], ids=["queued", "running"]
)
def test_delete_waits_for_the_workflows_job_then_starts_are_refused(
    workflow: ResourceCalls, emulator: EntityResolutionEmulator, client: Any, script: JobScript
) -> None:
    workflow.declare("nightly", script)
    job_id = start_job(client, workflow, "nightly")

    busy = error_of(workflow.delete, client=client, name="nightly")
    emulator.finish_job(job_id)
    workflow.delete(client, "nightly")
    refused = error_of(start_job, client=client, workflow=workflow, name="nightly")
    old_job = error_of(get_job, client=client, workflow=workflow, name="nightly", job_id=job_id)

    assert code_of(busy) == "ConflictException"
    assert job_id in busy.response["Error"]["Message"]
    assert code_of(refused) == code_of(old_job) == "ResourceNotFoundException"
    assert [job.status for job in emulator.jobs()] == ["SUCCEEDED"]
    with pytest.raises(KeyError):
        emulator.script_next_jobs("nightly", JobScript())


def test_workflow_deleted_and_created_again_starts_afresh(workflow: ResourceCalls, client: Any) -> None:
    workflow.declare("nightly", JobScript.failed(running_seconds=0.0))
    workflow.delete(client, "nightly")
    workflow.create(client, "nightly")

    job_id = start_job(client, workflow, "nightly")

    assert get_job(client, workflow, "nightly", job_id)["status"] in {"RUNNING", "SUCCEEDED"}
    assert workflow.get(client, "nightly")["roleArn"] == ROLE


# --- declaring in Python, in scenarios and in the fixture -------------------------------------------


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


SCENARIO: dict[str, Any] = {
    "id_mapping_workflows": {
        "orders": {"running_seconds": 0, "definition": ID_MAPPING_DEFINITION},
    },
    "matching_workflows": {"people": {"region": "eu-west-1", "definition": MATCHING_DEFINITION}},
    "id_namespaces": {
        "loyalty": {"definition": ID_NAMESPACE_DEFINITION},
        "crm": {},
    },
}


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


@pytest.mark.parametrize("entity_resolution_scenario", [SCENARIO], ids=["mapping"])
def test_fixture_serves_a_scenario_mapping(
    entity_resolution_emulator: EntityResolutionEmulator, entity_resolution_client: Any
) -> None:
    got = entity_resolution_client.get_id_namespace(idNamespaceName="loyalty")

    assert got["type"] == "TARGET"
    assert entity_resolution_emulator.count("GetIdNamespace", "loyalty") == 1


class TestFixtureServesAScenarioFile:
    @pytest.fixture
    def entity_resolution_scenario(self, tmp_path: Path) -> Path:
        scenario = tmp_path / "scenario.json"
        scenario.write_text(json.dumps({"account_id": "210987654321", **SCENARIO}))
        return scenario

    def test_workflows_come_from_the_file(self, entity_resolution_client: Any) -> None:
        got = entity_resolution_client.get_id_mapping_workflow(workflowName="orders")

        assert (
            got["workflowArn"] == f"arn:aws:entityresolution:{REGION}:210987654321:idmappingworkflow/orders"
        )


def test_tests_create_workflows_with_the_fixture_client(
    entity_resolution_emulator: EntityResolutionEmulator, entity_resolution_client: Any
) -> None:
    entity_resolution_client.create_matching_workflow(workflowName="people", **MATCHING_DEFINITION)

    job_id = entity_resolution_client.start_matching_job(workflowName="people")["jobId"]

    assert [job.job_id for job in entity_resolution_emulator.jobs("people")] == [job_id]


# --- faults, counting, rate limit -------------------------------------------------------------------


def test_faults_hit_workflow_and_namespace_calls(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_matching_workflow("people")
    emulator.add_id_namespace("loyalty")
    emulator.add_id_namespace("crm")
    emulator.inject(
        Fault.access_denied(operation="GetMatchingWorkflow"),
        Fault.throttle(operation="GetIdNamespace", workflow_name="loyalty"),
        Fault.exceeds_limit(operation="CreateIdNamespace", quota_name="ID namespaces", quota_value=3),
        Fault.conflict(operation="DeleteMatchingWorkflow"),
    )

    denied = error_of(client.get_matching_workflow, workflowName="people")
    client.get_matching_workflow(workflowName="people")
    client.get_id_namespace(idNamespaceName="crm")
    throttled = error_of(client.get_id_namespace, idNamespaceName="loyalty")
    over_quota = error_of(client.create_id_namespace, idNamespaceName="web", type="SOURCE")
    busy = error_of(client.delete_matching_workflow, workflowName="people")

    assert code_of(denied) == "AccessDeniedException"
    assert "GetMatchingWorkflow" in denied.response["Error"]["Message"]
    assert code_of(throttled) == "ThrottlingException"
    assert (code_of(over_quota), over_quota.response["quotaName"]) == (
        "ExceedsLimitException",
        "ID namespaces",
    )
    assert code_of(busy) == "ConflictException"
    namespaces = client.list_id_namespaces()["idNamespaceSummaries"]
    assert [summary["idNamespaceName"] for summary in namespaces] == ["loyalty", "crm"]
    assert client.get_matching_workflow(workflowName="people")["workflowName"] == "people"
    assert [request.fault.kind for request in emulator.requests if request.fault] == [
        FaultKind.ACCESS_DENIED,
        FaultKind.THROTTLE,
        FaultKind.EXCEEDS_LIMIT,
        FaultKind.CONFLICT,
    ]


def test_faults_refuse_workflow_operations_the_model_does_not_allow() -> None:
    for refused in (
        lambda: Fault.conflict(operation="GetIdNamespace"),
        lambda: Fault.conflict(operation="DeleteIdNamespace"),
        lambda: Fault.exceeds_limit(operation="DeleteMatchingWorkflow"),
        lambda: Fault.not_found(operation="ListMatchingWorkflows"),
        lambda: Fault.not_found(operation="CreateIdMappingWorkflow"),
        lambda: Fault.status_override("PAUSED", operation="GetMatchingWorkflow"),
        lambda: Fault.throttle(operation="UpdateMatchingWorkflow"),
    ):
        with pytest.raises(ValueError, match="can hit"):
            refused()


def test_malformed_body_and_latency_faults_alter_a_workflow_answer(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_id_mapping_workflow("orders")
    raw = record_raw_responses(client)
    emulator.inject(
        Fault.malformed_body(operation="GetIdMappingWorkflow"),
        Fault.latency(0.3, operation="ListIdNamespaces"),
    )

    client.get_id_mapping_workflow(workflowName="orders")
    began = time.monotonic()
    client.list_id_namespaces()

    assert time.monotonic() - began >= 0.3
    assert raw[0].status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw[0].body)
    assert raw[0].body.startswith(b'{"workflowName": "orders"')


def test_reset_keeps_workflows_and_namespaces(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_id_namespace("loyalty")
    client.create_matching_workflow(workflowName="people", **MATCHING_DEFINITION)

    emulator.reset()

    assert emulator.count("CreateMatchingWorkflow", "people") == 0
    assert client.get_id_namespace(idNamespaceName="loyalty")["idNamespaceName"] == "loyalty"
    assert client.start_matching_job(workflowName="people")["jobId"]


def test_request_log_counts_workflow_calls_by_name(emulator: EntityResolutionEmulator, client: Any) -> None:
    arn = emulator.add_id_namespace("loyalty")
    client.create_matching_workflow(workflowName="people", **MATCHING_DEFINITION)
    client.get_matching_workflow(workflowName="people")
    client.get_id_namespace(idNamespaceName="loyalty")
    client.get_id_namespace(idNamespaceName=arn)
    client.list_id_namespaces()
    client.delete_matching_workflow(workflowName="people")

    assert [(request.operation, request.workflow_name) for request in emulator.requests] == [
        ("CreateMatchingWorkflow", "people"),
        ("GetMatchingWorkflow", "people"),
        ("GetIdNamespace", "loyalty"),
        ("GetIdNamespace", arn),
        ("ListIdNamespaces", None),
        ("DeleteMatchingWorkflow", "people"),
    ]
    assert emulator.count("CreateMatchingWorkflow", "people") == 1
    assert emulator.count("GetIdNamespace", "loyalty") == 2
    assert emulator.count("ListIdNamespaces") == 1
    assert emulator.requests[-1].path == "/matchingworkflows/people"


@pytest.mark.parametrize("entity_resolution_scenario", [{"rate_limit_per_second": 2}], ids=["two-per-second"])
def test_rate_limit_throttles_workflow_calls(client: Any) -> None:
    codes = []
    for _ in range(4):
        try:
            client.list_matching_workflows()
            codes.append(None)
        except ClientError as error:
            codes.append(code_of(error))

    assert codes[:2] == [None, None]
    assert "ThrottlingException" in codes[2:]


# --- every answer against the model ------------------------------------------------------------------


def test_every_workflow_and_namespace_answer_matches_the_service_model(
    emulator: EntityResolutionEmulator, client: Any, unchecked: Any
) -> None:
    raw = record_raw_responses(client)
    raw_unchecked = record_raw_responses(unchecked)
    everything = resource_calls(emulator)
    for calls in everything.values():
        calls.create(client, "first")
        calls.create(client, "second")
        calls.get(client, "first")
        calls.call(client, "list", nextToken=calls.call(client, "list", maxResults=1)["nextToken"])
        calls.delete(client, "second")
        natural_errors: list[Callable[[], Any]] = [
            lambda calls=calls: calls.get(client, "nowhere"),
            lambda calls=calls: calls.create(client, "first"),
            lambda calls=calls: calls.create(unchecked, "invalid", roleArn=7),
            lambda calls=calls: calls.call(unchecked, "list", maxResults=26),
        ]
        if "ResourceNotFoundException" in _error_codes(calls.operation("delete")):
            natural_errors.append(lambda calls=calls: calls.delete(client, "nowhere"))
        for attempt in natural_errors:
            with pytest.raises(ClientError):
                attempt()
    emulator.add_matching_workflow("busy", JobScript.never_finishing())
    client.start_matching_job(workflowName="busy")
    with pytest.raises(ClientError):
        client.delete_matching_workflow(workflowName="busy")
    for calls in everything.values():
        for verb, call in _calls_on_first(calls, client).items():
            for error_code in _error_codes(calls.operation(verb)):
                emulator.inject(
                    Fault(
                        FAULT_KINDS[error_code],
                        operation=calls.operation(verb),
                        quota_name="Workflows",
                        quota_value=1,
                    )
                )
                with pytest.raises(ClientError):
                    call()

    responses = [*raw, *raw_unchecked]
    for response in responses:
        assert_response_matches_model(response)
    operations = {
        calls.operation(verb) for calls in everything.values() for verb in ("create", "get", "list", "delete")
    }
    assert {response.operation.name for response in responses} == {*operations, "StartMatchingJob"}
    assert {error_code_of(response) for response in responses} - {None} == {
        code for operation in operations for code in _error_codes(operation)
    }
    assert {(response.operation.name, response.status) for response in responses} >= {
        (operation, 200) for operation in operations
    }


def _error_codes(operation: str) -> set[str]:
    return {shape.name for shape in SERVICE_MODEL.operation_model(operation).error_shapes}


def _calls_on_first(calls: ResourceCalls, client: Any) -> dict[str, Callable[[], Any]]:
    return {
        "create": lambda: calls.create(client, "third"),
        "get": lambda: calls.get(client, "first"),
        "list": lambda: calls.call(client, "list"),
        "delete": lambda: calls.delete(client, "first"),
    }


def test_emulated_create_members_are_the_model_members() -> None:
    """Every member this botocore knows; from 1.42.61, whose model has today's members, no other."""
    for resource_type in RESOURCE_TYPES:
        shape = SERVICE_MODEL.operation_model(resource_type.operation(ResourceVerb.CREATE)).input_shape
        model_members = set(shape.members) - {resource_type.name_member}
        emulated = resource_type.check_definition

        assert set(shape.required_members) - {resource_type.name_member} == set(emulated.required)
        assert model_members <= set(emulated.members)
        if Version(botocore.__version__) >= Version("1.42.61"):
            assert set(emulated.members) == model_members
