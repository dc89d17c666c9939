"""
Sensors that start in the triggerer: what they ask the scheduler for, how their trigger ends the
task, and the fallback on an Airflow that cannot render their templates there.

The run that never reaches a worker, under a real scheduler and triggerer, is in
``tests/e2e/test_real_airflow.py`` (the ``test_e_`` tests).
"""

from __future__ import annotations

import datetime

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent
from airflow_sdk import DAG
from conftest import FAILURE_MESSAGE, task_states, xcom_value

from airflow_entityresolution.compat import TRIGGERER_RENDERS_TEMPLATES
from airflow_entityresolution.emulator import JobScript
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.sensors import EntityResolutionMatchingJobCompletedSensor
from airflow_entityresolution.triggers import EntityResolutionMatchingJobCompletedTrigger

METRICS = {"inputRecords": 50, "totalRecordsProcessed": 45, "recordsNotProcessed": 5, "matchIDs": 20}
FALLBACK_LINE = "start_from_trigger needs Airflow 3.3 or later"


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_matching_workflow(
        "people", JobScript.succeeded(METRICS, running_seconds=0.3)
    )
    entity_resolution_emulator.add_matching_workflow("broken", JobScript.failed(FAILURE_MESSAGE))
    entity_resolution_emulator.add_matching_workflow("forever", JobScript.never_finishing())
    return entity_resolution_emulator


def sensor(**kwargs) -> EntityResolutionMatchingJobCompletedSensor:
    return EntityResolutionMatchingJobCompletedSensor(
        task_id="wait",
        workflow_name="{{ params.workflow }}",
        job_id="{{ params.job_id }}",
        start_from_trigger=True,
        poke_interval=0.2,
        timeout=30,
        **kwargs,
    )


@pytest.mark.skipif(
    not TRIGGERER_RENDERS_TEMPLATES, reason="this Airflow cannot start the sensor in the triggerer"
)
def test_the_sensor_asks_to_start_in_the_triggerer_with_its_fields_unrendered():
    wait = sensor(max_records_not_processed=0.2, soft_fail=True)
    args = wait.start_trigger_args
    assert wait.start_from_trigger is True
    assert args.trigger_cls == "airflow_entityresolution.triggers.EntityResolutionMatchingJobCompletedTrigger"
    assert args.next_method == "execute_complete"
    assert args.timeout > datetime.timedelta(seconds=30)
    kwargs = args.trigger_kwargs
    # Rendered in the triggerer: the attributes the operator templates keep the same names there.
    assert (kwargs["workflow_name"], kwargs["job_id"]) == ("{{ params.workflow }}", "{{ params.job_id }}")
    assert set(wait.template_fields) >= {"workflow_name", "job_id"}
    assert (kwargs["end_task"], kwargs["max_records_not_processed"], kwargs["skip_on_timeout"]) == (
        True,
        0.2,
        True,
    )
    EntityResolutionMatchingJobCompletedTrigger(**kwargs)


@pytest.mark.skipif(TRIGGERER_RENDERS_TEMPLATES, reason="this Airflow starts the sensor in the triggerer")
def test_on_an_older_airflow_the_sensor_falls_back_to_a_worker_and_says_so(run_dag, emulator, capfd):
    job_id = EntityResolutionHook().start_matching_job("people")
    with DAG(
        "start_from_trigger_fallback",
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        params={"workflow": "people", "job_id": job_id},
    ) as dag:
        wait = sensor()
    assert (wait.start_from_trigger, wait.deferrable) == (False, True)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"wait": "success"}
    assert xcom_value(dag_run, "wait")["jobId"] == job_id
    assert FALLBACK_LINE in capfd.readouterr().out


def ending_trigger(workflow: str, job_id: str, **kwargs) -> EntityResolutionMatchingJobCompletedTrigger:
    return EntityResolutionMatchingJobCompletedTrigger(
        workflow, job_id, waiter_delay=0.1, waiter_max_attempts=100, end_task=True, **kwargs
    )


def logged(capfd) -> str:
    """What the trigger logged: Airflow's structured logging writes to the process's output."""
    out, err = capfd.readouterr()
    return out + err


async def only_event(trigger):
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return events[0]


async def test_the_trigger_ends_the_task_succeeded_with_its_xcoms(emulator):
    job_id = EntityResolutionHook().start_matching_job("people")
    event = await only_event(ending_trigger("people", job_id, max_records_not_processed=0.1))
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms["return_value"]["jobId"] == job_id
    assert event.xcoms["metrics"] == METRICS
    assert event.xcoms["entityresolution_job"]["job_id"] == job_id
    assert event.xcoms["_link_EntityResolutionJobLink"] == (
        f"https://console.aws.amazon.com/entityresolution/home?region=us-east-1#/matchingworkflows/people/jobs/{job_id}"
    )


async def test_the_trigger_fails_the_task_and_logs_the_service_message(emulator, capfd):
    job_id = EntityResolutionHook().start_matching_job("broken")
    event = await only_event(ending_trigger("broken", job_id))
    assert isinstance(event, TaskFailedEvent)
    assert "return_value" not in event.xcoms
    assert f"matching job {job_id} of workflow 'broken' FAILED: {FAILURE_MESSAGE}" in logged(capfd)


async def test_the_trigger_fails_a_job_over_the_gate_naming_the_figures(emulator, capfd):
    job_id = EntityResolutionHook().start_matching_job("people")
    event = await only_event(ending_trigger("people", job_id, max_records_not_processed=4))
    assert isinstance(event, TaskFailedEvent)
    assert event.xcoms["metrics"] == METRICS
    assert "5 of 50 input records were not processed, more than max_records_not_processed=4" in logged(capfd)


@pytest.mark.parametrize(
    ("options", "ending"),
    [
        pytest.param({}, TaskFailedEvent, id="fails"),
        pytest.param({"skip_on_timeout": True}, TaskSkippedEvent, id="soft-fail-skips"),
    ],
)
async def test_a_wait_that_runs_out_ends_the_task_as_the_sensor_says(emulator, capfd, options, ending):
    job_id = EntityResolutionHook().start_matching_job("forever")
    trigger = EntityResolutionMatchingJobCompletedTrigger(
        "forever", job_id, waiter_delay=0.1, waiter_max_attempts=3, end_task=True, **options
    )
    assert isinstance(await only_event(trigger), ending)
    assert "last status seen: RUNNING" in logged(capfd)


async def test_a_template_that_rendered_none_ends_the_task_before_any_request(emulator, capfd):
    event = await only_event(ending_trigger("None", "a" * 32))
    assert isinstance(event, TaskFailedEvent)
    assert "Invalid workflow_name='None'" in logged(capfd)
    assert emulator.requests == []
