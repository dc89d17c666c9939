"""EntityResolutionIdMappingJobCompletedSensor in poke, reschedule and deferrable mode, through dag.test().

The job ID reaches the sensor through a template, from the upstream task that started the job.
"""

from __future__ import annotations

import datetime

import pytest
from airflow_sdk import DAG, task
from conftest import FAILURE_MESSAGE, finish_once_polled, task_states, xcom_value

from airflow_entityresolution.emulator import Fault, JobScript
from airflow_entityresolution.errors import EntityResolutionJobFailedError, EntityResolutionRequestError
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor
from airflow_entityresolution.validation import InvalidParameterError

WORKFLOW = "customer-id-mapping"
METRICS = {"inputRecords": 100, "totalRecordsProcessed": 100, "totalMappedRecords": 97}
MODES = [
    pytest.param({"mode": "poke"}, id="poke"),
    pytest.param({"mode": "reschedule"}, id="reschedule"),
    pytest.param({"deferrable": True}, id="deferrable"),
]


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(
        WORKFLOW, JobScript.succeeded(METRICS, running_seconds=3)
    )
    entity_resolution_emulator.add_id_mapping_workflow(
        "failing", JobScript.failed(FAILURE_MESSAGE, running_seconds=3)
    )
    return entity_resolution_emulator


def sensor_dag(
    dag_id: str,
    workflow_name: str,
    job_id: str | None = None,
    failures=None,
    timeout_override: float = 60,
    **sensor_kwargs,
) -> DAG:
    """A DAG whose sensor waits on ``job_id``, or, if ``None``, on a job its upstream task starts."""
    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)) as dag:
        sensor = EntityResolutionIdMappingJobCompletedSensor(
            task_id="wait",
            workflow_name=workflow_name,
            job_id=job_id or "{{ ti.xcom_pull(task_ids='start_job') }}",
            poke_interval=0.3,
            timeout=timeout_override,
            retries=0,
            on_failure_callback=failures,
            **sensor_kwargs,
        )
        if job_id is None:
            # Started inside the run, so the first poke finds it RUNNING however slowly the run starts.
            @task
            def start_job() -> str:
                return EntityResolutionHook().start_id_mapping_job(workflow_name)

            start_job() >> sensor
    return dag


@pytest.mark.parametrize("mode", MODES)
def test_a_succeeded_job_completes_the_sensor_with_its_description(run_dag, emulator, stored_triggers, mode):
    emulator.add_id_mapping_workflow("polled", JobScript(running_seconds=None, metrics=METRICS))
    finisher = finish_once_polled(emulator, "polled")
    dag_run = run_dag(sensor_dag(f"sensor_ok_{next(iter(mode.values()))}", "polled", **mode))
    finisher.join(timeout=5)
    assert task_states(dag_run) == {"start_job": "success", "wait": "success"}
    assert bool(stored_triggers()) == ("deferrable" in mode), "only the deferrable sensor defers"
    job_id = xcom_value(dag_run, "start_job")
    description = xcom_value(dag_run, "wait")
    assert (description["jobId"], description["status"], description["metrics"]) == (
        job_id,
        "SUCCEEDED",
        METRICS,
    )
    assert emulator.count("GetIdMappingJob") >= 2, "the sensor waited through QUEUED/RUNNING polls"


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_job_fails_the_sensor_with_the_service_message(run_dag, emulator, failures, mode):
    dag_run = run_dag(
        sensor_dag(f"sensor_failed_{next(iter(mode.values()))}", "failing", failures=failures, **mode)
    )
    assert task_states(dag_run) == {"start_job": "success", "wait": "failed"}
    job_id = xcom_value(dag_run, "start_job")
    error = failures.exceptions["wait"]
    assert isinstance(error, EntityResolutionJobFailedError)
    assert FAILURE_MESSAGE in str(error) and job_id in str(error) and "'failing'" in str(error)


@pytest.mark.parametrize("mode", MODES)
def test_a_missing_job_fails_the_sensor_with_the_service_message(run_dag, emulator, failures, mode):
    emulator.inject(Fault.not_found(operation="GetIdMappingJob", message="Job 0000 does not exist"))
    dag_run = run_dag(
        sensor_dag(f"sensor_404_{next(iter(mode.values()))}", WORKFLOW, "0" * 32, failures, **mode)
    )
    assert task_states(dag_run) == {"wait": "failed"}
    error = failures.exceptions["wait"]
    assert "ResourceNotFoundException: Job 0000 does not exist" in str(error)
    if "deferrable" not in mode:
        assert isinstance(error, EntityResolutionRequestError)


@pytest.mark.parametrize("mode", MODES)
def test_a_job_id_that_renders_empty_fails_before_any_request(run_dag, emulator, failures, mode):
    dag = sensor_dag(
        f"sensor_bad_{next(iter(mode.values()))}",
        WORKFLOW,
        "{{ params.get('job_id', '') }}",
        failures,
        **mode,
    )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"wait": "failed"}
    error = failures.exceptions["wait"]
    assert isinstance(error, InvalidParameterError) and error.parameter == "job_id"
    assert emulator.requests == []


@pytest.mark.parametrize("mode", MODES)
def test_a_timeout_with_soft_fail_skips_in_every_mode(run_dag, emulator, mode):
    """A job that outlives the sensor's timeout skips it with soft_fail, whether poking or deferred."""
    emulator.add_id_mapping_workflow("forever", JobScript.never_finishing())
    dag = sensor_dag(
        f"sensor_soft_{next(iter(mode.values()))}", "forever", timeout_override=1, soft_fail=True, **mode
    )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"start_job": "success", "wait": "skipped"}


@pytest.mark.parametrize("mode", MODES)
def test_a_timeout_names_the_last_status_seen(run_dag, emulator, failures, mode):
    emulator.add_id_mapping_workflow("forever", JobScript.never_finishing())
    dag = sensor_dag(
        f"sensor_timeout_{next(iter(mode.values()))}",
        "forever",
        failures=failures,
        timeout_override=1,
        **mode,
    )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"start_job": "success", "wait": "failed"}
    job_id = xcom_value(dag_run, "start_job")
    error = str(failures.exceptions["wait"])
    assert job_id in error and "RUNNING" in error, error


@pytest.mark.parametrize("mode", MODES)
def test_never_fail_skips_the_sensor_when_the_job_failed_in_every_mode(run_dag, emulator, mode):
    dag_run = run_dag(
        sensor_dag(f"sensor_never_fail_{next(iter(mode.values()))}", "failing", never_fail=True, **mode)
    )
    assert task_states(dag_run) == {"start_job": "success", "wait": "skipped"}
