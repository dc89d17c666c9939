"""
Tests of the Entity Resolution emulator through stock boto3 and aiobotocore clients over real HTTP.

The ``entity_resolution_emulator`` fixture comes from the package's pytest plugin: its
``pytest11`` entry point once the package is installed, else
``-p airflow_entityresolution.emulator.pytest_plugin``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiobotocore.session
import boto3
import botocore
import botocore.session
import pytest
from aiobotocore.config import AioConfig
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from emulator_clients import (
    ERROR_FAULT_KINDS,
    NO_RETRIES,
    REGION,
    SERVICE_MODEL,
    error_of,
    make_client,
    signed_request,
)
from packaging.version import Version
from shape_check import (
    assert_matches_shape,
    assert_response_matches_model,
    error_code_of,
    record_raw_responses,
)

from airflow_entityresolution.emulator import (
    EmulatorServer,
    EntityResolutionEmulator,
    Fault,
    JobScript,
)
from airflow_entityresolution.jobs import JOB_KINDS

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
OUTPUT_SOURCE = {
    "outputS3Path": "s3://entity-bucket/output/",
    "roleArn": "arn:aws:iam::123456789012:role/entity-resolution-writer",
}
ID_MAPPING_METRICS = {"inputRecords": 120, "totalRecordsProcessed": 118, "recordsNotProcessed": 2}
MATCHING_METRICS = {"inputRecords": 50, "totalRecordsProcessed": 50, "matchIDs": 7}
MISSING_JOB_ID = "0" * 32
KMS_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EMULATED_OPERATIONS = (
    "StartIdMappingJob",
    "GetIdMappingJob",
    "ListIdMappingJobs",
    "StartMatchingJob",
    "GetMatchingJob",
    "ListMatchingJobs",
)


@dataclass(frozen=True)
class Kind:
    """The client calls and declarations of one job kind, so one test covers both kinds."""

    label: str
    metrics: dict[str, int]
    declare: Callable[..., str]
    start: Callable[..., dict[str, Any]]
    get: Callable[..., dict[str, Any]]
    list: Callable[..., dict[str, Any]]
    list_operation: str


def kinds(emulator: EntityResolutionEmulator, client: Any) -> dict[str, Kind]:
    return {
        "id_mapping": Kind(
            "IdMapping",
            ID_MAPPING_METRICS,
            emulator.add_id_mapping_workflow,
            client.start_id_mapping_job,
            client.get_id_mapping_job,
            client.list_id_mapping_jobs,
            "list_id_mapping_jobs",
        ),
        "matching": Kind(
            "Matching",
            MATCHING_METRICS,
            emulator.add_matching_workflow,
            client.start_matching_job,
            client.get_matching_job,
            client.list_matching_jobs,
            "list_matching_jobs",
        ),
    }


@pytest.fixture
def emulator(entity_resolution_emulator: EntityResolutionEmulator) -> EntityResolutionEmulator:
    return entity_resolution_emulator


@pytest.fixture
def client(emulator: EntityResolutionEmulator) -> Any:
    assert emulator.endpoint_url is not None
    return make_client(emulator.endpoint_url)


@pytest.fixture(params=["id_mapping", "matching"])
def kind(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator, client: Any) -> Kind:
    return kinds(emulator, client)[request.param]


@pytest.fixture
def served() -> Iterator[Callable[..., EntityResolutionEmulator]]:
    """Serve emulators built with non-default options; stops them all afterwards."""
    servers: list[EmulatorServer] = []

    def serve(**options: Any) -> EntityResolutionEmulator:
        servers.append(EmulatorServer(EntityResolutionEmulator(**options)).start())
        return servers[-1].emulator

    yield serve
    for server in servers:
        server.stop()


def sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


# --- each operation of both kinds ---------------------------------------------------------


def test_start_get_and_list_a_job(kind: Kind, emulator: EntityResolutionEmulator) -> None:
    kind.declare("orders", JobScript.succeeded(kind.metrics, running_seconds=0.0))

    job_id = kind.start(workflowName="orders")["jobId"]
    job = kind.get(workflowName="orders", jobId=job_id)
    listed = kind.list(workflowName="orders")

    assert re.fullmatch("[0-9a-f]{32}", job_id)
    assert job["jobId"] == job_id and job["status"] == "SUCCEEDED"
    assert job["metrics"] == kind.metrics
    assert job["endTime"] >= job["startTime"]
    assert [(summary["jobId"], summary["status"]) for summary in listed["jobs"]] == [(job_id, "SUCCEEDED")]
    assert "nextToken" not in listed
    assert [request.operation for request in emulator.requests] == [
        f"Start{kind.label}Job",
        f"Get{kind.label}Job",
        f"List{kind.label}Jobs",
    ]


@pytest.mark.usefixtures("botocore_with_job_type")
def test_start_id_mapping_job_echoes_job_type_and_output_source(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_id_mapping_workflow("customers")

    started = client.start_id_mapping_job(
        workflowName="customers", jobType="INCREMENTAL", outputSourceConfig=[OUTPUT_SOURCE]
    )
    job = client.get_id_mapping_job(workflowName="customers", jobId=started["jobId"])

    assert started["jobType"] == job["jobType"] == "INCREMENTAL"
    assert started["outputSourceConfig"] == job["outputSourceConfig"] == [OUTPUT_SOURCE]


def test_matching_job_reports_its_workflow_output_source_and_no_job_type(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_matching_workflow("people", JobScript(output_source_config=(OUTPUT_SOURCE,)))

    started = client.start_matching_job(workflowName="people")
    job = client.get_matching_job(workflowName="people", jobId=started["jobId"])

    assert set(started) == {"jobId", "ResponseMetadata"}
    assert job["outputSourceConfig"] == [OUTPUT_SOURCE]
    assert "jobType" not in job


# --- lifecycle ------------------------------------------------------------------------------


def test_job_goes_queued_then_running_then_succeeded(kind: Kind) -> None:
    kind.declare("orders", JobScript.succeeded(kind.metrics, queued_seconds=0.4, running_seconds=0.4))
    started_at = time.monotonic()
    job_id = kind.start(workflowName="orders")["jobId"]

    queued = kind.get(workflowName="orders", jobId=job_id)
    sleep_until(started_at + 0.6)
    running = kind.get(workflowName="orders", jobId=job_id)
    sleep_until(started_at + 1.0)
    succeeded = kind.get(workflowName="orders", jobId=job_id)

    assert queued["status"] == "QUEUED"
    assert "metrics" not in queued and "endTime" not in queued
    assert running["status"] == "RUNNING"
    assert running["metrics"] == {"inputRecords": kind.metrics["inputRecords"]}
    assert "endTime" not in running
    assert succeeded["status"] == "SUCCEEDED"
    assert succeeded["metrics"] == kind.metrics
    assert "errorDetails" not in succeeded
    duration = (succeeded["endTime"] - succeeded["startTime"]).total_seconds()
    assert duration == pytest.approx(0.8, abs=0.01)


def test_failed_job_carries_error_details(kind: Kind) -> None:
    kind.declare("orders", JobScript.failed("Input table not found", running_seconds=0.2))
    job_id = kind.start(workflowName="orders")["jobId"]

    running = kind.get(workflowName="orders", jobId=job_id)
    time.sleep(0.3)
    failed = kind.get(workflowName="orders", jobId=job_id)

    assert running["status"] == "RUNNING" and "errorDetails" not in running
    assert failed["status"] == "FAILED"
    assert failed["errorDetails"] == {"errorMessage": "Input table not found"}
    assert "endTime" in failed


def test_never_finishing_job_runs_until_finished_by_hand(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_id_mapping_workflow("forever", JobScript.never_finishing())
    job_id = client.start_id_mapping_job(workflowName="forever")["jobId"]
    time.sleep(0.2)

    still_running = client.get_id_mapping_job(workflowName="forever", jobId=job_id)
    emulator.finish_job(job_id, "FAILED", "Stopped by the test")
    finished = client.get_id_mapping_job(workflowName="forever", jobId=job_id)

    assert still_running["status"] == "RUNNING"
    assert finished["status"] == "FAILED"
    assert finished["errorDetails"]["errorMessage"] == "Stopped by the test"
    with pytest.raises(ValueError, match="already ended"):
        emulator.finish_job(job_id)


def test_scripted_jobs_are_consumed_in_order_then_the_default_applies(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_matching_workflow("people", JobScript.succeeded(running_seconds=0.0))
    emulator.script_next_jobs(
        "people",
        JobScript.failed("first", running_seconds=0.0),
        JobScript.failed("second", running_seconds=0.0),
    )

    outcomes = []
    for _ in range(3):
        job_id = client.start_matching_job(workflowName="people")["jobId"]
        job = client.get_matching_job(workflowName="people", jobId=job_id)
        outcomes.append((job["status"], job.get("errorDetails", {}).get("errorMessage")))

    assert outcomes == [("FAILED", "first"), ("FAILED", "second"), ("SUCCEEDED", None)]
    assert [snapshot.status for snapshot in emulator.jobs("people")] == ["FAILED", "FAILED", "SUCCEEDED"]


# --- addressing -------------------------------------------------------------------------------


def test_id_mapping_workflow_is_addressed_by_arn(emulator: EntityResolutionEmulator, client: Any) -> None:
    arn = emulator.add_id_mapping_workflow("customers", JobScript(running_seconds=0.0))

    job_id = client.start_id_mapping_job(workflowName=arn)["jobId"]
    job = client.get_id_mapping_job(workflowName=arn, jobId=job_id)
    listed = client.list_id_mapping_jobs(workflowName=arn)

    assert arn == f"arn:aws:entityresolution:{REGION}:{ACCOUNT}:idmappingworkflow/customers"
    assert job["status"] == "SUCCEEDED"
    assert [summary["jobId"] for summary in listed["jobs"]] == [job_id]
    assert emulator.jobs("customers")[0].job_id == job_id
    assert emulator.count("GetIdMappingJob", "customers") == 1


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:entityresolution:eu-west-1:123456789012:idmappingworkflow/customers",
        "arn:aws:entityresolution:us-east-1:210987654321:idmappingworkflow/customers",
    ],
    ids=["other-region", "other-account"],
)
def test_arn_of_another_region_or_account_is_not_found(
    emulator: EntityResolutionEmulator, client: Any, arn: str
) -> None:
    emulator.add_id_mapping_workflow("customers")

    error = error_of(client.start_id_mapping_job, workflowName=arn)

    assert error.response["Error"]["Code"] == "ResourceNotFoundException"
    assert arn in error.response["Error"]["Message"]
    assert emulator.jobs() == []


def test_matching_workflows_have_no_arn_form(emulator: EntityResolutionEmulator, client: Any) -> None:
    arn = emulator.add_matching_workflow("people")

    error = error_of(client.start_matching_job, workflowName=arn)

    assert error.response["Error"]["Code"] == "ValidationException"


def test_workflow_name_with_slashes_travels_as_one_path_segment(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_id_mapping_workflow("team/customers", JobScript(running_seconds=0.0))
    emulator.add_id_mapping_workflow("b")

    job_id = client.start_id_mapping_job(workflowName="team/customers")["jobId"]
    error = error_of(client.start_id_mapping_job, workflowName="a/../b")

    assert emulator.jobs("team/customers")[0].job_id == job_id
    assert error.response["Error"]["Code"] == "ValidationException"
    assert "'a/../b'" in error.response["Error"]["Message"]
    assert [request.workflow_name for request in emulator.requests] == ["team/customers", "a/../b"]
    assert emulator.requests[1].path == "/idmappingworkflows/a%2F..%2Fb/jobs"
    assert emulator.jobs("b") == []


def test_region_comes_from_the_signature(emulator: EntityResolutionEmulator) -> None:
    assert emulator.endpoint_url is not None
    emulator.add_id_mapping_workflow("customers", region="eu-west-1")
    in_ireland = make_client(emulator.endpoint_url, region="eu-west-1")
    in_virginia = make_client(emulator.endpoint_url, region="us-east-1")

    in_ireland.start_id_mapping_job(workflowName="customers")
    error = error_of(in_virginia.start_id_mapping_job, workflowName="customers")

    assert error.response["Error"]["Code"] == "ResourceNotFoundException"
    assert [request.region for request in emulator.requests] == ["eu-west-1", "us-east-1"]
    assert emulator.jobs("customers")[0].region == "eu-west-1"


# --- pagination -------------------------------------------------------------------------------


def test_list_pages_newest_first(kind: Kind, client: Any) -> None:
    kind.declare("orders", JobScript(running_seconds=0.0))
    started = [kind.start(workflowName="orders")["jobId"] for _ in range(27)]

    first = kind.list(workflowName="orders", maxResults=10)
    second = kind.list(workflowName="orders", maxResults=10, nextToken=first["nextToken"])
    last = kind.list(workflowName="orders", maxResults=10, nextToken=second["nextToken"])
    default_page = kind.list(workflowName="orders")
    paginated = [
        summary["jobId"]
        for page in client.get_paginator(kind.list_operation).paginate(
            workflowName="orders", PaginationConfig={"PageSize": 4}
        )
        for summary in page["jobs"]
    ]

    newest_first = started[::-1]
    assert [summary["jobId"] for summary in first["jobs"] + second["jobs"] + last["jobs"]] == newest_first
    assert "nextToken" not in last
    assert len(default_page["jobs"]) == 25 and "nextToken" in default_page
    assert paginated == newest_first


def test_unknown_next_token_is_a_validation_error(kind: Kind) -> None:
    kind.declare("orders")

    error = error_of(kind.list, workflowName="orders", nextToken="not-a-token")

    assert error.response["Error"]["Code"] == "ValidationException"
    assert "nextToken" in error.response["Error"]["Message"]


@pytest.mark.parametrize("max_results", [0, 26, -1])
def test_max_results_out_of_range_is_a_validation_error(
    emulator: EntityResolutionEmulator, max_results: int
) -> None:
    assert emulator.endpoint_url is not None
    emulator.add_matching_workflow("people")
    unchecked = make_client(
        emulator.endpoint_url, config=NO_RETRIES.merge(Config(parameter_validation=False))
    )

    error = error_of(unchecked.list_matching_jobs, workflowName="people", maxResults=max_results)

    assert error.response["Error"]["Code"] == "ValidationException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "maxResults" in error.response["Error"]["Message"]


# --- errors the service answers by itself -----------------------------------------------------


def test_unknown_workflow_and_job_are_not_found(kind: Kind) -> None:
    kind.declare("orders")

    missing_workflow = error_of(kind.start, workflowName="nowhere")
    missing_job = error_of(kind.get, workflowName="orders", jobId=MISSING_JOB_ID)
    missing_list = error_of(kind.list, workflowName="nowhere")

    for error in (missing_workflow, missing_job, missing_list):
        assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "nowhere" in missing_workflow.response["Error"]["Message"]
    assert MISSING_JOB_ID in missing_job.response["Error"]["Message"]


def test_job_of_another_workflow_is_not_found(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_id_mapping_workflow("customers", JobScript(running_seconds=0.0))
    emulator.add_id_mapping_workflow("suppliers")
    job_id = client.start_id_mapping_job(workflowName="customers")["jobId"]

    error = error_of(client.get_id_mapping_job, workflowName="suppliers", jobId=job_id)

    assert error.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"workflowName": "customers", "jobId": "NOT-A-JOB-ID"}, "jobId"),
        ({"workflowName": "customers", "jobId": "A" * 32}, "jobId"),
        ({"workflowName": "bad name!", "jobId": MISSING_JOB_ID}, "workflowName"),
    ],
)
def test_invalid_get_inputs_are_validation_errors(
    emulator: EntityResolutionEmulator, client: Any, parameters: dict[str, str], named: str
) -> None:
    emulator.add_id_mapping_workflow("customers")

    error = error_of(client.get_id_mapping_job, **parameters)

    assert error.response["Error"]["Code"] == "ValidationException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert named in error.response["Error"]["Message"]


@pytest.mark.usefixtures("botocore_with_job_type")
@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"jobType": "NIGHTLY"}, "jobType"),
        ({"outputSourceConfig": [{**OUTPUT_SOURCE, "outputS3Path": "https://not-s3/"}]}, "outputS3Path"),
        ({"outputSourceConfig": [{**OUTPUT_SOURCE, "roleArn": "arn:aws:iam::1:role/x"}]}, "roleArn"),
    ],
)
def test_invalid_start_inputs_are_validation_errors(
    emulator: EntityResolutionEmulator, parameters: dict[str, Any], named: str
) -> None:
    assert emulator.endpoint_url is not None
    emulator.add_id_mapping_workflow("customers")
    unchecked = make_client(
        emulator.endpoint_url, config=NO_RETRIES.merge(Config(parameter_validation=False))
    )

    error = error_of(unchecked.start_id_mapping_job, workflowName="customers", **parameters)

    assert error.response["Error"]["Code"] == "ValidationException"
    assert named in error.response["Error"]["Message"]
    assert emulator.jobs() == []


@pytest.mark.parametrize(
    ("collection", "body", "named"),
    [
        ("idmappingworkflows", b'{"jobType": "BATCH", "priority": 1}', "priority"),
        ("matchingworkflows", b'{"jobType": "BATCH"}', "jobType"),
        ("idmappingworkflows", b'{"jobType": ', "JSON"),
    ],
    ids=["unknown-id-mapping-member", "matching-start-takes-no-body", "not-json"],
)
def test_unexpected_start_body_is_a_validation_error(
    emulator: EntityResolutionEmulator, collection: str, body: bytes, named: str
) -> None:
    assert emulator.endpoint_url is not None
    emulator.add_id_mapping_workflow("workflow")
    emulator.add_matching_workflow("workflow")

    status, headers, response_body = signed_request(
        emulator.endpoint_url, "POST", f"/{collection}/workflow/jobs", body
    )

    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert named in json.loads(response_body)["message"]
    assert emulator.jobs() == []


def test_path_no_operation_owns_is_answered_404(emulator: EntityResolutionEmulator) -> None:
    assert emulator.endpoint_url is not None

    status, headers, body = signed_request(emulator.endpoint_url, "DELETE", "/idmappingworkflows/x/jobs")

    assert status == 404
    assert headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "DELETE" in json.loads(body)["message"]
    assert emulator.requests[0].operation is None


# --- concurrency quota ------------------------------------------------------------------------


def test_second_job_of_a_kind_is_rejected_while_one_runs(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_id_mapping_workflow("customers", JobScript.never_finishing())
    emulator.add_id_mapping_workflow("suppliers")
    emulator.add_matching_workflow("people", JobScript(running_seconds=0.0))
    emulator.add_id_mapping_workflow("elsewhere", region="eu-west-1")
    assert emulator.endpoint_url is not None
    running = client.start_id_mapping_job(workflowName="customers")["jobId"]

    conflict = error_of(client.start_id_mapping_job, workflowName="suppliers")
    client.start_matching_job(workflowName="people")
    make_client(emulator.endpoint_url, region="eu-west-1").start_id_mapping_job(workflowName="elsewhere")
    emulator.finish_job(running)
    after = client.start_id_mapping_job(workflowName="suppliers")

    assert conflict.response["Error"]["Code"] == "ConflictException"
    assert conflict.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert running in conflict.response["Error"]["Message"]
    assert "customers" in conflict.response["Error"]["Message"]
    assert after["jobId"] != running
    assert [job.workflow_name for job in emulator.jobs()] == ["customers", "people", "elsewhere", "suppliers"]


def test_queued_concurrency_starts_the_next_job_when_the_earlier_ends(
    served: Callable[..., EntityResolutionEmulator],
) -> None:
    emulator = served(concurrency="queue")
    emulator.add_id_mapping_workflow("customers", JobScript.never_finishing())
    emulator.add_id_mapping_workflow("suppliers", JobScript(running_seconds=0.3))
    assert emulator.endpoint_url is not None
    client = make_client(emulator.endpoint_url)
    first = client.start_id_mapping_job(workflowName="customers")["jobId"]
    second = client.start_id_mapping_job(workflowName="suppliers")["jobId"]

    time.sleep(0.4)
    waiting = client.get_id_mapping_job(workflowName="suppliers", jobId=second)
    emulator.finish_job(first)
    released = client.get_id_mapping_job(workflowName="suppliers", jobId=second)
    time.sleep(0.4)
    done = client.get_id_mapping_job(workflowName="suppliers", jobId=second)

    assert waiting["status"] == "QUEUED"
    assert released["status"] == "RUNNING"
    assert done["status"] == "SUCCEEDED"
    assert (done["endTime"] - done["startTime"]).total_seconds() > 0.6


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        (Fault.throttle(), "ThrottlingException", 429),
        (Fault.server_error(), "InternalServerException", 500),
        (Fault.access_denied(), "AccessDeniedException", 403),
        (Fault.not_found(), "ResourceNotFoundException", 404),
        (Fault.conflict(), "ConflictException", 400),
        (
            Fault.exceeds_limit(quota_name="Concurrent ID mapping jobs", quota_value=1),
            "ExceedsLimitException",
            402,
        ),
    ],
    ids=lambda value: value.kind.value if isinstance(value, Fault) else None,
)
def test_error_fault_becomes_a_client_error_once(
    emulator: EntityResolutionEmulator, client: Any, fault: Fault, code: str, status: int
) -> None:
    emulator.add_id_mapping_workflow("customers", JobScript(running_seconds=0.0))
    emulator.inject(fault)

    error = error_of(client.start_id_mapping_job, workflowName="customers")
    client.start_id_mapping_job(workflowName="customers")

    assert error.response["Error"]["Code"] == code
    assert error.response["Error"]["Message"]
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
    assert [request.fault for request in emulator.requests] == [fault, None]
    assert len(emulator.jobs()) == 1


def test_exceeds_limit_carries_the_quota(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_matching_workflow("people")
    emulator.inject(Fault.exceeds_limit(quota_name="Concurrent matching jobs", quota_value=1))

    error = error_of(client.start_matching_job, workflowName="people")

    assert error.response["quotaName"] == "Concurrent matching jobs"
    assert error.response["quotaValue"] == 1


def test_faults_hit_only_matching_requests_first_in_first_out(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_id_mapping_workflow("customers", JobScript(running_seconds=0.0))
    emulator.add_id_mapping_workflow("suppliers", JobScript(running_seconds=0.0))
    job_id = client.start_id_mapping_job(workflowName="customers")["jobId"]
    get_fault = Fault.server_error(2, operation="GetIdMappingJob", workflow_name="customers")
    any_fault = Fault.throttle()
    emulator.inject(get_fault, any_fault)

    outcomes = []
    for call, parameters in [
        (client.list_id_mapping_jobs, {"workflowName": "suppliers"}),
        (client.get_id_mapping_job, {"workflowName": "customers", "jobId": job_id}),
        (client.list_id_mapping_jobs, {"workflowName": "customers"}),
        (client.get_id_mapping_job, {"workflowName": "customers", "jobId": job_id}),
        (client.get_id_mapping_job, {"workflowName": "customers", "jobId": job_id}),
    ]:
        try:
            call(**parameters)
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    assert outcomes == [
        "ThrottlingException",
        "InternalServerException",
        "ok",
        "InternalServerException",
        "ok",
    ]
    assert [request.fault for request in emulator.requests[1:]] == [
        any_fault,
        get_fault,
        None,
        get_fault,
        None,
    ]


def test_fault_for_every_request_stays_armed(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_matching_workflow("people")
    emulator.inject(Fault.access_denied(None, operation="ListMatchingJobs"))

    codes = [
        error_of(client.list_matching_jobs, workflowName="people").response["Error"]["Code"] for _ in range(4)
    ]
    client.start_matching_job(workflowName="people")

    assert codes == ["AccessDeniedException"] * 4
    assert emulator.count("ListMatchingJobs") == 4


def test_stock_retries_ride_over_a_transient_fault(emulator: EntityResolutionEmulator) -> None:
    assert emulator.endpoint_url is not None
    emulator.add_matching_workflow("people")
    emulator.inject(Fault.server_error(operation="ListMatchingJobs"))
    retrying = make_client(
        emulator.endpoint_url, config=Config(retries={"total_max_attempts": 2, "mode": "legacy"})
    )

    listed = retrying.list_matching_jobs(workflowName="people")

    assert listed["ResponseMetadata"]["RetryAttempts"] == 1
    assert [request.status for request in emulator.requests] == [500, 200]


def test_latency_fault_delays_an_answer_that_still_takes_effect(emulator: EntityResolutionEmulator) -> None:
    assert emulator.endpoint_url is not None
    emulator.add_matching_workflow("people", JobScript(running_seconds=0.0))
    emulator.inject(Fault.latency(0.3, count=2, operation="StartMatchingJob"))
    patient = make_client(emulator.endpoint_url)
    impatient = make_client(emulator.endpoint_url, config=NO_RETRIES.merge(Config(read_timeout=0.1)))

    began = time.monotonic()
    patient.start_matching_job(workflowName="people")
    elapsed = time.monotonic() - began
    with pytest.raises(ReadTimeoutError):
        impatient.start_matching_job(workflowName="people")
    began = time.monotonic()
    patient.start_matching_job(workflowName="people")
    undelayed = time.monotonic() - began

    assert elapsed >= 0.3
    assert undelayed < 0.2
    assert len(emulator.jobs("people")) == 3


def test_dropped_connection_is_a_connection_error(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_id_mapping_workflow("customers")
    emulator.inject(Fault.drop_connection(operation="StartIdMappingJob"))

    with pytest.raises(ConnectionClosedError):
        client.start_id_mapping_job(workflowName="customers")
    client.start_id_mapping_job(workflowName="customers")

    assert [request.status for request in emulator.requests] == [None, 200]
    assert emulator.requests[0].fault == Fault.drop_connection(operation="StartIdMappingJob")
    assert len(emulator.jobs()) == 1


def test_malformed_body_is_truncated_json(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_id_mapping_workflow("customers", JobScript(running_seconds=0.0))
    job_id = client.start_id_mapping_job(workflowName="customers")["jobId"]
    raw = record_raw_responses(client)
    emulator.inject(Fault.malformed_body(operation="GetIdMappingJob"))

    parsed = client.get_id_mapping_job(workflowName="customers", jobId=job_id)

    assert raw[0].status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw[0].body)
    assert raw[0].body.startswith(b'{"jobId": "' + job_id.encode())
    assert "status" not in parsed


def test_status_override_answers_a_status_the_model_does_not_know(
    emulator: EntityResolutionEmulator, client: Any
) -> None:
    emulator.add_matching_workflow("people", JobScript.never_finishing())
    job_id = client.start_matching_job(workflowName="people")["jobId"]
    emulator.inject(Fault.status_override("PAUSED"))

    overridden = client.get_matching_job(workflowName="people", jobId=job_id)
    listed = client.list_matching_jobs(workflowName="people")
    real = client.get_matching_job(workflowName="people", jobId=job_id)

    assert overridden["status"] == "PAUSED"
    assert listed["jobs"][0]["status"] == "RUNNING"
    assert real["status"] == "RUNNING"


def test_faults_refuse_operations_the_model_does_not_allow() -> None:
    with pytest.raises(ValueError, match="conflict"):
        Fault.conflict(operation="GetIdMappingJob")
    with pytest.raises(ValueError, match="status_override"):
        Fault.status_override("PAUSED", operation="ListMatchingJobs")
    with pytest.raises(ValueError, match="throttle"):
        Fault.throttle(operation="GetIdMappingJobs")


def test_rate_limit_throttles_a_burst(served: Callable[..., EntityResolutionEmulator]) -> None:
    emulator = served(rate_limit_per_second=5)
    emulator.add_matching_workflow("people")
    assert emulator.endpoint_url is not None
    client = make_client(emulator.endpoint_url)

    codes: list[str | None] = []
    for _ in range(12):
        try:
            client.list_matching_jobs(workflowName="people")
            codes.append(None)
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])
    time.sleep(0.4)
    client.list_matching_jobs(workflowName="people")

    assert codes[:5] == [None] * 5
    assert codes.count("ThrottlingException") >= 6
    assert set(codes) == {None, "ThrottlingException"}
    assert emulator.requests[-1].status == 200


# --- every body against the model ----------------------------------------------------------


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


# --- aiobotocore --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_aiobotocore_client_polls_over_hundreds_of_connections(
    emulator: EntityResolutionEmulator,
) -> None:
    emulator.add_matching_workflow("people", JobScript.failed("Bad schema", running_seconds=0.0))
    session = aiobotocore.session.get_session()
    async with session.create_client(
        "entityresolution",
        endpoint_url=emulator.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=AioConfig(max_pool_connections=300, retries={"total_max_attempts": 1}),
    ) as client:
        job_id = (await client.start_matching_job(workflowName="people"))["jobId"]
        jobs = await asyncio.gather(
            *(client.get_matching_job(workflowName="people", jobId=job_id) for _ in range(300))
        )
        with pytest.raises(ClientError) as missing:
            await client.get_matching_job(workflowName="people", jobId=MISSING_JOB_ID)

    assert {job["status"] for job in jobs} == {"FAILED"}
    assert jobs[0]["errorDetails"]["errorMessage"] == "Bad schema"
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert emulator.count("GetMatchingJob", "people") == 301


# --- bookkeeping, server, command line, fixture -------------------------------------------------


def test_request_log_counts_and_reset(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_id_mapping_workflow("customers", JobScript(running_seconds=0.0))
    emulator.add_id_mapping_workflow("suppliers", JobScript(running_seconds=0.0))
    job_id = client.start_id_mapping_job(workflowName="customers")["jobId"]
    client.get_id_mapping_job(workflowName="customers", jobId=job_id)
    client.list_id_mapping_jobs(workflowName="suppliers")
    emulator.inject(Fault.throttle(None))
    emulator.script_next_jobs("customers", JobScript.failed())

    counts = (
        emulator.count("GetIdMappingJob"),
        emulator.count("GetIdMappingJob", "suppliers"),
        emulator.count("ListIdMappingJobs", "suppliers"),
    )
    recorded = emulator.requests[1]
    emulator.reset()
    fresh = client.start_id_mapping_job(workflowName="customers")["jobId"]

    assert counts == (1, 0, 1)
    assert (
        recorded.operation,
        recorded.workflow_name,
        recorded.job_id,
        recorded.status,
        recorded.region,
    ) == (
        "GetIdMappingJob",
        "customers",
        job_id,
        200,
        REGION,
    )
    assert [job.job_id for job in emulator.jobs()] == [fresh]
    assert emulator.jobs()[0].status == "SUCCEEDED"
    assert len(emulator.requests) == 1


def test_request_log_keeps_the_newest_requests_and_counts_them_all(
    served: Callable[..., EntityResolutionEmulator],
) -> None:
    emulator = served(request_log_limit=3)
    emulator.add_matching_workflow("people")
    assert emulator.endpoint_url is not None
    client = make_client(emulator.endpoint_url)

    for page_size in range(1, 6):
        client.list_matching_jobs(workflowName="people", maxResults=page_size)

    assert [request.path for request in emulator.requests] == ["/matchingworkflows/people/jobs"] * 3
    assert emulator.count("ListMatchingJobs", "people") == 5


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


def test_server_stops_cleanly_while_answering(caplog: pytest.LogCaptureFixture) -> None:
    server = EmulatorServer().start()
    server.emulator.add_id_mapping_workflow("customers")
    server.emulator.inject(Fault.latency(5.0, operation="StartIdMappingJob"))
    client = make_client(server.endpoint_url)
    client.list_id_mapping_jobs(workflowName="customers")
    failures: list[BaseException] = []

    def start_a_slow_job() -> None:
        try:
            client.start_id_mapping_job(workflowName="customers")
        except Exception as error:
            failures.append(error)

    caller = threading.Thread(target=start_a_slow_job)
    caller.start()
    time.sleep(0.3)
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        server.stop()
    stopping = time.monotonic() - began
    caller.join(timeout=5)
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        gc.collect()

    assert stopping < 1.5
    assert [type(failure) for failure in failures] == [ConnectionClosedError]
    assert server.emulator.endpoint_url is None
    assert caplog.records == []
    assert [str(warning.message) for warning in leaked] == []
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", server.port), timeout=1),
    ):
        pass


def test_command_line_serves_a_scenario_until_sigterm(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "region": "eu-west-1",
                "id_mapping_workflows": {
                    "customers": {
                        "running_seconds": 0,
                        "status": "FAILED",
                        "error_message": "Input table not found",
                        "next_jobs": [{"running_seconds": 0, "metrics": {"inputRecords": 3}}],
                    }
                },
                "matching_workflows": {"people": {"region": "us-east-1", "running_seconds": None}},
            }
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_entityresolution.emulator",
            "--port",
            "0",
            "--scenario",
            str(scenario),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        banner = process.stdout.readline() if process.stdout else ""
        endpoint_url = banner.strip().rsplit(" ", 1)[-1]
        ireland = make_client(endpoint_url, region="eu-west-1")
        first = ireland.start_id_mapping_job(workflowName="customers")["jobId"]
        second = ireland.start_id_mapping_job(workflowName="customers")["jobId"]
        outcomes = [
            ireland.get_id_mapping_job(workflowName="customers", jobId=job) for job in (first, second)
        ]
        people = make_client(endpoint_url).start_matching_job(workflowName="people")
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=10)

    assert banner.startswith("Entity Resolution emulator listening on http://127.0.0.1:")
    assert int(endpoint_url.rsplit(":", 1)[-1]) > 0
    assert [job["status"] for job in outcomes] == ["SUCCEEDED", "FAILED"]
    assert outcomes[0]["metrics"] == {"inputRecords": 3}
    assert outcomes[1]["errorDetails"]["errorMessage"] == "Input table not found"
    assert people["jobId"]
    assert process.returncode == 0, errors
    assert "Traceback" not in errors


def test_fixture_points_airflow_and_boto3_at_the_emulator(emulator: EntityResolutionEmulator) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    emulator.add_matching_workflow("people")

    from_environment = boto3.client("entityresolution", endpoint_url=connection["extra"]["endpoint_url"])
    from_environment.start_matching_job(workflowName="people")
    other = json.loads(emulator.airflow_connection("aws_other", region_name="eu-west-1"))

    assert emulator.endpoint_url is not None and emulator.endpoint_url.startswith("http://127.0.0.1:")
    assert connection["conn_type"] == "aws"
    assert (connection["login"], connection["password"]) == ("testing", "testing")
    assert connection["extra"] == {"region_name": REGION, "endpoint_url": emulator.endpoint_url}
    assert (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_DEFAULT_REGION"]) == ("testing", REGION)
    assert emulator.requests[0].region == REGION
    assert other["extra"] == {"region_name": "eu-west-1", "endpoint_url": emulator.endpoint_url}


def test_entity_resolution_client_fixture_reaches_the_emulator(
    entity_resolution_emulator: EntityResolutionEmulator, entity_resolution_client: Any
) -> None:
    entity_resolution_emulator.add_id_mapping_workflow("customers")

    entity_resolution_client.start_id_mapping_job(workflowName="customers")

    assert entity_resolution_emulator.count("StartIdMappingJob", "customers") == 1
