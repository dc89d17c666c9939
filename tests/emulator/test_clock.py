"""The manual clock: jobs, timestamps and the rate limit move only when the test advances it."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript, ManualClock
from emulator.emulator_clients import client_of, error_of
from emulator.job_clients import WALL_START, Family
from emulator.resource_clients import code_of, resource_calls


def epoch(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(WALL_START + seconds, datetime.UTC)


def test_a_manual_clock_moves_only_forward_and_only_when_told(clock: ManualClock) -> None:
    clock.advance(1.5)
    clock.advance(0)

    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-0.1)
    assert clock.monotonic() == 1.5
    assert clock.epoch_seconds() == WALL_START + 1.5
    assert clock.wall_time(0) == WALL_START


def test_a_job_on_a_manual_clock_ends_when_the_clock_says(clocked_family: Family, clock: ManualClock) -> None:
    clocked_family.declare(
        "orders", JobScript.succeeded(clocked_family.metrics, queued_seconds=1, running_seconds=2)
    )
    job_id = clocked_family.start(workflowName="orders")["jobId"]

    statuses = []
    for step in (0.5, 0.5, 1.5, 0.5):
        clock.advance(step)
        statuses.append(clocked_family.get(workflowName="orders", jobId=job_id)["status"])
    job = clocked_family.get(workflowName="orders", jobId=job_id)

    assert statuses == ["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"]
    assert (job["startTime"], job["endTime"]) == (epoch(0), epoch(3))


def test_timestamps_and_the_request_log_follow_the_clock(
    clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    clock.advance(7)
    created = resource_calls(clocked)["matching_workflow"].create(clocked_client, "people")
    clock.advance(1)
    described = clocked_client.get_matching_workflow(workflowName="people")

    assert "createdAt" not in created
    assert (described["createdAt"], described["updatedAt"]) == (epoch(7), epoch(7))
    assert [request.time for request in clocked.requests] == [WALL_START + 7, WALL_START + 8]


def test_the_rate_limit_refills_as_the_clock_advances(
    served: Callable[..., EntityResolutionEmulator], clock: ManualClock
) -> None:
    emulator = served(clock=clock, rate_limit_per_second=2)
    emulator.add_matching_workflow("people")
    client = client_of(emulator)

    burst = [client.list_matching_jobs(workflowName="people") for _ in range(2)]
    throttled = [error_of(client.list_matching_jobs, workflowName="people") for _ in range(3)]
    clock.advance(0.5)
    refilled = client.list_matching_jobs(workflowName="people")

    assert len(burst) == 2
    assert {code_of(error) for error in throttled} == {"ThrottlingException"}
    assert refilled["jobs"] == []
