"""
A workflow name is one percent-encoded URI path segment, whatever ``/``, ``=``, ``+`` or ``..`` it holds.

Valid names with ``/``, ``=`` and ``+`` must reach the workflow of exactly that name; names that try
to climb the path (``a/../b``) are refused by the provider before any request, and even when a stock
client sends one anyway it arrives as one segment, answered with a ValidationException about that name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.triggers import EntityResolutionIdMappingJobCompletedTrigger
from airflow_entityresolution.validation import InvalidParameterError

NAME = "team/a=b+c"
ENCODED = "team%2Fa%3Db%2Bc"
TRAVERSAL = "a/../b"
TRAVERSAL_ENCODED = "a%2F..%2Fb"
# A traversal that a router resolved would land on one of these; they must never see a request.
DECOYS = ("a", "b", "team")
CLIMBING_NAMES = ["a/../b", "../b", "a/./b", "x/../../b", "a/..", "..", ".", "a/%2E%2E/b"]
"""Names that climb or stay in the path. botocore leaves ``.`` unencoded, so ``..`` alone would go out
as a bare ``/idmappingworkflows/../jobs`` dot-segment: only the provider's own check stops it."""
REGION = "us-east-1"


@pytest.fixture
def emulator(entity_resolution_emulator: EntityResolutionEmulator) -> EntityResolutionEmulator:
    """The emulator with the slashed workflow and decoys a misrouted request would reach."""
    entity_resolution_emulator.add_id_mapping_workflow(NAME, JobScript.succeeded(running_seconds=0.3))
    for decoy in DECOYS:
        entity_resolution_emulator.add_id_mapping_workflow(decoy, JobScript.never_finishing())
    return entity_resolution_emulator


def trigger(workflow_name: str, job_id: str) -> EntityResolutionIdMappingJobCompletedTrigger:
    return EntityResolutionIdMappingJobCompletedTrigger(
        workflow_name,
        job_id,
        waiter_delay=0.1,
        waiter_max_attempts=50,
        botocore_config={"retries": {"mode": "standard", "max_attempts": 3}},
    )


def test_a_name_with_slash_equals_and_plus_reaches_its_own_workflow(
    emulator: EntityResolutionEmulator,
) -> None:
    """Start, Get and List through the hook all address ``team/a=b+c`` as one encoded segment."""
    hook = EntityResolutionHook()
    job_id = hook.start_id_mapping_job(NAME)
    job = hook.get_id_mapping_job(NAME, job_id)
    listed = hook.list_id_mapping_jobs(NAME)

    assert [(r.operation, r.method, r.path, r.workflow_name, r.status) for r in emulator.requests] == [
        ("StartIdMappingJob", "POST", f"/idmappingworkflows/{ENCODED}/jobs", NAME, 200),
        ("GetIdMappingJob", "GET", f"/idmappingworkflows/{ENCODED}/jobs/{job_id}", NAME, 200),
        ("ListIdMappingJobs", "GET", f"/idmappingworkflows/{ENCODED}/jobs", NAME, 200),
    ]
    assert [(snapshot.workflow_name, snapshot.job_id) for snapshot in emulator.jobs()] == [(NAME, job_id)]
    assert job["jobId"] == job_id
    assert [summary["jobId"] for summary in listed] == [job_id]


async def test_the_trigger_polls_the_slashed_workflow_as_one_segment(
    emulator: EntityResolutionEmulator,
) -> None:
    """aiobotocore, as the trigger uses it, encodes the name the same way and finds the job."""
    job_id = EntityResolutionHook().start_id_mapping_job(NAME)
    events = [event.payload async for event in trigger(NAME, job_id).run()]
    assert [(event["outcome"], event["workflow_name"], event["job_id"]) for event in events] == [
        ("succeeded", NAME, job_id)
    ]
    polls = [r for r in emulator.requests if r.operation == "GetIdMappingJob"]
    assert polls
    assert {(r.path, r.workflow_name, r.status) for r in polls} == {
        (f"/idmappingworkflows/{ENCODED}/jobs/{job_id}", NAME, 200)
    }


