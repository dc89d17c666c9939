"""
Start an Entity Resolution ID mapping job and wait for it in the triggerer.

The operator starts the job, hands the wait to the triggerer (``deferrable=True``),
and returns the job ID. The job's final description (status, metrics, times,
output) lands in XCom under ``job_description``, where the next task reads it.
"""

from __future__ import annotations

import datetime

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG, get_current_context, task
else:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task
    from airflow.operators.python import get_current_context

from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator
from airflow_entityresolution.shapes import JobDescription, JobMetrics

with DAG(
    dag_id="example_entityresolution_id_mapping_job",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as dag:
    # [START howto_operator_entityresolution_start_id_mapping_job]
    start_and_wait = EntityResolutionStartIdMappingJobOperator(
        task_id="map_customer_ids",
        workflow_name="customer-id-mapping",
        output_source_config=[
            {
                "outputS3Path": "s3://example-entity-resolution/output/{{ ds_nodash }}/",
                "roleArn": "arn:aws:iam::123456789012:role/EntityResolutionJobRole",
            }
        ],
        deferrable=True,
        # Jobs take minutes to hours: poll every minute in production. The emulator's jobs take seconds.
        waiter_delay=2,
        waiter_max_attempts=60,
        # Safe to retry: a retry takes over the job this try started instead of starting another.
        retries=2,
    )
    # [END howto_operator_entityresolution_start_id_mapping_job]

    # [START howto_xcom_entityresolution_job_description]
    @task
    def report(job_id: str) -> JobMetrics:
        # Imported when the task runs, so that parsing this file does not load it.
        from airflow_entityresolution.jobs import JOB_DESCRIPTION_XCOM_KEY

        ti = get_current_context()["ti"]
        job: JobDescription = ti.xcom_pull(task_ids="map_customer_ids", key=JOB_DESCRIPTION_XCOM_KEY)
        print(f"Job {job_id} ended {job['status']} with metrics {job.get('metrics')}")
        return job.get("metrics", {})

    # [END howto_xcom_entityresolution_job_description]

    # At run time Airflow passes the XComArg's value; type checkers see only the XComArg.
    report(start_and_wait.output)  # type: ignore[arg-type]
