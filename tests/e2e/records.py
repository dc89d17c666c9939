"""
Where the operator records the job a try started, named as the operator names it, for tests that
read the record from a stack's metadata DB.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace


def started_job_record_key(dag_id: str, run_id: str, task_id: str) -> str:
    """The Variable key under which the operator records the job a try of a task started."""
    from airflow_entityresolution.records import StartedJobRecord

    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=-1)
    return StartedJobRecord.for_task({"ti": ti}, logging.getLogger(__name__)).key  # type: ignore[arg-type]
