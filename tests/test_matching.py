"""Matching jobs: the hook's calls, operator, sensor and trigger, through the stock clients and dag.test().

The matching classes are the ID mapping ones with another entry of the job-kind table, so these
tests check that the entry reaches every request and message: the matching API paths, the
matching workflow-name rule (no ARN), and the same failure messages.
"""

from __future__ import annotations

import datetime

import pytest
from airflow_sdk import DAG
from conftest import FAILURE_MESSAGE, task_states, xcom_value

from airflow_entityresolution.emulator import JobScript
from airflow_entityresolution.errors import EntityResolutionJobFailedError, EntityResolutionRequestError
from airflow_entityresolution.events import event_from_state
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import MATCHING
from airflow_entityresolution.operators import EntityResolutionStartMatchingJobOperator
from airflow_entityresolution.sensors import EntityResolutionMatchingJobCompletedSensor
from airflow_entityresolution.triggers import EntityResolutionMatchingJobCompletedTrigger
from airflow_entityresolution.validation import InvalidParameterError

WORKFLOW = "customer-matching"
METRICS = {"inputRecords": 200, "totalRecordsProcessed": 200, "recordsNotProcessed": 0, "matchIDs": 57}
FAST = {"waiter_delay": 0.2, "waiter_max_attempts": 100}
START_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
ID_MAPPING_ARN = "arn:aws:entityresolution:us-east-1:123456789012:idmappingworkflow/customer-matching"


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_matching_workflow(
        WORKFLOW, JobScript.succeeded(METRICS, running_seconds=0.6)
    )
    entity_resolution_emulator.add_matching_workflow("slow-matching", JobScript.never_finishing())
    entity_resolution_emulator.add_matching_workflow(
        "failing-matching", JobScript.failed(FAILURE_MESSAGE, running_seconds=0.3)
    )
    return entity_resolution_emulator


def test_the_hook_starts_gets_and_lists_matching_jobs(emulator):
    hook = EntityResolutionHook()
    job_id = hook.start_matching_job("slow-matching")
    assert [request.operation for request in emulator.requests] == ["StartMatchingJob"]
    assert emulator.requests[0].path == "/matchingworkflows/slow-matching/jobs"
    described = hook.get_matching_job("slow-matching", job_id)
    assert described["jobId"] == job_id and described["status"] == "RUNNING"
    assert [job["jobId"] for job in hook.list_matching_jobs("slow-matching")] == [job_id]
    assert emulator.count("GetIdMappingJob") == emulator.count("StartIdMappingJob") == 0


def test_the_hook_refuses_an_arn_for_a_matching_workflow_before_any_request(emulator):
    with pytest.raises(InvalidParameterError) as refused:
        EntityResolutionHook().start_matching_job(ID_MAPPING_ARN)
    assert refused.value.parameter == "workflow_name"
    assert "no ARN form" in str(refused.value)
    assert emulator.requests == []


def test_a_missing_matching_workflow_names_the_matching_call(emulator):
    with pytest.raises(EntityResolutionRequestError) as missing:
        EntityResolutionHook().get_matching_job("no-such-workflow", "a" * 32)
    assert "GetMatchingJob" in str(missing.value)
    assert missing.value.code == "ResourceNotFoundException"


def operator_dag(dag_id: str, failures=None, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START_DATE) as dag:
        EntityResolutionStartMatchingJobOperator(
            task_id="match", retries=0, on_failure_callback=failures, **{**FAST, **kwargs}
        )
    return dag


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_the_operator_starts_a_matching_job_and_pushes_its_description_and_metrics(
    run_dag, emulator, stored_triggers, deferrable
):
    dag_run = run_dag(operator_dag(f"match_ok_{deferrable}", workflow_name=WORKFLOW, deferrable=deferrable))
    assert task_states(dag_run) == {"match": "success"}
    [job] = emulator.jobs()
    assert xcom_value(dag_run, "match") == job.job_id
    assert xcom_value(dag_run, "match", "job_description")["status"] == "SUCCEEDED"
    assert xcom_value(dag_run, "match", "metrics") == METRICS
    assert (emulator.count("StartMatchingJob"), emulator.count("StartIdMappingJob")) == (1, 0)
    deferred_to = [classpath for classpath, _ in stored_triggers()]
    expected = "airflow_entityresolution.triggers.EntityResolutionMatchingJobCompletedTrigger"
    assert deferred_to == ([expected] if deferrable else [])


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_a_failed_matching_job_fails_the_operator_with_the_service_message(
    run_dag, emulator, failures, deferrable
):
    dag_run = run_dag(
        operator_dag(
            f"match_failed_{deferrable}", failures, workflow_name="failing-matching", deferrable=deferrable
        )
    )
    assert task_states(dag_run) == {"match": "failed"}
    error = failures.exceptions["match"]
    assert isinstance(error, EntityResolutionJobFailedError)
    assert str(error).startswith("Entity Resolution matching job ")
    assert FAILURE_MESSAGE in str(error) and "'failing-matching'" in str(error)


def test_the_operator_refuses_an_arn_for_a_matching_workflow_before_any_request(run_dag, emulator, failures):
    dag_run = run_dag(operator_dag("match_arn", failures, workflow_name=ID_MAPPING_ARN))
    assert task_states(dag_run) == {"match": "failed"}
    assert isinstance(failures.exceptions["match"], InvalidParameterError)
    assert emulator.requests == []


@pytest.mark.parametrize(
    "mode",
    [pytest.param({"mode": "poke"}, id="poke"), pytest.param({"deferrable": True}, id="deferrable")],
)
def test_the_sensor_waits_for_a_matching_job(run_dag, emulator, mode):
    job_id = EntityResolutionHook().start_matching_job(WORKFLOW)
    with DAG(f"match_sensor_{next(iter(mode))}", schedule=None, start_date=START_DATE) as dag:
        EntityResolutionMatchingJobCompletedSensor(
            task_id="wait", workflow_name=WORKFLOW, job_id=job_id, poke_interval=0.3, timeout=60, **mode
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"wait": "success"}
    assert xcom_value(dag_run, "wait")["jobId"] == job_id
    assert xcom_value(dag_run, "wait", "metrics") == METRICS
    assert emulator.count("GetMatchingJob") >= 1 and emulator.count("GetIdMappingJob") == 0


async def test_the_trigger_reports_a_failed_matching_job_with_the_service_message(emulator):
    job_id = EntityResolutionHook().start_matching_job("failing-matching")
    trigger = EntityResolutionMatchingJobCompletedTrigger(
        workflow_name="failing-matching", job_id=job_id, waiter_delay=0.2, waiter_max_attempts=100
    )
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    payload = events[0].payload
    assert (payload["outcome"], payload["kind"], payload["message"]) == (
        "failed",
        MATCHING.label,
        FAILURE_MESSAGE,
    )
    assert payload == event_from_state(
        EntityResolutionHook().describe_job(MATCHING, "failing-matching", job_id)
    )


def test_the_hook_refuses_start_members_the_kind_does_not_take_before_any_request(emulator):
    with pytest.raises(InvalidParameterError) as refused:
        EntityResolutionHook().start_job(MATCHING, WORKFLOW, {"jobType": "BATCH"})
    assert refused.value.parameter == "request"
    assert "StartMatchingJob" in str(refused.value) and "jobType" in str(refused.value)
    assert emulator.requests == []
