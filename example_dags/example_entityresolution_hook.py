"""
Call the Entity Resolution job API from a task of your own, through the hook.

The hook reads the same ``aws`` connection as the operators, checks its inputs before any
request, and answers plain JSON, timestamps as ISO-8601 strings, ready for XCom. This task
starts an ID mapping job, reads it back, lists the workflow's jobs, and waits for the job
in its worker.
"""

from __future__ import annotations

import datetime

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG, task
else:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

with DAG(
    dag_id="example_entityresolution_hook",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as dag:

    @task
    def map_and_count() -> dict[str, object]:
        # Imported when the task runs, so that parsing this file does not load them.
        from airflow_entityresolution.hooks import EntityResolutionHook
        from airflow_entityresolution.jobs import ID_MAPPING

        # [START howto_hook_entityresolution]
        hook = EntityResolutionHook(aws_conn_id="aws_default")
        job_id = hook.start_id_mapping_job("customer-id-mapping")
        job = hook.get_id_mapping_job("customer-id-mapping", job_id)  # plain JSON, no ResponseMetadata
        jobs = hook.list_id_mapping_jobs("customer-id-mapping")  # every page, newest first
        final = hook.wait_for_job(
            ID_MAPPING, "customer-id-mapping", job_id, waiter_delay=2, waiter_max_attempts=60
        )
        # [END howto_hook_entityresolution]
        print(f"Job {job_id} was {job['status']}, then ended {final.status}; the workflow has {len(jobs)}")
        return {"job_id": job_id, "status": final.status, "jobs": len(jobs)}

    map_and_count()
