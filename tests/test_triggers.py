"""The real trigger coroutine against the emulator: exactly one plain-JSON event per wait."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import FAILURE_MESSAGE

from airflow_entityresolution.clients import shared_async_clients
from airflow_entityresolution.emulator import Fault, JobScript
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.triggers import EntityResolutionIdMappingJobCompletedTrigger

WORKFLOW = "customer-id-mapping"
METRICS = {"inputRecords": 10, "totalRecordsProcessed": 10, "totalMappedRecords": 8}


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(
        WORKFLOW, JobScript.succeeded(METRICS, running_seconds=0.3)
    )
    entity_resolution_emulator.add_id_mapping_workflow(
        "failing", JobScript.failed(FAILURE_MESSAGE, running_seconds=0.2)
    )
    entity_resolution_emulator.add_id_mapping_workflow("forever", JobScript.never_finishing())
    return entity_resolution_emulator


def start(workflow: str) -> str:
    return EntityResolutionHook().start_id_mapping_job(workflow)


def trigger(workflow: str, job_id: str, **kwargs) -> EntityResolutionIdMappingJobCompletedTrigger:
    settings = {
        "waiter_delay": 0.1,
        "waiter_max_attempts": 100,
        "botocore_config": {"retries": {"max_attempts": 3}},
    }
    return EntityResolutionIdMappingJobCompletedTrigger(workflow, job_id, **{**settings, **kwargs})


async def events_of(trigger_: EntityResolutionIdMappingJobCompletedTrigger) -> list[dict]:
    events = [event.payload async for event in trigger_.run()]
    # The payload must survive the trip to the metadata DB and back as it is.
    assert [json.loads(json.dumps(e)) for e in events] == events
    return events


def test_serialize_round_trips_and_holds_no_secret(emulator):
    original = trigger(WORKFLOW, "0" * 32, region_name="eu-west-1", verify=False)
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_entityresolution.triggers.EntityResolutionIdMappingJobCompletedTrigger"
    assert EntityResolutionIdMappingJobCompletedTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert set(kwargs) == {
        "workflow_name", "job_id", "waiter_delay", "waiter_max_attempts",
        "aws_conn_id", "region_name", "verify", "botocore_config",
        "end_task", "max_records_not_processed", "skip_on_timeout", "skip_on_failure",
    }  # fmt: skip


async def test_a_succeeded_job_yields_one_success_event_with_the_final_description(emulator):
    job_id = start(WORKFLOW)
    events = await events_of(trigger(WORKFLOW, job_id))
    assert len(events) == 1
    event = events[0]
    assert event["outcome"] == "succeeded"
    assert (event["workflow_name"], event["job_id"], event["message"]) == (WORKFLOW, job_id, None)
    assert event["job"]["status"] == "SUCCEEDED"
    assert event["job"]["metrics"] == METRICS
    assert isinstance(event["job"]["endTime"], str)
    assert len(shared_async_clients) == 0, "the shared client is closed after the last wait"


async def test_a_failed_job_yields_one_failure_event_with_the_service_message(emulator):
    job_id = start("failing")
    [event] = await events_of(trigger("failing", job_id))
    assert event["outcome"] == "failed"
    assert event["message"] == FAILURE_MESSAGE
    assert event["job"]["errorDetails"] == {"errorMessage": FAILURE_MESSAGE}


@pytest.mark.parametrize(
    ("workflow", "outcome", "status"),
    [(WORKFLOW, "succeeded", "success"), ("failing", "failed", "error"), ("forever", "timeout", "error")],
)
async def test_events_carry_the_amazon_provider_status_convention(emulator, workflow, outcome, status):
    """Code written against the Amazon provider's triggers (``event["status"] != "success"``) reads ours."""
    job_id = start(workflow)
    [event] = await events_of(trigger(workflow, job_id, waiter_delay=0.05, waiter_max_attempts=20))
    assert (event["outcome"], event["status"]) == (outcome, status)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.access_denied, "AccessDeniedException"),
        (Fault.not_found, "ResourceNotFoundException"),
        (Fault.validation_error, "ValidationException"),
    ],
)
async def test_a_permanent_error_ends_the_wait_with_one_error_event(emulator, fault, code):
    job_id = start(WORKFLOW)
    emulator.inject(fault(operation="GetIdMappingJob"))
    [event] = await events_of(trigger(WORKFLOW, job_id))
    assert event["outcome"] == "error"
    assert code in event["message"] and job_id in event["message"]
    assert emulator.count("GetIdMappingJob") == 1


