"""
Run a DAG each time a matching job of a workflow ends, whoever started it (Airflow 3).

An asset carries an ``AssetWatcher`` whose event trigger lists the workflow's jobs in the
triggerer and announces each one that ends SUCCEEDED, once; the DAG scheduled on the asset
runs for it. Jobs a workflow runs by itself (incremental run type ``IMMEDIATE``), or that the
console, Step Functions or another team started, all count. Airflow 2.11 has no asset
watchers (and Airflow 3.0 before 3.0.6, whose triggers cannot write the Variable a watcher keeps
its place in): there this file defines no DAG.
"""

from __future__ import annotations

import datetime
from typing import Any

from airflow_entityresolution.compat import EVENT_TRIGGERS_SUPPORTED

if EVENT_TRIGGERS_SUPPORTED:
    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from airflow_entityresolution.triggers import EntityResolutionMatchingJobEventTrigger

    # [START howto_job_events_asset]
    customer_matching_jobs = Asset(
        "entityresolution://matching/customer-matching/jobs",
        watchers=[
            AssetWatcher(
                name="customer_matching_jobs_ended",
                trigger=EntityResolutionMatchingJobEventTrigger(
                    workflow_name="customer-matching",
                    statuses=["SUCCEEDED"],
                    waiter_delay=60,
                ),
            )
        ],
    )
    # [END howto_job_events_asset]

    # [START howto_job_events_consumer]
    with DAG(
        dag_id="example_entityresolution_job_events",
        schedule=[customer_matching_jobs],
        start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        catchup=False,
        tags=["example", "entityresolution"],
    ):

        @task
        def report_matches(*, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
            # Completions close together make one run with several events: read every one.
            reports = []
            for event in (triggering_asset_events or {}).get(customer_matching_jobs, []):
                payload = event.extra["payload"]
                reports.append({"job_id": payload["job_id"], "metrics": payload["job"].get("metrics", {})})
            return reports

        report_matches()
    # [END howto_job_events_consumer]
