"""The "Entity Resolution Job" console link, rendered the way Airflow's UI renders it, for each AWS partition.

Each test runs a real task through dag.test() against the emulator in the partition's region,
then asks the serialized task stored in the metadata DB for the link, as the API server does.
"""

from __future__ import annotations

import datetime

import pytest
from airflow_sdk import DAG
from conftest import task_states

from airflow_entityresolution.emulator import JobScript
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING, MATCHING
from airflow_entityresolution.links import EntityResolutionJobLink
from airflow_entityresolution.operators import (
    EntityResolutionStartIdMappingJobOperator,
    EntityResolutionStartMatchingJobOperator,
)
from airflow_entityresolution.sensors import (
    EntityResolutionIdMappingJobCompletedSensor,
    EntityResolutionMatchingJobCompletedSensor,
)

START_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
LINK = EntityResolutionJobLink.name
PARTITIONS = [
    pytest.param("us-east-1", "https://console.aws.amazon.com", id="aws"),
    pytest.param("cn-north-1", "https://console.amazonaws.cn", id="aws-cn"),
    pytest.param("us-gov-west-1", "https://console.amazonaws-us-gov.com", id="aws-us-gov"),
]
OPERATORS = [
    pytest.param(EntityResolutionStartIdMappingJobOperator, ID_MAPPING, id="id-mapping"),
    pytest.param(EntityResolutionStartMatchingJobOperator, MATCHING, id="matching"),
]


def rendered_extra_link(dag_run, task_id: str, name: str) -> str | None:
    """Render a task's extra link from the serialized DAG in the metadata DB, as the UI's API does."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = dag_run.get_task_instance(task_id, session=session)
        ti.task = SerializedDagModel.get_dag(dag_run.dag_id, session=session).get_task(task_id)
        return ti.task.get_extra_links(ti, name)


@pytest.fixture
def emulator_in(entity_resolution_emulator, monkeypatch):
    """Declare both families' workflows in ``region`` and point the ``aws_default`` connection there."""

    def serve(region: str):
        script = JobScript.succeeded({"inputRecords": 10, "recordsNotProcessed": 0}, running_seconds=0.3)
        entity_resolution_emulator.add_id_mapping_workflow("people", script, region=region)
        entity_resolution_emulator.add_matching_workflow("people", script, region=region)
        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT", entity_resolution_emulator.airflow_connection(region_name=region)
        )
        return entity_resolution_emulator

    return serve


@pytest.mark.parametrize(("operator_class", "family"), OPERATORS)
@pytest.mark.parametrize(("region", "console"), PARTITIONS)
def test_the_operator_links_to_its_job_in_the_partitions_console(
    run_dag, emulator_in, region, console, operator_class, family
):
    emulator = emulator_in(region)
    dag_id = f"link_{family.key}_{region.replace('-', '_')}"
    with DAG(dag_id, schedule=None, start_date=START_DATE) as dag:
        operator_class(task_id="start", workflow_name="people", waiter_delay=0.2, waiter_max_attempts=50)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"start": "success"}
    [job] = emulator.jobs()
    assert rendered_extra_link(dag_run, "start", LINK) == (
        f"{console}/entityresolution/home?region={region}#/{family.collection}/people/jobs/{job.job_id}"
    )


@pytest.mark.parametrize(
    ("sensor_class", "family"),
    [
        pytest.param(EntityResolutionIdMappingJobCompletedSensor, ID_MAPPING, id="id-mapping"),
        pytest.param(EntityResolutionMatchingJobCompletedSensor, MATCHING, id="matching"),
    ],
)
def test_the_sensor_links_to_the_job_it_waits_for(run_dag, emulator_in, sensor_class, family):
    emulator_in("cn-north-1")
    job_id = EntityResolutionHook(region_name="cn-north-1").start_job(family, "people")
    with DAG(f"link_sensor_{family.key}", schedule=None, start_date=START_DATE) as dag:
        sensor_class(task_id="wait", workflow_name="people", job_id=job_id, poke_interval=0.2, timeout=30)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"wait": "success"}
    assert rendered_extra_link(dag_run, "wait", LINK) == (
        f"https://console.amazonaws.cn/entityresolution/home?region=cn-north-1"
        f"#/{family.collection}/people/jobs/{job_id}"
    )


def test_a_workflow_arn_links_to_the_arns_region_and_partition():
    value = EntityResolutionJobLink.xcom_value(
        family=ID_MAPPING,
        workflow_name="arn:aws-cn:entityresolution:cn-northwest-1:123456789012:idmappingworkflow/people",
        job_id="a" * 32,
        region_name="us-east-1",
        aws_partition="aws",
    )
    assert EntityResolutionJobLink().format_link(**value) == (
        "https://console.amazonaws.cn/entityresolution/home?region=cn-northwest-1"
        f"#/idmappingworkflows/people/jobs/{'a' * 32}"
    )


def test_a_workflow_name_with_slashes_stays_one_segment_of_the_link():
    value = EntityResolutionJobLink.xcom_value(
        family=ID_MAPPING,
        workflow_name="team/a=b+c",
        job_id="b" * 32,
        region_name="eu-west-1",
        aws_partition="aws",
    )
    assert (
        EntityResolutionJobLink()
        .format_link(**value)
        .endswith(f"#/idmappingworkflows/team%2Fa%3Db%2Bc/jobs/{'b' * 32}")
    )
