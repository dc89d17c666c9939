"""Jobs over the clock: scripted outcomes, jobs ended by hand, and the one-job-per-kind quota."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from emulator_clients import error_of, make_client
from job_clients import Kind, sleep_until

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript


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
