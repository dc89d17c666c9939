"""
Defer to an Entity Resolution trigger from an operator of your own.

The provider's operators and sensors defer to these triggers already; an operator of your
own can too. The trigger polls the job in the triggerer and sends exactly one event, whose
payload is plain JSON: ``outcome``, ``kind``, ``workflow_name``, ``job_id``, ``job`` and
``message``. This one returns the final metrics of a matching job that another system
started, and whose ID it passes in the DAG run's conf: ``{"job_id": "..."}``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG, BaseOperator, Context
else:  # Airflow 2.11
    from airflow import DAG
    from airflow.models import BaseOperator
    from airflow.utils.context import Context

from airflow_entityresolution.shapes import JobEvent, JobMetrics


# [START howto_trigger_entityresolution_operator]
class MatchingJobMetricsOperator(BaseOperator):
    """Wait in the triggerer for a matching job to end, and return its final metrics."""

    template_fields: Sequence[str] = ("job_id",)

    def __init__(self, *, workflow_name: str, job_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workflow_name = workflow_name
        self.job_id = job_id

    def execute(self, context: Context) -> None:
        # Imported when the task runs, so that parsing this file does not load it.
        from airflow_entityresolution.triggers import EntityResolutionMatchingJobCompletedTrigger

        self.defer(
            trigger=EntityResolutionMatchingJobCompletedTrigger(
                workflow_name=self.workflow_name,
                job_id=self.job_id,
                # Jobs take minutes to hours: poll every minute in production. The emulator's take seconds.
                waiter_delay=2,
                waiter_max_attempts=60,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: JobEvent) -> JobMetrics:
        if event["outcome"] != "succeeded" or event["job"] is None:
            raise RuntimeError(f"Matching job {event['job_id']} ended {event['outcome']}: {event['message']}")
        return event["job"].get("metrics", {})


# [END howto_trigger_entityresolution_operator]


with DAG(
    dag_id="example_entityresolution_trigger",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution"],
) as dag:
    # [START howto_trigger_entityresolution_task]
    MatchingJobMetricsOperator(
        task_id="matching_metrics",
        workflow_name="customer-matching",
        job_id="{{ dag_run.conf['job_id'] }}",
    )
    # [END howto_trigger_entityresolution_task]
