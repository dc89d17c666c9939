"""EntityResolutionStartIdMappingJobOperator run by Airflow's own dag.test(), blocking and deferred."""

from __future__ import annotations

import datetime

import pytest
from airflow_sdk import DAG
from conftest import FAILURE_MESSAGE, task_states, xcom_value

from airflow_entityresolution.emulator import Fault, JobScript
from airflow_entityresolution.errors import EntityResolutionJobFailedError, EntityResolutionRequestError
from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator
from airflow_entityresolution.validation import InvalidParameterError

WORKFLOW = "customer-id-mapping"
METRICS = {"inputRecords": 100, "totalRecordsProcessed": 100, "totalMappedRecords": 97}
ROLE = "arn:aws:iam::123456789012:role/EntityResolutionJobRole"
FAST = {"waiter_delay": 0.2, "waiter_max_attempts": 100, "botocore_config": {"retries": {"max_attempts": 3}}}


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(
        WORKFLOW, JobScript.succeeded(METRICS, running_seconds=0.5)
    )
    entity_resolution_emulator.add_id_mapping_workflow(
        "failing", JobScript.failed(FAILURE_MESSAGE, running_seconds=0.3)
    )
    return entity_resolution_emulator


def one_task_dag(dag_id: str, failures=None, **operator_kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)) as dag:
        EntityResolutionStartIdMappingJobOperator(
            task_id="start", retries=0, on_failure_callback=failures, **{**FAST, **operator_kwargs}
        )
    return dag


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_a_succeeded_job_returns_its_id_and_pushes_its_description(
    run_dag, emulator, stored_triggers, deferrable
):
    dag_run = run_dag(one_task_dag(f"op_success_{deferrable}", workflow_name=WORKFLOW, deferrable=deferrable))
    assert task_states(dag_run) == {"start": "success"}
    deferred_to = [classpath for classpath, _ in stored_triggers()]
    assert deferred_to == (
        ["airflow_entityresolution.triggers.EntityResolutionIdMappingJobCompletedTrigger"]
        if deferrable
        else []
    )
    [job] = emulator.jobs()
    assert xcom_value(dag_run, "start") == job.job_id
    description = xcom_value(dag_run, "start", "job_description")
    assert description["status"] == "SUCCEEDED"
    assert description["metrics"] == METRICS
    assert isinstance(description["startTime"], str) and isinstance(description["endTime"], str)
    assert emulator.count("StartIdMappingJob") == 1


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_a_failed_job_fails_the_task_with_the_service_message(run_dag, emulator, failures, deferrable):
    dag_run = run_dag(
        one_task_dag(f"op_failed_{deferrable}", failures, workflow_name="failing", deferrable=deferrable)
    )
    assert task_states(dag_run) == {"start": "failed"}
    [job] = emulator.jobs()
    error = failures.exceptions["start"]
    assert isinstance(error, EntityResolutionJobFailedError)
    assert FAILURE_MESSAGE in str(error)
    assert job.job_id in str(error) and "'failing'" in str(error)
    assert xcom_value(dag_run, "start", "job_description")["errorDetails"]["errorMessage"] == FAILURE_MESSAGE


def test_without_waiting_the_task_ends_once_the_job_started(run_dag, emulator):
    # A job that never ends is still running when the run is over, however slowly the run went.
    emulator.add_id_mapping_workflow("endless", JobScript.never_finishing())
    dag_run = run_dag(one_task_dag("op_no_wait", workflow_name="endless", wait_for_completion=False))
    assert task_states(dag_run) == {"start": "success"}
    [job] = emulator.jobs()
    assert job.status in {"QUEUED", "RUNNING"}
    assert emulator.count("GetIdMappingJob") == 0
    assert xcom_value(dag_run, "start") == job.job_id


@pytest.mark.usefixtures("botocore_with_job_type")
def test_templated_fields_render_before_they_are_checked_and_sent(run_dag, emulator):
    dag = one_task_dag(
        "op_templated",
        workflow_name="{{ params.workflow }}",
        job_type="{{ params.job_type }}",
        output_source_config=[{"outputS3Path": "s3://out-bucket/{{ params.workflow }}/", "roleArn": ROLE}],
        wait_for_completion=False,
        params={"workflow": WORKFLOW, "job_type": "INCREMENTAL"},
    )
    assert task_states(run_dag(dag)) == {"start": "success"}
    [job] = emulator.jobs()
    assert job.workflow_name == WORKFLOW
    assert job.job_type == "INCREMENTAL"
    assert job.output_source_config == ({"outputS3Path": f"s3://out-bucket/{WORKFLOW}/", "roleArn": ROLE},)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"workflow_name": "{{ params.get('workflow', '') }}"}, "workflow_name"),
        ({"workflow_name": WORKFLOW, "job_type": "batch"}, "job_type"),
        (
            {"workflow_name": WORKFLOW, "output_source_config": {"outputS3Path": "s3://b/x"}},
            "output_source_config",
        ),
        ({"workflow_name": WORKFLOW, "waiter_max_attempts": 0}, "waiter_max_attempts"),
    ],
)
def test_bad_input_fails_the_task_before_any_request(run_dag, emulator, failures, kwargs, parameter):
    dag_run = run_dag(one_task_dag(f"op_bad_{parameter}", failures, **kwargs))
    assert task_states(dag_run) == {"start": "failed"}
    error = failures.exceptions["start"]
    assert isinstance(error, InvalidParameterError)
    assert error.parameter == parameter
    assert emulator.requests == []


def test_a_refused_start_fails_with_the_service_message_and_starts_nothing(run_dag, emulator, failures):
    emulator.inject(Fault.access_denied(operation="StartIdMappingJob"))
    dag_run = run_dag(one_task_dag("op_denied", failures, workflow_name=WORKFLOW))
    assert task_states(dag_run) == {"start": "failed"}
    error = failures.exceptions["start"]
    assert isinstance(error, EntityResolutionRequestError)
    assert "StartIdMappingJob failed for workflow 'customer-id-mapping': AccessDeniedException" in str(error)
    assert emulator.jobs() == []


def test_execute_called_outside_a_running_task_starts_once_and_says_it_keeps_no_record(
    emulator, caplog, capfd
):
    """``execute({})``, as the Amazon provider's unit tests call it: no task instance, no Variable store."""
    operator = EntityResolutionStartIdMappingJobOperator(task_id="start", workflow_name=WORKFLOW, **FAST)
    caplog.set_level("WARNING")

    job_id = operator.execute({})

    [job] = emulator.jobs()
    assert job_id == job.job_id
    assert job.status == "SUCCEEDED"
    assert emulator.count("StartIdMappingJob") == 1
    # Airflow 2 logs a task's lines through logging (and echoes them), Airflow 3 through structlog.
    logged = [record.getMessage() for record in caplog.records] or capfd.readouterr().out.splitlines()
    warnings = [message for message in logged if "outside a running Airflow task" in message]
    assert len(warnings) == 1, warnings
    assert "without the start-once record" in warnings[0]
