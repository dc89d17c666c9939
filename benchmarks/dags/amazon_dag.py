"""The same DAG shape with an Amazon provider operator and sensor (Comprehend PII detection)."""

from __future__ import annotations

import datetime

from airflow.providers.amazon.aws.operators.comprehend import ComprehendStartPiiEntitiesDetectionJobOperator
from airflow.providers.amazon.aws.sensors.comprehend import (
    ComprehendStartPiiEntitiesDetectionJobCompletedSensor,
)

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow.models.dag import DAG

with DAG("bench_comprehend", schedule=None, start_date=datetime.datetime(2026, 1, 1)):
    start = ComprehendStartPiiEntitiesDetectionJobOperator(
        task_id="start",
        input_data_config={"S3Uri": "s3://bucket/input", "InputFormat": "ONE_DOC_PER_LINE"},
        output_data_config={"S3Uri": "s3://bucket/output"},
        mode="ONLY_REDACTION",
        data_access_role_arn="arn:aws:iam::123456789012:role/ComprehendRole",
        language_code="en",
        wait_for_completion=False,
    )
    wait = ComprehendStartPiiEntitiesDetectionJobCompletedSensor(
        task_id="wait",
        job_id="{{ ti.xcom_pull(task_ids='start') }}",
        deferrable=True,
    )
    start >> wait
