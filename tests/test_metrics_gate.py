"""max_records_not_processed on the operators and sensors, and the ``metrics`` XCom, through dag.test()."""

from __future__ import annotations

import datetime

import pytest
from airflow_sdk import DAG
from conftest import task_states, xcom_value

from airflow_entityresolution.emulator import JobScript
from airflow_entityresolution.errors import EntityResolutionJobFailedError, EntityResolutionMetricsGateError
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING, JobState, MetricsGate
from airflow_entityresolution.operators import (
    EntityResolutionStartIdMappingJobOperator,
    EntityResolutionStartMatchingJobOperator,
)
from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor
from airflow_entityresolution.validation import InvalidParameterError

START_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
FAST = {"waiter_delay": 0.2, "waiter_max_attempts": 100}
# 120 of 1,000 records not processed: 12%.
LOSSY = {"inputRecords": 1000, "totalRecordsProcessed": 880, "recordsNotProcessed": 120}


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(
        "lossy", JobScript.succeeded(LOSSY, running_seconds=0.3)
    )
    entity_resolution_emulator.add_matching_workflow("lossy", JobScript.succeeded(LOSSY, running_seconds=0.3))
    entity_resolution_emulator.add_id_mapping_workflow(
        "silent", JobScript.succeeded({"inputRecords": 1000}, running_seconds=0.3)
    )
    return entity_resolution_emulator


def operator_dag(
    dag_id: str, operator_class=EntityResolutionStartIdMappingJobOperator, failures=None, **kwargs
):
    with DAG(dag_id, schedule=None, start_date=START_DATE) as dag:
        operator_class(task_id="start", retries=0, on_failure_callback=failures, **{**FAST, **kwargs})
    return dag


@pytest.mark.parametrize(
    ("limit", "figures"),
    [
        pytest.param(
            100,
            "120 of 1000 input records were not processed, more than max_records_not_processed=100",
            id="count",
        ),
        pytest.param(
            0.05,
            "120 of 1000 input records (12.00%) were not processed, "
            "more than max_records_not_processed=0.05 (5.00% of inputRecords)",
            id="fraction",
        ),
    ],
)
@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_a_succeeded_job_over_the_limit_fails_the_operator_naming_the_figures(
    run_dag, emulator, failures, limit, figures, deferrable
):
    dag_id = f"gate_over_{type(limit).__name__}_{deferrable}"
    dag_run = run_dag(
        operator_dag(
            dag_id,
            failures=failures,
            workflow_name="lossy",
            max_records_not_processed=limit,
            deferrable=deferrable,
        )
    )
    assert task_states(dag_run) == {"start": "failed"}
    error = failures.exceptions["start"]
    assert isinstance(error, EntityResolutionMetricsGateError)
    [job] = emulator.jobs()
    assert str(error) == (
        f"Entity Resolution ID mapping job {job.job_id} of workflow 'lossy' SUCCEEDED, but {figures}"
    )
    assert xcom_value(dag_run, "start", "metrics") == LOSSY, "the metrics are pushed even when the gate fails"


@pytest.mark.parametrize("limit", [120, 0.12, 1.0], ids=["count-at-limit", "fraction-at-limit", "everything"])
def test_a_job_within_the_limit_passes_and_pushes_its_metrics(run_dag, emulator, limit):
    dag_run = run_dag(
        operator_dag(
            f"gate_within_{str(limit).replace('.', '_')}",
            EntityResolutionStartMatchingJobOperator,
            workflow_name="lossy",
            max_records_not_processed=limit,
        )
    )
    assert task_states(dag_run) == {"start": "success"}
    assert xcom_value(dag_run, "start", "metrics") == LOSSY


def test_a_job_that_reports_no_unprocessed_count_fails_a_gate_rather_than_passing_it(
    run_dag, emulator, failures
):
    dag_run = run_dag(
        operator_dag("gate_silent", failures=failures, workflow_name="silent", max_records_not_processed=0)
    )
    assert task_states(dag_run) == {"start": "failed"}
    assert "reported no recordsNotProcessed metric" in str(failures.exceptions["start"])


@pytest.mark.parametrize(
    "mode", [pytest.param({"mode": "poke"}, id="poke"), pytest.param({"deferrable": True}, id="deferrable")]
)
def test_the_sensor_applies_the_gate_and_pushes_the_metrics(run_dag, emulator, failures, mode):
    job_id = EntityResolutionHook().start_id_mapping_job("lossy")
    with DAG(f"gate_sensor_{next(iter(mode))}", schedule=None, start_date=START_DATE) as dag:
        EntityResolutionIdMappingJobCompletedSensor(
            task_id="wait",
            workflow_name="lossy",
            job_id=job_id,
            max_records_not_processed=0.1,
            poke_interval=0.2,
            timeout=30,
            on_failure_callback=failures,
            **mode,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"wait": "failed"}
    assert isinstance(failures.exceptions["wait"], EntityResolutionMetricsGateError)
    assert "(12.00%)" in str(failures.exceptions["wait"])
    assert xcom_value(dag_run, "wait", "metrics") == LOSSY


@pytest.mark.parametrize("value", [-1, 1.5, True, "5%", "0.1"])
def test_a_limit_that_is_neither_count_nor_fraction_is_refused_when_the_dag_is_parsed(value):
    with pytest.raises(InvalidParameterError) as refused:
        EntityResolutionStartIdMappingJobOperator(
            task_id="start", workflow_name="lossy", max_records_not_processed=value
        )
    assert refused.value.parameter == "max_records_not_processed"
    assert repr(value) in str(refused.value) and "fraction of inputRecords" in str(refused.value)


def test_a_failed_job_reports_its_failure_not_the_gate():
    state = JobState(ID_MAPPING, "w", "a" * 32, {"status": "FAILED", "metrics": LOSSY})
    with pytest.raises(EntityResolutionJobFailedError):
        state.raise_if_rejected(MetricsGate(0))


@pytest.mark.parametrize(
    ("limit", "metrics", "problem"),
    [
        pytest.param(1.0, {"inputRecords": 0, "recordsNotProcessed": 3}, None, id="fraction-one-allows-all"),
        pytest.param(
            2,
            {"recordsNotProcessed": 3},
            "3 records were not processed, more than max_records_not_processed=2",
            id="count-without-inputs",
        ),
    ],
)
def test_the_gate_reads_edge_figures_as_stated(limit, metrics, problem):
    state = JobState(ID_MAPPING, "w", "a" * 32, {"status": "SUCCEEDED", "metrics": metrics})
    if problem is None:
        state.raise_if_rejected(MetricsGate(limit))
        return
    with pytest.raises(EntityResolutionMetricsGateError) as rejected:
        state.raise_if_rejected(MetricsGate(limit))
    assert str(rejected.value).endswith(problem)
