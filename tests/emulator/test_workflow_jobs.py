"""Jobs on workflows created and deleted over HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
from emulator_clients import error_of
from resource_clients import ResourceCalls, code_of, get_job, start_job
from resource_definitions import ROLE

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript


def test_workflow_created_over_http_takes_scripts_then_runs_the_default_one(
    workflow: ResourceCalls, emulator: EntityResolutionEmulator, client: Any
) -> None:
    workflow.create(client, "nightly")
    emulator.script_next_jobs("nightly", JobScript.failed("Input table not found", running_seconds=0.0))

    scripted = start_job(client, workflow, "nightly")
    failed = get_job(client, workflow, "nightly", scripted)
    default = start_job(client, workflow, "nightly")
    running = get_job(client, workflow, "nightly", default)["status"]
    time.sleep(1.1)

    assert failed["status"] == "FAILED"
    assert failed["errorDetails"]["errorMessage"] == "Input table not found"
    assert running == "RUNNING"
    assert get_job(client, workflow, "nightly", default)["status"] == "SUCCEEDED"
    assert [job.workflow_name for job in emulator.jobs()] == ["nightly", "nightly"]


def test_start_on_a_workflow_never_created_is_not_found(workflow: ResourceCalls, client: Any) -> None:
    workflow.create(client, "nightly")

    error = error_of(start_job, client=client, workflow=workflow, name="daily")

    assert code_of(error) == "ResourceNotFoundException"


@pytest.mark.parametrize(
    "script", [JobScript(queued_seconds=60), JobScript.never_finishing()], ids=["queued", "running"]
)
def test_delete_waits_for_the_workflows_job_then_starts_are_refused(
    workflow: ResourceCalls, emulator: EntityResolutionEmulator, client: Any, script: JobScript
) -> None:
    workflow.declare("nightly", script)
    job_id = start_job(client, workflow, "nightly")

    busy = error_of(workflow.delete, client=client, name="nightly")
    emulator.finish_job(job_id)
    workflow.delete(client, "nightly")
    refused = error_of(start_job, client=client, workflow=workflow, name="nightly")
    old_job = error_of(get_job, client=client, workflow=workflow, name="nightly", job_id=job_id)

    assert code_of(busy) == "ConflictException"
    assert job_id in busy.response["Error"]["Message"]
    assert code_of(refused) == code_of(old_job) == "ResourceNotFoundException"
    assert [job.status for job in emulator.jobs()] == ["SUCCEEDED"]
    with pytest.raises(KeyError):
        emulator.script_next_jobs("nightly", JobScript())


def test_workflow_deleted_and_created_again_starts_afresh(workflow: ResourceCalls, client: Any) -> None:
    workflow.declare("nightly", JobScript.failed(running_seconds=0.0))
    workflow.delete(client, "nightly")
    workflow.create(client, "nightly")

    job_id = start_job(client, workflow, "nightly")

    assert get_job(client, workflow, "nightly", job_id)["status"] in {"RUNNING", "SUCCEEDED"}
    assert workflow.get(client, "nightly")["roleArn"] == ROLE
