"""The operator never starts a job twice for one task instance, and handles a busy workflow as configured."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from types import SimpleNamespace

import boto3
import pytest
from airflow_sdk import DAG, get_current_context, task
from conftest import start_once_records, task_states, xcom_value

from airflow_entityresolution.emulator import Fault, JobScript
from airflow_entityresolution.errors import (
    EntityResolutionRequestError,
    EntityResolutionWorkflowBusyError,
    ErrorKind,
)
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator
from airflow_entityresolution.records import StartedJobRecord

WORKFLOW = "customer-id-mapping"
FAST = {"waiter_delay": 0.2, "waiter_max_attempts": 100, "botocore_config": {"retries": {"max_attempts": 2}}}
MODES = [pytest.param(False, id="blocking"), pytest.param(True, id="deferrable")]


def operator_dag(dag_id: str, failures=None, **operator_kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)) as dag:
        EntityResolutionStartIdMappingJobOperator(
            task_id="start",
            workflow_name=WORKFLOW,
            on_failure_callback=failures,
            **{**FAST, **operator_kwargs},
        )
    return dag


@pytest.mark.parametrize("deferrable", MODES)
def test_a_retry_takes_over_the_job_an_earlier_try_started(run_dag, entity_resolution_emulator, deferrable):
    """Try 1 starts the job and loses permission while waiting; try 2 waits for that job, not a new one."""
    entity_resolution_emulator.add_id_mapping_workflow(
        WORKFLOW, JobScript.succeeded({"inputRecords": 5}, running_seconds=2)
    )
    entity_resolution_emulator.inject(Fault.access_denied(operation="GetIdMappingJob", count=1))
    dag = operator_dag(f"retry_takes_over_{deferrable}", deferrable=deferrable, retries=1, retry_delay=0)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"start": "success"}
    [job] = entity_resolution_emulator.jobs()
    assert entity_resolution_emulator.count("StartIdMappingJob") == 1
    assert xcom_value(dag_run, "start") == job.job_id
    assert xcom_value(dag_run, "start", "job_description")["status"] == "SUCCEEDED"
    assert [r.error_code for r in entity_resolution_emulator.requests if r.fault], "try 1 really failed"
    assert start_once_records() == {}, "the record is removed once the job's outcome is known"


def test_a_failed_job_is_started_afresh_on_retry(run_dag, entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.succeeded(running_seconds=0.3))
    entity_resolution_emulator.script_next_jobs(
        WORKFLOW, JobScript.failed("first run broke", running_seconds=0.3)
    )
    dag_run = run_dag(operator_dag("retry_after_failed_job", retries=1, retry_delay=0))
    assert task_states(dag_run) == {"start": "success"}
    assert [job.status for job in entity_resolution_emulator.jobs()] == ["FAILED", "SUCCEEDED"]
    assert start_once_records() == {}


@pytest.mark.parametrize("deferrable", MODES)
def test_when_busy_wait_starts_once_the_running_job_ends(run_dag, entity_resolution_emulator, deferrable):
    emulator = entity_resolution_emulator
    emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    emulator.script_next_jobs(WORKFLOW, JobScript.never_finishing(), JobScript.succeeded(running_seconds=0.3))
    running = EntityResolutionHook().start_id_mapping_job(WORKFLOW)

    def end_the_running_job_once_a_start_is_refused() -> None:
        # Ends the job on the refusal itself, not on a timer, however slowly the run starts.
        while not any(r.error_code == "ConflictException" for r in emulator.requests):
            time.sleep(0.05)
        emulator.finish_job(running)

    ender = threading.Thread(target=end_the_running_job_once_a_start_is_refused, daemon=True)
    ender.start()
    dag_run = run_dag(operator_dag(f"busy_wait_{deferrable}", deferrable=deferrable, when_busy="wait"))
    ender.join(timeout=5)
    assert task_states(dag_run) == {"start": "success"}
    first, second = emulator.jobs()
    assert first.job_id == running
    assert xcom_value(dag_run, "start") == second.job_id
    assert second.start_time >= first.end_time


@pytest.mark.parametrize("deferrable", MODES)
def test_when_busy_fail_names_the_running_job(run_dag, entity_resolution_emulator, failures, deferrable):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    running = EntityResolutionHook().start_id_mapping_job(WORKFLOW)
    dag_run = run_dag(
        operator_dag(f"busy_fail_{deferrable}", failures, deferrable=deferrable, when_busy="fail")
    )
    assert task_states(dag_run) == {"start": "failed"}
    error = failures.exceptions["start"]
    assert isinstance(error, EntityResolutionWorkflowBusyError)
    assert f"job {running} of this workflow is RUNNING" in str(error)
    assert "ConflictException" in str(error)
    assert [job.job_id for job in entity_resolution_emulator.jobs()] == [running]


def test_an_account_quota_refusal_is_waited_out(run_dag, entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.succeeded(running_seconds=0.3))
    entity_resolution_emulator.inject(Fault.exceeds_limit(count=2, operation="StartIdMappingJob"))
    dag_run = run_dag(operator_dag("quota_wait"))
    assert task_states(dag_run) == {"start": "success"}
    assert entity_resolution_emulator.count("StartIdMappingJob") == 3
    assert len(entity_resolution_emulator.jobs()) == 1


def test_when_busy_gives_up_after_max_attempts(run_dag, entity_resolution_emulator, failures):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    EntityResolutionHook().start_id_mapping_job(WORKFLOW)
    dag_run = run_dag(operator_dag("busy_gives_up", failures, waiter_max_attempts=3, waiter_delay=0.1))
    assert task_states(dag_run) == {"start": "failed"}
    assert "busy after 3 start(s)" in str(failures.exceptions["start"])
    assert entity_resolution_emulator.count("StartIdMappingJob") == 4


def test_a_start_whose_answer_is_lost_is_not_sent_again(entity_resolution_emulator):
    """botocore would re-send a start after a read timeout; the API has no idempotency token."""
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    entity_resolution_emulator.inject(Fault.latency(2.0, operation="StartIdMappingJob"))
    hook = EntityResolutionHook(
        config={"read_timeout": 0.5, "retries": {"mode": "standard", "max_attempts": 3}}
    )
    with pytest.raises(EntityResolutionRequestError) as info:
        hook.start_id_mapping_job(WORKFLOW)
    assert info.value.kind is ErrorKind.TRANSIENT
    assert entity_resolution_emulator.count("StartIdMappingJob") == 1
    assert len(entity_resolution_emulator.jobs()) == 1, "the service did start the job"


@pytest.mark.parametrize("deferrable", MODES)
def test_the_operator_takes_the_job_a_lost_start_answer_started(
    run_dag, entity_resolution_emulator, deferrable
):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.succeeded(running_seconds=1))
    entity_resolution_emulator.inject(Fault.latency(2.0, operation="StartIdMappingJob"))
    dag = operator_dag(
        f"lost_start_answer_{deferrable}",
        deferrable=deferrable,
        botocore_config={"read_timeout": 0.5, "retries": {"mode": "standard", "max_attempts": 3}},
    )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"start": "success"}
    [job] = entity_resolution_emulator.jobs()
    assert entity_resolution_emulator.count("StartIdMappingJob") == 1
    assert xcom_value(dag_run, "start") == job.job_id


def dag_after_a_try_that_died_mid_start(dag_id: str, the_start_reached_the_service: bool) -> DAG:
    """
    A DAG whose first task leaves what a try killed during its start leaves behind: the intent
    recorded before the request and, if the request reached the service, the job it started.
    """
    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)) as dag:

        @task
        def dead_try() -> str | None:
            ti = get_current_context()["ti"]
            operator_ti = SimpleNamespace(dag_id=ti.dag_id, run_id=ti.run_id, task_id="start", map_index=-1)
            context = {"ti": operator_ti}
            now = time.time()
            record = StartedJobRecord.for_task(context, logging.getLogger(__name__))  # type: ignore[arg-type]
            record.save_intent(context, WORKFLOW, now, now + 120)  # type: ignore[arg-type]
            return (
                EntityResolutionHook().start_id_mapping_job(WORKFLOW)
                if the_start_reached_the_service
                else None
            )

        dead_try() >> EntityResolutionStartIdMappingJobOperator(
            task_id="start", workflow_name=WORKFLOW, **FAST
        )
    return dag


@pytest.mark.parametrize("reached", [True, False], ids=["start-reached-the-service", "start-lost"])
def test_a_try_that_died_during_its_start_leaves_the_next_one_a_single_job(
    run_dag, entity_resolution_emulator, reached
):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.succeeded(running_seconds=0.5))
    dag_run = run_dag(dag_after_a_try_that_died_mid_start(f"died_mid_start_{reached}", reached))
    assert task_states(dag_run) == {"dead_try": "success", "start": "success"}
    [job] = entity_resolution_emulator.jobs()
    assert entity_resolution_emulator.count("StartIdMappingJob") == 1
    assert xcom_value(dag_run, "start") == job.job_id
    if reached:
        assert xcom_value(dag_run, "dead_try") == job.job_id, "the next try took the job the dead try started"
    assert start_once_records() == {}


def test_a_throttled_start_is_a_refusal_so_a_job_another_task_starts_meanwhile_is_not_taken(
    run_dag, entity_resolution_emulator, failures
):
    """A 429 means nothing started: the job that holds the workflow at the next try is someone else's."""
    emulator = entity_resolution_emulator
    emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    emulator.inject(Fault.throttle(count=1, operation="StartIdMappingJob"))
    others: list[str] = []

    # Another task is another process: its start goes through a client of its own, never through
    # this task's hook, whose connection lookups share dag.test()'s in-process supervisor channel.
    client = boto3.client("entityresolution", endpoint_url=emulator.endpoint_url, region_name="us-east-1")

    def another_task_starts_a_job_after_the_throttled_start() -> None:
        while not any(r.error_code == "ThrottlingException" for r in emulator.requests):
            time.sleep(0.02)
        others.append(client.start_id_mapping_job(workflowName=WORKFLOW)["jobId"])

    other = threading.Thread(target=another_task_starts_a_job_after_the_throttled_start, daemon=True)
    other.start()
    # The other task's start lands during the pause between this task's tries. One attempt per try:
    # botocore's own retry would follow the 429 after a random backoff that can beat the other start.
    dag = operator_dag(
        "throttled_start_not_lost",
        failures,
        when_busy="fail",
        waiter_delay=2.0,
        retries=0,
        botocore_config={"retries": {"total_max_attempts": 1}},
    )
    dag_run = run_dag(dag)
    other.join(timeout=5)
    assert task_states(dag_run) == {"start": "failed"}
    error = failures.exceptions["start"]
    assert isinstance(error, EntityResolutionWorkflowBusyError), error
    assert f"job {others[0]} of this workflow is RUNNING" in str(error)
    assert [job.job_id for job in emulator.jobs()] == others
    assert start_once_records() == {}
