"""The errors job calls get without a fault: unknown workflows and jobs, invalid input, unknown paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.config import Config
from emulator_clients import NO_RETRIES, error_of, make_client, signed_request
from job_clients import MISSING_JOB_ID, OUTPUT_SOURCE, Kind

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript


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
