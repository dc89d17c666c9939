"""A DAG file that starts an ID mapping job with this provider's operator and waits with its sensor."""

from __future__ import annotations

import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow.models.dag import DAG

from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator
from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor

with DAG("bench_entityresolution", schedule=None, start_date=datetime.datetime(2026, 1, 1)):
    start = EntityResolutionStartIdMappingJobOperator(
        task_id="start",
        workflow_name="customer-id-mapping",
        wait_for_completion=False,
    )
    wait = EntityResolutionIdMappingJobCompletedSensor(
        task_id="wait",
        workflow_name="customer-id-mapping",
        job_id="{{ ti.xcom_pull(task_ids='start') }}",
        deferrable=True,
    )
    start >> wait
