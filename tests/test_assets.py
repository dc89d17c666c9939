"""The job's output location as an asset outlet: its consumer DAG is queued once the job SUCCEEDED."""

from __future__ import annotations

import datetime

import pytest
from airflow_sdk import DAG, Asset
from conftest import asset_tables, sync_dags, task_states

from airflow_entityresolution.emulator import JobScript
from airflow_entityresolution.operators import (
    EntityResolutionStartIdMappingJobOperator,
    EntityResolutionStartMatchingJobOperator,
)
from airflow_entityresolution.validation import InvalidParameterError

START_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
FAST = {"waiter_delay": 0.2, "waiter_max_attempts": 100}
ROLE = "arn:aws:iam::123456789012:role/EntityResolutionJobRole"
ID_MAPPING_OUTPUT = "s3://er-output/id-mapping/people/"
MATCHING_OUTPUT = "s3://er-output/matching/people/"


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow("people", JobScript.succeeded(running_seconds=0.3))
    entity_resolution_emulator.add_matching_workflow("people", JobScript.succeeded(running_seconds=0.3))
    entity_resolution_emulator.add_id_mapping_workflow("broken", JobScript.failed(running_seconds=0.3))
    return entity_resolution_emulator


def deploy_consumer_of(uri: str, dag_id: str) -> None:
    """Deploy and switch on a downstream DAG scheduled on the asset, as a user would."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with DAG(dag_id, schedule=[Asset(uri)], start_date=START_DATE) as dag:
        EntityResolutionStartMatchingJobOperator(task_id="unused", workflow_name="people")
    sync_dags(dag)
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": False})


def asset_events(uri: str) -> list[tuple[str, dict]]:
    """The (source task, extra) of each event of the asset, from the metadata DB.

    Airflow stores an S3 asset's URI normalized (without a trailing slash), so the query normalizes too.
    """
    from airflow.utils.session import create_session

    tables = asset_tables()
    with create_session() as session:
        rows = session.query(tables.event).join(tables.model, tables.event_asset_id == tables.model.id)
        rows = rows.filter(tables.model.uri == Asset(uri).uri).all()
        return [(row.source_task_id, dict(row.extra or {})) for row in rows]


def queued_consumers(uri: str) -> list[str]:
    """The DAGs the scheduler will run because the asset changed."""
    from airflow.utils.session import create_session

    tables = asset_tables()
    with create_session() as session:
        rows = session.query(tables.dag_run_queue)
        rows = rows.join(tables.model, tables.queue_asset_id == tables.model.id)
        return sorted(row.target_dag_id for row in rows.filter(tables.model.uri == Asset(uri).uri).all())


@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_the_id_mapping_output_path_is_an_outlet_that_queues_its_consumer(run_dag, emulator, deferrable):
    with DAG(f"asset_producer_{deferrable}", schedule=None, start_date=START_DATE) as producer:
        EntityResolutionStartIdMappingJobOperator(
            task_id="map",
            workflow_name="people",
            output_source_config=[{"outputS3Path": ID_MAPPING_OUTPUT, "roleArn": ROLE}],
            output_asset=True,
            deferrable=deferrable,
            **FAST,
        )
    consumer_id = f"asset_consumer_{deferrable}"
    deploy_consumer_of(ID_MAPPING_OUTPUT, consumer_id)
    dag_run = run_dag(producer)
    assert task_states(dag_run) == {"map": "success"}
    [job] = emulator.jobs()
    assert job.output_source_config[0]["outputS3Path"] == ID_MAPPING_OUTPUT
    events = asset_events(ID_MAPPING_OUTPUT)
    assert ("map", {"workflow_name": "people", "job_id": job.job_id, "kind": "id_mapping"}) in events
    assert consumer_id in queued_consumers(ID_MAPPING_OUTPUT)


def test_a_matching_job_declares_the_output_location_it_is_given(run_dag, emulator):
    with DAG("asset_matching", schedule=None, start_date=START_DATE) as producer:
        operator = EntityResolutionStartMatchingJobOperator(
            task_id="match", workflow_name="people", output_asset=MATCHING_OUTPUT, **FAST
        )
    assert operator.outlets == [Asset(MATCHING_OUTPUT)]
    deploy_consumer_of(MATCHING_OUTPUT, "asset_matching_consumer")
    assert task_states(run_dag(producer)) == {"match": "success"}
    [job] = emulator.jobs()
    assert asset_events(MATCHING_OUTPUT) == [
        ("match", {"workflow_name": "people", "job_id": job.job_id, "kind": "matching"})
    ]
    assert queued_consumers(MATCHING_OUTPUT) == ["asset_matching_consumer"]


def test_a_failed_job_emits_no_asset_event(run_dag, emulator):
    output = "s3://er-output/never-written/"
    with DAG("asset_failed", schedule=None, start_date=START_DATE) as producer:
        EntityResolutionStartIdMappingJobOperator(
            task_id="map", workflow_name="broken", output_asset=output, retries=0, **FAST
        )
    deploy_consumer_of(output, "asset_failed_consumer")
    assert task_states(run_dag(producer)) == {"map": "failed"}
    assert asset_events(output) == []
    assert queued_consumers(output) == []


@pytest.mark.parametrize(
    ("operator_class", "kwargs", "shown"),
    [
        pytest.param(
            EntityResolutionStartMatchingJobOperator, {"output_asset": True}, None, id="matching-true"
        ),
        pytest.param(
            EntityResolutionStartIdMappingJobOperator,
            {
                "output_asset": True,
                "output_source_config": [{"outputS3Path": "s3://er-output/{{ ds }}/", "roleArn": ROLE}],
            },
            "s3://er-output/{{ ds }}/",
            id="templated-path",
        ),
        pytest.param(
            EntityResolutionStartIdMappingJobOperator,
            {"output_asset": "out/people"},
            "out/people",
            id="not-s3",
        ),
    ],
)
def test_an_output_asset_that_cannot_be_known_at_parse_time_is_refused(operator_class, kwargs, shown):
    with pytest.raises(InvalidParameterError) as refused:
        operator_class(task_id="start", workflow_name="people", **kwargs)
    assert refused.value.parameter == "output_asset"
    assert refused.value.value == shown
    assert "outlets are read when the DAG is parsed" in str(refused.value)


def test_an_output_asset_needs_the_task_to_wait_for_the_job():
    with pytest.raises(InvalidParameterError) as refused:
        EntityResolutionStartMatchingJobOperator(
            task_id="start", workflow_name="people", output_asset=MATCHING_OUTPUT, wait_for_completion=False
        )
    assert refused.value.parameter == "output_asset"
    assert "wait_for_completion=False" in str(refused.value)
