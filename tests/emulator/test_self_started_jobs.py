"""Jobs workflows start by themselves: on new data for an IMMEDIATE matching workflow, and when planned."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, JobScript, ManualClock
from emulator.emulator_clients import client_of, error_of, make_client
from emulator.job_clients import ID_MAPPING_METRICS, MATCHING_METRICS, WALL_START, Family
from emulator.resource_clients import code_of, resource_calls
from emulator.resource_definitions import MATCHING_DEFINITION

# Three arrivals of data whose jobs succeed, and two whose jobs fail.
OUTCOMES = (
    JobScript.succeeded(MATCHING_METRICS, running_seconds=1),
    JobScript.failed("Input table crm_people has no column named email", running_seconds=1),
    JobScript.succeeded(MATCHING_METRICS, running_seconds=1),
    JobScript.failed("Schema people changed while the job ran", running_seconds=1),
    JobScript.succeeded(MATCHING_METRICS, running_seconds=1),
)


def at(seconds: float) -> datetime.datetime:
    """The time ``seconds`` after a manual clock's start, as botocore reads a timestamp."""
    return datetime.datetime.fromtimestamp(WALL_START + seconds, datetime.UTC)


def listed(client: Any, workflow: str) -> list[tuple[str, str, datetime.datetime]]:
    return [
        (summary["jobId"], summary["status"], summary["startTime"])
        for summary in client.list_matching_jobs(workflowName=workflow)["jobs"]
    ]


