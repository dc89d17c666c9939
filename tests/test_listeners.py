"""
A sensor that starts and ends in the triggerer sets ``end_from_trigger``, as Airflow's own
``TimeSensor`` does, so that Airflow's DAG checks see it: no worker runs such a task, so no
listener (the OpenLineage provider's, for one) hears of it, and Airflow refuses the DAG when a
listener plugin is installed rather than leaving the listener to miss it silently.

The DAG files are parsed by Airflow's own ``DagBag`` in a fresh interpreter, with a real
listener plugin in its plugins folder: plugins load once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_entityresolution.compat import TRIGGERER_RENDERS_TEMPLATES

LISTENER_PLUGIN = """
import sys

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin


@hookimpl
def on_task_instance_success(previous_state, task_instance, *args, **kwargs):
    print("listener heard", task_instance.task_id)


class TaskListenerPlugin(AirflowPlugin):
    name = "task_listener"
    listeners = [sys.modules[__name__]]
"""

SENSOR_DAG = """
import datetime

from airflow_entityresolution.sensors import EntityResolutionMatchingJobCompletedSensor

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

with DAG("{dag_id}", schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)):
    EntityResolutionMatchingJobCompletedSensor(
        task_id="wait",
        workflow_name="customer-matching",
        job_id="{{{{ params.job_id }}}}",
        {mode},
    )
"""

PARSE = """
import json
import sys

try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag

# Examples are off: the suite sets AIRFLOW__CORE__LOAD_EXAMPLES=False.
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
errors = [str(error) for error in bag.import_errors.values()]
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": errors}))
"""


def parse(tmp_path: Path, *, with_listener: bool) -> dict[str, list[str]]:
    """Parse the two sensor DAGs with Airflow's DagBag, with or without a listener plugin installed."""
    dags = tmp_path / "dags"
    dags.mkdir(exist_ok=True)
    for dag_id, mode in (("in_triggerer", "start_from_trigger=True"), ("deferred", "deferrable=True")):
        (dags / f"{dag_id}.py").write_text(SENSOR_DAG.format(dag_id=dag_id, mode=mode))
    plugins = tmp_path / ("plugins" if with_listener else "no-plugins")
    plugins.mkdir(exist_ok=True)
    if with_listener:
        (plugins / "task_listener.py").write_text(textwrap.dedent(LISTENER_PLUGIN))
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins)}
    completed = subprocess.run(
        [sys.executable, "-c", PARSE, str(dags)], capture_output=True, text=True, env=env, timeout=240
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    parsed: dict[str, list[str]] = json.loads(completed.stdout.strip().splitlines()[-1])
    return parsed


def test_without_a_listener_both_sensor_dags_load(tmp_path):
    assert parse(tmp_path, with_listener=False) == {"dags": ["deferred", "in_triggerer"], "errors": []}


@pytest.mark.skipif(not TRIGGERER_RENDERS_TEMPLATES, reason="this Airflow starts such a sensor on a worker")
def test_with_a_listener_airflow_refuses_a_sensor_that_ends_in_the_triggerer(tmp_path):
    parsed = parse(tmp_path, with_listener=True)
    assert parsed["dags"] == ["deferred"], "the deferred sensor resumes on a worker, where listeners run"
    [error] = parsed["errors"]
    assert "end_from_trigger=True" in error
    assert "Listeners are not supported" in error


@pytest.mark.skipif(TRIGGERER_RENDERS_TEMPLATES, reason="this Airflow starts the sensor in the triggerer")
def test_with_a_listener_a_sensor_that_falls_back_to_a_worker_loads(tmp_path):
    """Before Airflow 3.3 the sensor starts on a worker and ends there, where listeners hear of it."""
    assert parse(tmp_path, with_listener=True) == {"dags": ["deferred", "in_triggerer"], "errors": []}