HOOK_CALLS: dict[str, Callable[[str], Any]] = {
    "start": lambda name: EntityResolutionHook().start_id_mapping_job(name),
    "get": lambda name: EntityResolutionHook().get_id_mapping_job(name, "0" * 32),
    "list": lambda name: EntityResolutionHook().list_id_mapping_jobs(name),
}


@pytest.mark.parametrize("name", CLIMBING_NAMES)
@pytest.mark.parametrize("call", sorted(HOOK_CALLS))
def test_the_provider_refuses_a_climbing_name_before_any_request(
    emulator: EntityResolutionEmulator, call: str, name: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        HOOK_CALLS[call](name)
    assert info.value.parameter == "workflow_name"
    assert f"workflow_name={name!r}" in str(info.value)
    assert emulator.requests == []


@pytest.mark.parametrize("name", CLIMBING_NAMES)
async def test_the_trigger_refuses_a_climbing_name_before_any_request(
    emulator: EntityResolutionEmulator, name: str
) -> None:
    events = [event.payload async for event in trigger(name, "0" * 32).run()]
    assert [event["outcome"] for event in events] == ["error"]
    assert f"Invalid workflow_name={name!r}" in events[0]["message"]
    assert emulator.requests == []


def stock_boto3_call(emulator: EntityResolutionEmulator, operation: str, name: str) -> ClientError:
    client = boto3.client("entityresolution", endpoint_url=emulator.endpoint_url, region_name=REGION)
    method = {"start": client.start_id_mapping_job, "list": client.list_id_mapping_jobs}.get(operation)
    kwargs = {"workflowName": name}
    if method is None:
        method, kwargs["jobId"] = client.get_id_mapping_job, "0" * 32
    with pytest.raises(ClientError) as info:
        method(**kwargs)
    return info.value


async def stock_aiobotocore_call(
    emulator: EntityResolutionEmulator, operation: str, name: str
) -> ClientError:
    async with get_session().create_client(
        "entityresolution", endpoint_url=emulator.endpoint_url, region_name=REGION
    ) as client:
        method = {"start": client.start_id_mapping_job, "list": client.list_id_mapping_jobs}.get(operation)
        kwargs = {"workflowName": name}
        if method is None:
            method, kwargs["jobId"] = client.get_id_mapping_job, "0" * 32
        with pytest.raises(ClientError) as info:
            await method(**kwargs)
        return info.value


EXPECTED_PATHS = {
    "start": ("POST", f"/idmappingworkflows/{TRAVERSAL_ENCODED}/jobs"),
    "get": ("GET", f"/idmappingworkflows/{TRAVERSAL_ENCODED}/jobs/{'0' * 32}"),
    "list": ("GET", f"/idmappingworkflows/{TRAVERSAL_ENCODED}/jobs"),
}


@pytest.mark.parametrize("client", ["boto3", "aiobotocore"])
@pytest.mark.parametrize("operation", sorted(EXPECTED_PATHS))
async def test_a_stock_client_sends_a_traversal_as_one_segment_and_gets_a_validation_error(
    emulator: EntityResolutionEmulator, operation: str, client: str
) -> None:
    """Bypassing the provider's check, ``a/../b`` still arrives as ``a%2F..%2Fb`` and is refused by name."""
    if client == "boto3":
        error = stock_boto3_call(emulator, operation, TRAVERSAL)
    else:
        error = await stock_aiobotocore_call(emulator, operation, TRAVERSAL)

    assert error.response["Error"]["Code"] == "ValidationException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert f"workflowName={TRAVERSAL!r}" in error.response["Error"]["Message"]
    [request] = emulator.requests
    assert (request.method, request.path) == EXPECTED_PATHS[operation]
    assert request.workflow_name == TRAVERSAL
    assert request.error_code == "ValidationException"
    assert emulator.jobs() == [], "no job started on the workflow the traversal points at"
