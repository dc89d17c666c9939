"""Listing jobs pages as the service does: maxResults from 1 to 25, nextToken, the newest job first."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript, ManualClock
from emulator.emulator_clients import NO_RETRIES, client_of, error_of
from emulator.job_clients import Family, families
from emulator.resource_clients import code_of
from emulator.resource_definitions import MATCHING_DEFINITION
from emulator.shape_check import assert_response_matches_model, record_raw_responses


def start_past_jobs(emulator: EntityResolutionEmulator, clock: ManualClock, count: int) -> list[str]:
    """Have ``orders`` start ``count`` jobs by itself, a second apart, each ended before the next."""
    job_ids = [emulator.start_job_after("orders", second) for second in range(1, count + 1)]
    clock.advance(count + 1)
    return job_ids


def test_sixty_past_jobs_page_in_25_25_then_10_newest_first(
    clocked_family: Family, clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    raw = record_raw_responses(clocked_client)
    clocked_family.declare("orders", JobScript.succeeded(clocked_family.metrics, running_seconds=0.5))
    job_ids = start_past_jobs(clocked, clock, 60)

    first = clocked_family.list(workflowName="orders", maxResults=25)
    second = clocked_family.list(workflowName="orders", maxResults=25, nextToken=first["nextToken"])
    third = clocked_family.list(workflowName="orders", maxResults=25, nextToken=second["nextToken"])
    pages = [first["jobs"], second["jobs"], third["jobs"]]
    summaries = [summary for page in pages for summary in page]

    assert [len(page) for page in pages] == [25, 25, 10]
    assert "nextToken" not in third
    assert [summary["jobId"] for summary in summaries] == job_ids[::-1]
    start_times = [summary["startTime"] for summary in summaries]
    assert start_times == sorted(start_times, reverse=True) and len(set(start_times)) == 60
    assert {summary["status"] for summary in summaries} == {"SUCCEEDED"}
    assert all(summary["endTime"] > summary["startTime"] for summary in summaries)
    assert len(raw) == 3
    for response in raw:
        assert_response_matches_model(response)


def test_a_list_without_max_results_answers_25_jobs_and_a_token(
    clocked_family: Family, clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    clocked_family.declare("orders", JobScript(running_seconds=0.5))
    job_ids = start_past_jobs(clocked, clock, 30)

    first = clocked_family.list(workflowName="orders")
    rest = clocked_family.list(workflowName="orders", nextToken=first["nextToken"])
    paginated = [
        summary["jobId"]
        for page in clocked_client.get_paginator(clocked_family.list_operation).paginate(
            workflowName="orders"
        )
        for summary in page["jobs"]
    ]

    assert (len(first["jobs"]), len(rest["jobs"])) == (25, 5)
    assert "nextToken" not in rest
    assert paginated == job_ids[::-1]


@pytest.mark.parametrize("max_results", [1, 25])
def test_max_results_at_either_bound_is_served(
    clocked_family: Family, clocked: EntityResolutionEmulator, clock: ManualClock, max_results: int
) -> None:
    clocked_family.declare("orders", JobScript(running_seconds=0.5))
    start_past_jobs(clocked, clock, 26)

    page = clocked_family.list(workflowName="orders", maxResults=max_results)

    assert len(page["jobs"]) == max_results and "nextToken" in page


@pytest.mark.parametrize("max_results", [0, -1, 26, 100])
@pytest.mark.parametrize("family_key", ["id_mapping", "matching"])
def test_max_results_outside_1_to_25_is_refused(
    clocked: EntityResolutionEmulator, family_key: str, max_results: int
) -> None:
    unchecked = client_of(clocked, NO_RETRIES.merge(Config(parameter_validation=False)))
    raw = record_raw_responses(unchecked)
    family = families(clocked, unchecked)[family_key]
    family.declare("orders")

    error = error_of(family.list, workflowName="orders", maxResults=max_results)

    assert code_of(error) == "ValidationException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "maxResults" in error.response["Error"]["Message"]
    assert_response_matches_model(raw[-1])


def test_a_job_started_between_pages_neither_shifts_nor_repeats_them(
    clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    clocked.add_matching_workflow("orders", JobScript(running_seconds=0.5), definition=MATCHING_DEFINITION)
    job_ids = start_past_jobs(clocked, clock, 30)

    first = clocked_client.list_matching_jobs(workflowName="orders", maxResults=25)
    arrived = clocked.data_arrived("orders")
    rest = clocked_client.list_matching_jobs(
        workflowName="orders", maxResults=25, nextToken=first["nextToken"]
    )
    fresh = clocked_client.list_matching_jobs(workflowName="orders", maxResults=1)

    assert [summary["jobId"] for summary in first["jobs"] + rest["jobs"]] == job_ids[::-1]
    assert [summary["jobId"] for summary in fresh["jobs"]] == [arrived]


def test_self_started_and_client_started_jobs_list_together_by_start_time(
    clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    raw = record_raw_responses(clocked_client)
    clocked.add_matching_workflow("orders", JobScript(running_seconds=0.5), definition=MATCHING_DEFINITION)
    oldest = clocked_client.start_matching_job(workflowName="orders")["jobId"]
    planned = clocked.start_job_after("orders", 1)
    clock.advance(2)

    newest = clocked_client.start_matching_job(workflowName="orders")["jobId"]
    summaries = clocked_client.list_matching_jobs(workflowName="orders")["jobs"]
    described = [
        clocked_client.get_matching_job(workflowName="orders", jobId=job_id) for job_id in (planned, newest)
    ]

    assert [summary["jobId"] for summary in summaries] == [newest, planned, oldest]
    assert [job["status"] for job in described] == ["SUCCEEDED", "RUNNING"]
    assert [request.operation for request in clocked.requests].count("StartMatchingJob") == 2
    for response in raw:
        assert_response_matches_model(response)
