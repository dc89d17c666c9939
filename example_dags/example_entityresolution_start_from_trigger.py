"""
Wait for a matching job with a sensor that starts in the triggerer and ends there.

The first task starts a job without waiting for it. The sensor never takes a worker slot,
not even to finish: the scheduler hands it straight to the triggerer, which renders its
templated job ID, waits for the job and ends the task. It needs Airflow 3.3 or later; on
older Airflow the sensor starts on a worker and defers to the triggerer from there.

Airflow refuses such a sensor where a listener plugin is installed (the OpenLineage
provider's, with a transport configured, for one), since no worker would run the listeners:
use ``deferrable=True`` there.
"""

from __future__ import annotations

import datetime

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG
else:  # Airflow 2.11
    from airflow import DAG

from airflow_entityresolution.operators import EntityResolutionStartMatchingJobOperator
from airflow_entityresolution.sensors import EntityResolutionMatchingJobCompletedSensor

with DAG(
    dag_id="example_entityresolution_start_from_trigger",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as dag:
    start = EntityResolutionStartMatchingJobOperator(
        task_id="start_matching",
        workflow_name="customer-matching",
        wait_for_completion=False,
    )

    # [START howto_sensor_entityresolution_start_from_trigger]
    wait = EntityResolutionMatchingJobCompletedSensor(
        task_id="wait_for_matching",
        workflow_name="customer-matching",
        job_id="{{ ti.xcom_pull(task_ids='start_matching') }}",
        start_from_trigger=True,
        max_records_not_processed=100,
        # Jobs take minutes to hours: poke every minute in production. The emulator's jobs take seconds.
        poke_interval=2,
        timeout=600,
    )
    # [END howto_sensor_entityresolution_start_from_trigger]

    start >> wait