def test_new_data_starts_jobs_that_end_as_scripted(
    clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    clocked.add_matching_workflow("people", definition=MATCHING_DEFINITION)

    job_ids = []
    for script in OUTCOMES:
        job_ids.append(clocked.data_arrived("people", script))
        clock.advance(2)
    summaries = clocked_client.list_matching_jobs(workflowName="people")["jobs"]
    described = [clocked_client.get_matching_job(workflowName="people", jobId=job_id) for job_id in job_ids]

    assert [summary["jobId"] for summary in summaries] == job_ids[::-1]
    assert [(job["status"], job.get("errorDetails", {}).get("errorMessage")) for job in described] == [
        (script.status, script.error_message) for script in OUTCOMES
    ]
    assert [job["metrics"] for job in described if job["status"] == "SUCCEEDED"] == [MATCHING_METRICS] * 3
    assert [(job["startTime"], job["endTime"]) for job in described] == [
        (at(2 * index), at(2 * index + 1)) for index in range(5)
    ]
    assert [request.operation for request in clocked.requests] == ["ListMatchingJobs"] + [
        "GetMatchingJob"
    ] * 5
    assert all(snapshot.self_started for snapshot in clocked.jobs("people"))


def test_data_arriving_while_the_family_is_busy_waits_its_turn(
    clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    clocked.add_matching_workflow("people", JobScript(running_seconds=3), definition=MATCHING_DEFINITION)
    clocked.add_matching_workflow("products")
    clocked.add_id_mapping_workflow("customers")
    first = clocked.data_arrived("people")
    clock.advance(1)

    second = clocked.data_arrived("people")
    refused = error_of(clocked_client.start_matching_job, workflowName="products")
    clocked_client.start_id_mapping_job(workflowName="customers")
    while_busy = dict((job_id, status) for job_id, status, _ in listed(clocked_client, "people"))
    clock.advance(2)
    turn_came = dict((job_id, status) for job_id, status, _ in listed(clocked_client, "people"))
    clock.advance(3)
    done = clocked_client.get_matching_job(workflowName="people", jobId=second)

    assert code_of(refused) == "ConflictException" and first in refused.response["Error"]["Message"]
    assert while_busy == {first: "RUNNING", second: "QUEUED"}
    assert turn_came == {first: "SUCCEEDED", second: "RUNNING"}
    assert (done["status"], done["startTime"], done["endTime"]) == ("SUCCEEDED", at(1), at(6))


def test_without_a_quota_data_starts_a_job_at_once(
    served: Callable[..., EntityResolutionEmulator], clock: ManualClock
) -> None:
    emulator = served(clock=clock, concurrency="unlimited")
    emulator.add_matching_workflow("people", JobScript(running_seconds=3), definition=MATCHING_DEFINITION)
    emulator.data_arrived("people")
    clock.advance(1)
    emulator.data_arrived("people")

    assert [status for _, status, _ in listed(client_of(emulator), "people")] == ["RUNNING", "RUNNING"]


def test_only_an_immediate_matching_workflow_runs_on_new_data(
    clocked: EntityResolutionEmulator, clocked_client: Any
) -> None:
    clocked.add_matching_workflow("on-demand")
    clocked.add_id_mapping_workflow("customers")
    resource_calls(clocked)["matching_workflow"].create(clocked_client, "created")

    created = clocked.data_arrived("created")

    with pytest.raises(ValueError, match="IMMEDIATE"):
        clocked.data_arrived("on-demand")
    with pytest.raises(KeyError, match="customers"):
        clocked.data_arrived("customers")
    with pytest.raises(ValueError, match="totalMappedRecords"):
        clocked.data_arrived("created", JobScript.succeeded({"totalMappedRecords": 2}))
    assert [job.job_id for job in clocked.jobs()] == [created]


def test_planned_jobs_start_at_their_moments(
    clocked_family: Family, clocked: EntityResolutionEmulator, clock: ManualClock
) -> None:
    clocked_family.declare("orders", JobScript.succeeded(clocked_family.metrics, running_seconds=1))
    soon = clocked.start_job_after("orders", 2)
    later = clocked.start_job_after("orders", 5, JobScript.failed("Late data", running_seconds=1))

    def jobs() -> list[tuple[str, str, datetime.datetime]]:
        summaries = clocked_family.list(workflowName="orders")["jobs"]
        return [(summary["jobId"], summary["status"], summary["startTime"]) for summary in summaries]

    clock.advance(1.5)
    before = jobs()
    clock.advance(0.5)
    at_two = jobs()
    clock.advance(3)
    at_five = jobs()
    clock.advance(1)
    failed = clocked_family.get(workflowName="orders", jobId=later)

    assert before == []
    assert at_two == [(soon, "RUNNING", at(2))]
    assert at_five == [(later, "RUNNING", at(5)), (soon, "SUCCEEDED", at(2))]
    assert (failed["status"], failed["errorDetails"]["errorMessage"], failed["endTime"]) == (
        "FAILED",
        "Late data",
        at(6),
    )
    assert not any(request.operation.startswith("Start") for request in clocked.requests if request.operation)


def test_a_job_due_while_nobody_asked_is_dated_its_moment(
    clocked_family: Family, clocked: EntityResolutionEmulator, clock: ManualClock
) -> None:
    clocked_family.declare("orders", JobScript.succeeded(clocked_family.metrics, running_seconds=1))
    first = clocked.start_job_after("orders", 2)
    second = clocked.start_job_after("orders", 2.5)
    clock.advance(60)

    summaries = clocked_family.list(workflowName="orders")["jobs"]

    assert [(summary["jobId"], summary["startTime"], summary["endTime"]) for summary in summaries] == [
        (second, at(2.5), at(4)),
        (first, at(2), at(3)),
    ]


def test_a_start_after_a_planned_moment_finds_that_job_started(
    clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    clocked.add_id_mapping_workflow("customers", JobScript(running_seconds=2))
    planned = clocked.start_job_after("customers", 1)
    clock.advance(2)

    refused = error_of(clocked_client.start_id_mapping_job, workflowName="customers")
    clock.advance(1)
    started = clocked_client.start_id_mapping_job(workflowName="customers")["jobId"]

    assert code_of(refused) == "ConflictException" and planned in refused.response["Error"]["Message"]
    assert [job.job_id for job in clocked.jobs()] == [planned, started]
    assert [job.self_started for job in clocked.jobs()] == [True, False]


def test_planned_jobs_take_the_queued_scripts_when_they_start(
    clocked: EntityResolutionEmulator, clock: ManualClock
) -> None:
    clocked.add_id_mapping_workflow("customers", JobScript.succeeded(running_seconds=0))
    clocked.start_job_after("customers", 1)
    clocked.start_job_after("customers", 2)
    clocked.script_next_jobs("customers", JobScript.failed("No input", running_seconds=0))
    clock.advance(2)

    assert [(job.status, job.error_message) for job in clocked.jobs()] == [
        ("FAILED", "No input"),
        ("SUCCEEDED", None),
    ]


def test_a_job_due_before_scripts_are_queued_took_the_script_it_had_then(
    clocked: EntityResolutionEmulator, clock: ManualClock
) -> None:
    clocked.add_id_mapping_workflow("suppliers", JobScript.succeeded(running_seconds=0))
    clocked.start_job_after("suppliers", 1)
    clock.advance(2)

    clocked.script_next_jobs("suppliers", JobScript.failed("No input", running_seconds=0))

    assert [(job.status, job.error_message) for job in clocked.jobs()] == [("SUCCEEDED", None)]


def test_a_job_due_before_the_quota_is_lifted_waited_under_it(
    clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    clocked.add_id_mapping_workflow("customers", JobScript.never_finishing())
    clocked.add_id_mapping_workflow("suppliers", JobScript.succeeded(running_seconds=0))
    clocked_client.start_id_mapping_job(workflowName="customers")
    clocked.start_job_after("suppliers", 1)
    clock.advance(2)

    clocked.concurrency = "unlimited"

    assert [job.status for job in clocked.jobs("suppliers")] == ["QUEUED"]


def test_a_deleted_workflow_or_a_reset_forgets_planned_jobs(
    clocked: EntityResolutionEmulator, clock: ManualClock, clocked_client: Any
) -> None:
    clocked.add_matching_workflow("people", definition=MATCHING_DEFINITION)
    clocked.add_matching_workflow("products")
    clocked.start_job_after("people", 1)
    clocked.start_job_after("products", 3)

    clocked_client.delete_matching_workflow(workflowName="people")
    resource_calls(clocked)["matching_workflow"].create(clocked_client, "people")
    clock.advance(2)
    after_the_delete = clocked_client.list_matching_jobs(workflowName="people")["jobs"]
    clocked.reset()
    clock.advance(2)

    assert after_the_delete == []
    assert clocked.jobs() == []


def test_a_scenario_file_plans_self_started_jobs(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "matching_workflows": {
                    "people": {
                        "definition": MATCHING_DEFINITION,
                        "running_seconds": 1,
                        "metrics": MATCHING_METRICS,
                        "self_started_jobs": [
                            {"after_seconds": 1},
                            {"after_seconds": 3, "script": {"status": "FAILED", "error_message": "Bad rows"}},
                        ],
                    }
                },
                "id_mapping_workflows": {
                    "customers": {
                        "region": "eu-west-1",
                        "self_started_jobs": [
                            {"after_seconds": 2, "script": {"metrics": ID_MAPPING_METRICS}}
                        ],
                    }
                },
            }
        )
    )
    clock = ManualClock(wall_start=WALL_START)

    with EmulatorServer(EntityResolutionEmulator.from_scenario(scenario, clock=clock)) as server:
        client = make_client(server.endpoint_url)
        clock.advance(10)
        people = client.list_matching_jobs(workflowName="people")["jobs"]
        customers = make_client(server.endpoint_url, region="eu-west-1").list_id_mapping_jobs(
            workflowName="customers"
        )["jobs"]
        failed = client.get_matching_job(workflowName="people", jobId=people[0]["jobId"])

    assert [(job["status"], job["startTime"]) for job in people] == [("FAILED", at(3)), ("SUCCEEDED", at(1))]
    assert failed["errorDetails"] == {"errorMessage": "Bad rows"}
    assert [(job["status"], job["startTime"]) for job in customers] == [("SUCCEEDED", at(2))]


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ({"after_seconds": -1}, "after_seconds"),
        ({"after_seconds": "2"}, "after_seconds"),
        ({"after_seconds": True}, "after_seconds"),
        ({"script": {}}, "after_seconds"),
        ({"after_seconds": 1, "when": "later"}, "when"),
        ({"after_seconds": 1, "script": {"status": "RUNNING"}}, "RUNNING"),
        ({"after_seconds": 1, "script": {"metrics": {"matchIDs": 1}}}, "matchIDs"),
    ],
)
def test_a_scenario_s_self_started_jobs_are_checked(start: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EntityResolutionEmulator.from_scenario(
            {"id_mapping_workflows": {"orders": {"self_started_jobs": [start]}}}
        )


def test_a_job_cannot_be_planned_in_the_past(clocked: EntityResolutionEmulator) -> None:
    clocked.add_id_mapping_workflow("customers")

    with pytest.raises(ValueError, match="never goes back"):
        clocked.start_job_after("customers", -1)
    with pytest.raises(KeyError, match="nowhere"):
        clocked.start_job_after("nowhere", 1)
