"""
Show how a FAILED job fails its task.

The workflow ``orders-id-mapping`` is scripted in the emulator to fail. The operator
fails the task with an error that carries the service's own
``errorDetails.errorMessage``, the job ID and the workflow name, and still pushes
the job's description to XCom under ``job_description``.
"""

from __future__ import annotations

import datetime

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG
else:  # Airflow 2.11
    from airflow import DAG

from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator

with DAG(
    dag_id="example_entityresolution_failed_job",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as dag:
    # [START howto_operator_entityresolution_failed_job]
    EntityResolutionStartIdMappingJobOperator(
        task_id="map_order_ids",
        workflow_name="orders-id-mapping",
        deferrable=True,
        waiter_delay=2,
        waiter_max_attempts=60,
        retries=0,
    )
    # [END howto_operator_entityresolution_failed_job]
