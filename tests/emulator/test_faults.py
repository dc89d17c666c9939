"""Injected faults on job, workflow and ID namespace calls: the errors they answer, the answers they alter."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from emulator_clients import NO_RETRIES, error_of, make_client
from resource_clients import code_of
from shape_check import record_raw_responses

from airflow_entityresolution.emulator import EntityResolutionEmulator, Fault, FaultKind, JobScript


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