@pytest.mark.parametrize("fault", [Fault.throttle, Fault.server_error])
async def test_throttled_and_failed_polls_are_retried_and_the_wait_goes_on(emulator, fault):
    job_id = start(WORKFLOW)
    emulator.inject(fault(count=2, operation="GetIdMappingJob"))
    [event] = await events_of(trigger(WORKFLOW, job_id, waiter_max_attempts=100))
    assert event["outcome"] == "succeeded"
    assert sum(r.fault is not None for r in emulator.requests) == 2


async def test_throttling_that_never_stops_ends_the_wait_with_a_clear_error_once_its_time_is_up(emulator):
    job_id = start(WORKFLOW)
    emulator.inject(Fault.throttle(count=None, operation="GetIdMappingJob"))
    [event] = await events_of(trigger(WORKFLOW, job_id, waiter_max_attempts=10))
    assert event["outcome"] == "error"
    assert "ThrottlingException" in event["message"]
    assert "still failing after 4 attempts" in event["message"]


async def test_a_job_that_never_ends_times_out_naming_the_last_status(emulator):
    job_id = start("forever")
    [event] = await events_of(trigger("forever", job_id, waiter_delay=0.05, waiter_max_attempts=4))
    assert event["outcome"] == "timeout"
    assert "after 4 polls" in event["message"]
    assert "last status seen: RUNNING" in event["message"]


async def test_a_wait_logs_the_status_when_it_changes_not_at_every_poll(emulator, capfd):
    """In the triggerer each logged line wakes the supervisor's DB loop: an unchanged status stays quiet."""
    emulator.add_id_mapping_workflow("slow", JobScript(running_seconds=None, metrics=METRICS))
    job_id = start("slow")

    async def finish_after_five_polls() -> None:
        # Counted, not timed: a loaded machine polls less often in the same time.
        while emulator.count("GetIdMappingJob") < 5:
            await asyncio.sleep(0.01)
        emulator.finish_job(job_id)

    finisher = asyncio.create_task(finish_after_five_polls())
    [event] = await events_of(trigger("slow", job_id, waiter_delay=0.05))
    await finisher
    assert event["outcome"] == "succeeded"
    assert emulator.count("GetIdMappingJob") >= 6
    out, err = capfd.readouterr()
    statuses = [
        line.split(" is ")[1].split()[0]
        for line in (out + err).splitlines()
        if f"job {job_id} of workflow" in line and " is " in line
    ]
    assert statuses == ["RUNNING", "SUCCEEDED"]


async def test_an_unlisted_status_keeps_the_wait_going(emulator):
    job_id = start(WORKFLOW)
    emulator.inject(Fault.status_override("PAUSED", count=2, operation="GetIdMappingJob"))
    [event] = await events_of(trigger(WORKFLOW, job_id))
    assert event["outcome"] == "succeeded"


async def test_bad_input_yields_an_error_event_without_a_request(emulator):
    [event] = await events_of(trigger(WORKFLOW, "None"))
    assert event["outcome"] == "error"
    assert "Invalid job_id='None'" in event["message"]
    assert emulator.requests == []


async def test_throttled_requests_do_not_use_up_the_wait_attempts(emulator):
    """Two polls suffice for this job; six throttled requests inside them must not end the wait early."""
    job_id = start(WORKFLOW)
    emulator.inject(Fault.throttle(count=6, operation="GetIdMappingJob"))
    [event] = await events_of(
        trigger(
            WORKFLOW,
            job_id,
            waiter_delay=0.6,
            waiter_max_attempts=3,
            botocore_config={"retries": {"mode": "standard", "max_attempts": 6}},
        )
    )
    assert event["outcome"] == "succeeded"
    assert sum(r.error_code == "ThrottlingException" for r in emulator.requests) == 6
    assert emulator.count("GetIdMappingJob") >= 7
