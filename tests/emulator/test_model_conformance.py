"""Every answer's raw body against botocore's service model, and the emulated members against the model's."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_clients import ERROR_FAULT_KINDS, NO_RETRIES, SERVICE_MODEL, error_of, make_client
from job_clients import (
    EMULATED_OPERATIONS,
    ID_MAPPING_METRICS,
    KMS_ARN,
    MATCHING_METRICS,
    MISSING_JOB_ID,
    OUTPUT_SOURCE,
)
from packaging.version import Version
from resource_clients import ResourceCalls, resource_calls
from shape_check import (
    assert_matches_shape,
    assert_response_matches_model,
    error_code_of,
    record_raw_responses,
)

from airflow_entityresolution.emulator import EntityResolutionEmulator, Fault, FaultKind, JobScript
from airflow_entityresolution.emulator.workflows import RESOURCE_TYPES, ResourceVerb
from airflow_entityresolution.jobs import JOB_KINDS

FAULT_KINDS = {**ERROR_FAULT_KINDS, "ValidationException": FaultKind.VALIDATION}


@pytest.mark.usefixtures("botocore_with_job_type")
def test_every_response_body_matches_the_service_model(
    served: Callable[..., EntityResolutionEmulator],
) -> None:
    emulator = served(concurrency="unlimited")
    assert emulator.endpoint_url is not None
    client = make_client(emulator.endpoint_url)
    unchecked = make_client(
        emulator.endpoint_url, config=NO_RETRIES.merge(Config(parameter_validation=False))
    )
    raw = record_raw_responses(client)
    raw_unchecked = record_raw_responses(unchecked)
    scripts = {
        "queued": JobScript(queued_seconds=60),
        "running": JobScript.never_finishing(),
        "succeeded": JobScript.succeeded(running_seconds=0.0),
        "failed": JobScript.failed("Input table not found", running_seconds=0.0),
    }
    for state, script in scripts.items():
        emulator.add_id_mapping_workflow(state, dataclasses.replace(script, metrics=ID_MAPPING_METRICS))
        emulator.add_matching_workflow(
            state, dataclasses.replace(script, metrics=MATCHING_METRICS, output_source_config=[OUTPUT_SOURCE])
        )
    id_mapping_ids = {
        state: client.start_id_mapping_job(
            workflowName=state, jobType="BATCH", outputSourceConfig=[{**OUTPUT_SOURCE, "KMSArn": KMS_ARN}]
        )["jobId"]
        for state in scripts
    }
    matching_ids = {state: client.start_matching_job(workflowName=state)["jobId"] for state in scripts}
    client.start_id_mapping_job(workflowName="succeeded")
    for state in scripts:
        client.get_id_mapping_job(workflowName=state, jobId=id_mapping_ids[state])
        client.get_matching_job(workflowName=state, jobId=matching_ids[state])
        client.list_id_mapping_jobs(workflowName=state, maxResults=1)
        client.list_matching_jobs(workflowName=state)
    emulator.add_id_mapping_workflow("idle")
    client.list_id_mapping_jobs(workflowName="idle")

    natural_errors: list[Callable[[], Any]] = [
        lambda: client.get_id_mapping_job(workflowName="succeeded", jobId=MISSING_JOB_ID),
        lambda: client.get_matching_job(workflowName="nowhere", jobId=MISSING_JOB_ID),
        lambda: client.get_id_mapping_job(workflowName="succeeded", jobId="Z" * 32),
        lambda: unchecked.list_matching_jobs(workflowName="succeeded", maxResults=30),
        lambda: unchecked.start_id_mapping_job(workflowName="succeeded", jobType="NIGHTLY"),
    ]
    for attempt in natural_errors:
        with pytest.raises(ClientError):
            attempt()
    for error_code, fault_kind in ERROR_FAULT_KINDS.items():
        for operation in EMULATED_OPERATIONS:
            if error_code in _error_codes(operation):
                emulator.inject(Fault(fault_kind, operation=operation, quota_name="Jobs", quota_value=1))
                with pytest.raises(ClientError):
                    _call_for(client, operation, id_mapping_ids["running"], matching_ids["running"])()

    strict = served(rate_limit_per_second=2)
    assert strict.endpoint_url is not None
    strict.add_matching_workflow("busy", JobScript.never_finishing())
    strict_client = make_client(strict.endpoint_url)
    raw_strict = record_raw_responses(strict_client)
    strict_client.start_matching_job(workflowName="busy")
    for refused in ("ConflictException", "ThrottlingException"):
        assert (
            error_of(strict_client.start_matching_job, workflowName="busy").response["Error"]["Code"]
            == refused
        )

    responses = raw + raw_unchecked + raw_strict
    for response in responses:
        assert_response_matches_model(response)
    error_codes = {error_code_of(response) for response in responses} - {None}
    operations = {response.operation.name for response in responses}
    assert error_codes == {code for operation in EMULATED_OPERATIONS for code in _error_codes(operation)}
    assert operations == set(EMULATED_OPERATIONS)
    assert {json.loads(response.body).get("status") for response in responses} >= {
        "QUEUED",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
    }


def _error_codes(operation: str) -> set[str]:
    return {shape.name for shape in SERVICE_MODEL.operation_model(operation).error_shapes}


def _call_for(client: Any, operation: str, id_mapping_job: str, matching_job: str) -> Callable[[], Any]:
    calls: dict[str, Callable[[], Any]] = {
        "StartIdMappingJob": lambda: client.start_id_mapping_job(workflowName="succeeded"),
        "GetIdMappingJob": lambda: client.get_id_mapping_job(workflowName="running", jobId=id_mapping_job),
        "ListIdMappingJobs": lambda: client.list_id_mapping_jobs(workflowName="running"),
        "StartMatchingJob": lambda: client.start_matching_job(workflowName="succeeded"),
        "GetMatchingJob": lambda: client.get_matching_job(workflowName="running", jobId=matching_job),
        "ListMatchingJobs": lambda: client.list_matching_jobs(workflowName="running"),
    }
    return calls[operation]


def test_emulated_metrics_are_the_model_members() -> None:
    """Every member this botocore knows; from 1.42.61, whose model has the service's full set, no other."""
    for kind in JOB_KINDS:
        shape = SERVICE_MODEL.operation_model(kind.get_operation).output_shape.members["metrics"]
        assert set(shape.members) <= kind.metric_names
        if Version(botocore.__version__) >= Version("1.42.61"):
            assert kind.metric_names == set(shape.members)


def test_shape_check_catches_off_model_bodies() -> None:
    output = SERVICE_MODEL.operation_model("GetIdMappingJob").output_shape
    valid = {"jobId": "a" * 32, "status": "RUNNING", "startTime": 1_700_000_000.5}
    assert_matches_shape(valid, output)
    for broken in (
        {**valid, "unexpected": 1},
        {**valid, "status": "PAUSED"},
        {**valid, "startTime": 1_700_000_000_000},
        {**valid, "startTime": "2024-01-01T00:00:00Z"},
        {key: value for key, value in valid.items() if key != "status"},
        {**valid, "outputSourceConfig": [OUTPUT_SOURCE, OUTPUT_SOURCE]},
        {**valid, "metrics": {"inputRecords": "12"}},
    ):
        with pytest.raises(AssertionError):
            assert_matches_shape(broken, output)


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
