"""
Start jobs in an account that may be busy: wait for a turn, or fail at once.

Each account and region runs one ID mapping job, and one matching job, at a time. The first
task waits for its turn, trying the start again every ``waiter_delay`` seconds, deferred so
that it holds no worker slot meanwhile. The second is only worth running if it can start
now: a busy account fails it at once, with a message naming the job that holds the workflow.
"""

from __future__ import annotations

import datetime

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG
else:  # Airflow 2.11
    from airflow import DAG

from airflow_entityresolution.operators import (
    EntityResolutionStartIdMappingJobOperator,
    EntityResolutionStartMatchingJobOperator,
)

with DAG(
    dag_id="example_entityresolution_when_busy",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as dag:
    # [START howto_operator_entityresolution_when_busy_wait]
    EntityResolutionStartIdMappingJobOperator(
        task_id="map_supplier_ids",
        workflow_name="supplier-id-mapping",
        when_busy="wait",
        deferrable=True,
        # Jobs take minutes to hours: poll every minute in production. The emulator's jobs take seconds.
        waiter_delay=2,
        waiter_max_attempts=60,
    )
    # [END howto_operator_entityresolution_when_busy_wait]

    # [START howto_operator_entityresolution_when_busy_fail]
    EntityResolutionStartMatchingJobOperator(
        task_id="match_customers_now",
        workflow_name="customer-matching",
        when_busy="fail",
        deferrable=True,
        waiter_delay=2,
        waiter_max_attempts=60,
    )
    # [END howto_operator_entityresolution_when_busy_fail]
