"""
Report an Entity Resolution job's lineage to OpenLineage.

Nothing in the DAG asks for lineage: with ``apache-airflow-providers-openlineage`` installed
(``pip install airflow-entityresolution[openlineage]``) and a transport configured, the
provider's listener asks every finished Entity Resolution task for its datasets. This job's
workflow maps IDs from one ID namespace to another; each namespace reads a Glue table, so the
task reports both Glue tables as inputs and the workflow's S3 output location as its output.

To see the events without a lineage backend, write them to a file, as ``make demo`` does:

.. code-block:: bash

    export AIRFLOW__OPENLINEAGE__TRANSPORT='{"type": "file", "append": true,
        "log_file_path": "/tmp/openlineage.jsonl"}'
    export AIRFLOW__OPENLINEAGE__NAMESPACE=entity-resolution-example

Each line of the file is one event; the task's COMPLETE event carries the datasets and an
``entityResolutionJob`` run facet with the job ID, status and metrics.
"""

from __future__ import annotations

import datetime

from airflow_entityresolution.compat import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import DAG
else:  # Airflow 2.11
    from airflow import DAG

from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator

# [START howto_operator_entityresolution_lineage]
with DAG(
    dag_id="example_entityresolution_lineage",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    tags=["example", "entityresolution", "lineage"],
) as dag:
    EntityResolutionStartIdMappingJobOperator(
        task_id="map_loyalty_members",
        workflow_name="loyalty-id-mapping",
        deferrable=True,
        # Jobs take minutes to hours: poll every minute in production. The emulator's jobs take seconds.
        waiter_delay=2,
        waiter_max_attempts=60,
    )
# [END howto_operator_entityresolution_lineage]
