"""Each job operation of both kinds over HTTP: start, get, list, how a call names its workflow, paging."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.config import Config
from emulator_clients import ACCOUNT, NO_RETRIES, REGION, error_of, make_client
from job_clients import OUTPUT_SOURCE, Kind

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript


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
