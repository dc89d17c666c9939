"""
Parsing a DAG file that uses the operators and sensors loads only the modules that build tasks.

Airflow parses every DAG file again and again; the job logic, the errors, the triggers and the
input checks load when a task runs. Each case runs in a fresh interpreter, since this one has
loaded the whole package already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

DAG_FILE = """
import datetime

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator
from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor

with DAG("parse_cost", schedule=None, start_date=datetime.datetime(2026, 1, 1)):
    start = EntityResolutionStartIdMappingJobOperator(
        task_id="start", workflow_name="customer-id-mapping", deferrable=True{operator_options}
    )
    wait = EntityResolutionIdMappingJobCompletedSensor(
        task_id="wait",
        workflow_name="customer-id-mapping",
        job_id="{{{{ ti.xcom_pull(task_ids='start') }}}}",
        deferrable=True{sensor_options}
    )
    start >> wait
"""

RUN_TIME = {
    "clients",
    "emulator",
    "errors",
    "events",
    "jobs",
    "polling",
    "records",
    "shapes",
    "triggers",
    "validation",
}


def run_time_modules_loaded_by(tmp_path, operator_options: str = "", sensor_options: str = "") -> set[str]:
    """The package's run-time modules that a fresh interpreter has loaded once it ran the DAG file."""
    dag_file = tmp_path / "dag.py"
    dag_file.write_text(DAG_FILE.format(operator_options=operator_options, sensor_options=sensor_options))
    script = textwrap.dedent(
        f"""
        import json, runpy, sys
        runpy.run_path({str(dag_file)!r})
        print(json.dumps([name for name in sys.modules if name.startswith("airflow_entityresolution.")]))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    return {name.removeprefix("airflow_entityresolution.") for name in loaded} & RUN_TIME


def test_a_dag_file_loads_no_run_time_module(tmp_path):
    assert run_time_modules_loaded_by(tmp_path) == set()


@pytest.mark.parametrize(
    ("operator_options", "sensor_options", "also"),
    [
        # A limit or an outlet is checked while the file is parsed, so the checks load.
        (", max_records_not_processed=0.01", "", {"validation"}),
        (", output_asset='s3://bucket/output/'", "", {"validation"}),
        ("", ", max_records_not_processed=10", {"validation"}),
    ],
)
def test_what_is_checked_at_parse_time_loads_the_checks_too(tmp_path, operator_options, sensor_options, also):
    assert run_time_modules_loaded_by(tmp_path, operator_options, sensor_options) == also
