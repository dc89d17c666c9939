"""
Wait, with a sensor, for an ID mapping job that another task (or system) started.

The first task starts a job without waiting for it and returns its ID. The sensor
takes that ID through a template and waits for the job in the triggerer; its own
return value is the final job description.
"""

from __future__ import annotations

import datetime

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG, task
else:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator
from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor
from airflow_entityresolution.shapes import JobDescription

with DAG(
    dag_id="example_entityresolution_id_mapping_sensor",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as dag:
    # [START howto_operator_entityresolution_start_without_waiting]
    start = EntityResolutionStartIdMappingJobOperator(
        task_id="start_job",
        workflow_name="supplier-id-mapping",
        wait_for_completion=False,
    )
    # [END howto_operator_entityresolution_start_without_waiting]

    # [START howto_sensor_entityresolution_id_mapping_job]
    wait = EntityResolutionIdMappingJobCompletedSensor(
        task_id="wait_for_job",
        workflow_name="supplier-id-mapping",
        job_id="{{ ti.xcom_pull(task_ids='start_job') }}",
        deferrable=True,
        # Jobs take minutes to hours: poke every minute in production. The emulator's jobs take seconds.
        poke_interval=2,
        timeout=600,
    )
    # [END howto_sensor_entityresolution_id_mapping_job]

    @task
    def report(job: JobDescription) -> int:
        print(f"Job {job['jobId']} ended {job['status']}; records mapped: {job['metrics']}")
        return job["metrics"].get("totalMappedRecords", 0)

    start >> wait
    # At run time Airflow passes the XComArg's value; type checkers see only the XComArg.
    report(wait.output)  # type: ignore[arg-type]
