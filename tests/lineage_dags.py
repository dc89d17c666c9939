"""The DAGs the lineage tests run in tests/openlineage_run.py, each built by a function of no arguments."""

from __future__ import annotations

import datetime
import os

from airflow_sdk import DAG

from airflow_entityresolution.operators import (
    EntityResolutionStartIdMappingJobOperator,
    EntityResolutionStartMatchingJobOperator,
)
from airflow_entityresolution.sensors import EntityResolutionMatchingJobCompletedSensor

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
MATCHING_WORKFLOW = "customer-matching"
ID_MAPPING_WORKFLOW = "customer-id-mapping"
EXPLICIT_OUTPUT = "s3://lineage-explicit-output/runs/2026-01-01/"
ROLE = "arn:aws:iam::123456789012:role/entity-resolution"
# Deferred, so that the wait polls in the (inline) triggerer while lineage reads the workflow once.
FAST = {"deferrable": True, "waiter_delay": 0.2, "waiter_max_attempts": 200}


def matching_job() -> DAG:
    with DAG("lineage_matching_job", schedule=None, start_date=START) as dag:
        EntityResolutionStartMatchingJobOperator(task_id="match", workflow_name=MATCHING_WORKFLOW, **FAST)
    return dag


def id_mapping_job() -> DAG:
    with DAG("lineage_id_mapping_job", schedule=None, start_date=START) as dag:
        EntityResolutionStartIdMappingJobOperator(task_id="map", workflow_name=ID_MAPPING_WORKFLOW, **FAST)
    return dag


def id_mapping_job_with_output_source_config() -> DAG:
    with DAG("lineage_id_mapping_explicit_output", schedule=None, start_date=START) as dag:
        EntityResolutionStartIdMappingJobOperator(
            task_id="map",
            workflow_name=ID_MAPPING_WORKFLOW,
            output_source_config=[{"outputS3Path": EXPLICIT_OUTPUT, "roleArn": ROLE}],
            **FAST,
        )
    return dag


def example_lineage() -> DAG:
    """The example DAG, parsed from its file as the DAG processor would."""
    from conftest import REPO, parse_dag_folder

    bag = parse_dag_folder(REPO / "example_dags", bundle_name="examples")
    dag: DAG = bag.dags["example_entityresolution_lineage"]
    return dag


def matching_sensor() -> DAG:
    """A sensor on a job that someone else started: the test passes its ID in ``LINEAGE_JOB_ID``."""
    with DAG("lineage_matching_sensor", schedule=None, start_date=START) as dag:
        EntityResolutionMatchingJobCompletedSensor(
            task_id="wait",
            workflow_name=MATCHING_WORKFLOW,
            job_id=os.environ["LINEAGE_JOB_ID"],
            poke_interval=0.2,
            deferrable=True,
        )
    return dag
