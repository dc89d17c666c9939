"""
Start an Entity Resolution matching job, gate it on its metrics, and publish its output as an asset.

A matching job takes its inputs and output location from its workflow, so the operator
needs only the workflow's name. ``max_records_not_processed=0.01`` fails the task if the
job SUCCEEDED but left more than 1% of its input records unprocessed; the final metrics
land in XCom under ``metrics`` either way. ``output_asset`` declares the workflow's output
location as an asset, so the second DAG below runs each time a job has written it.
"""

from __future__ import annotations

import datetime

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG, Asset, get_current_context, task
else:  # Airflow 2.11
    from airflow import DAG
    from airflow.datasets import Dataset as Asset
    from airflow.decorators import task
    from airflow.operators.python import get_current_context

from airflow_entityresolution.operators import EntityResolutionStartMatchingJobOperator
from airflow_entityresolution.shapes import JobMetrics

MATCHING_OUTPUT = "s3://example-entity-resolution/matching/customer-matching/"

with DAG(
    dag_id="example_entityresolution_matching_job",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as dag:
    # [START howto_operator_entityresolution_start_matching_job]
    match = EntityResolutionStartMatchingJobOperator(
        task_id="match_customers",
        workflow_name="customer-matching",
        max_records_not_processed=0.01,
        output_asset=MATCHING_OUTPUT,
        deferrable=True,
        # Jobs take minutes to hours: poll every minute in production. The emulator's jobs take seconds.
        waiter_delay=2,
        waiter_max_attempts=60,
    )
    # [END howto_operator_entityresolution_start_matching_job]

    # [START howto_xcom_entityresolution_metrics]
    @task
    def report(job_id: str) -> JobMetrics:
        # Imported when the task runs, so that parsing this file does not load it.
        from airflow_entityresolution.jobs import METRICS_XCOM_KEY

        ti = get_current_context()["ti"]
        metrics: JobMetrics = ti.xcom_pull(task_ids="match_customers", key=METRICS_XCOM_KEY)
        print(
            f"Matching job {job_id}: {metrics['matchIDs']} match IDs from {metrics['inputRecords']} records"
        )
        return metrics

    # [END howto_xcom_entityresolution_metrics]

    # At run time Airflow passes the XComArg's value; type checkers see only the XComArg.
    report(match.output)  # type: ignore[arg-type]


# [START howto_asset_entityresolution_consumer]
with DAG(
    dag_id="example_entityresolution_matching_output_consumer",
    schedule=[Asset(MATCHING_OUTPUT)],
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as consumer:

    @task
    def load_matches() -> None:
        for event in get_current_context()["triggering_asset_events"][Asset(MATCHING_OUTPUT)]:
            print(f"Loading the output of matching job {event.extra['job_id']} from {MATCHING_OUTPUT}")

    load_matches()
# [END howto_asset_entityresolution_consumer]
