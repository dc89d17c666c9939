"""Secrets in the AWS connection never reach the logs, XCom or the serialized trigger."""

from __future__ import annotations

import datetime
import json

import pytest
from airflow_sdk import DAG
from conftest import AIRFLOW_VERSION, finish_once_polled, task_states, xcom_values
from packaging.version import Version

from airflow_entityresolution.emulator import JobScript
from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator
from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor

ACCESS_KEY = "AKIAEXAMPLEACCESSKEY7"
SECRET_KEY = "wJalrXUtnFEMI-secret-key-that-must-not-leak"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE-session-token-that-must-not-leak"
SECRETS = (SECRET_KEY, SESSION_TOKEN)


def without_airflow_30_in_process_mask_requests(log: str) -> str:
    """
    The log without the lines in which Airflow 3.0's ``dag.test()`` prints a secret it is told to mask.

    When a task reads a connection, Airflow's Task SDK sends each secret to its supervisor in a
    ``MaskSecret`` message, so that the supervisor masks it in the logs. The real supervisor logs
    such a message without its body; the in-process one that ``dag.test()`` uses on Airflow 3.0
    logs every message it is sent in full, at debug level (``InProcessSupervisorComms.send``):
    ``Sending request  msg=MaskSecret(value='<secret>', ...)``. Only those lines of Airflow's
    own are left out, and only on 3.0; any other line holding a secret still fails the test.
    """
    if Version("3.1") <= AIRFLOW_VERSION:
        return log
    markers = ("Sending request", "msg=MaskSecret(value=", "type='MaskSecret')")
    return "\n".join(line for line in log.splitlines() if not all(part in line for part in markers))


@pytest.fixture
def secret_connection(entity_resolution_emulator, monkeypatch):
    # Running until a poll saw it (finish_once_polled), so a deferrable sensor defers however
    # slowly the run reaches it.
    entity_resolution_emulator.add_id_mapping_workflow(
        "wf", JobScript(running_seconds=None, metrics={"inputRecords": 1})
    )
    connection = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": SECRET_KEY,
        "extra": {
            "aws_session_token": SESSION_TOKEN,
            "region_name": "us-east-1",
            "endpoint_url": entity_resolution_emulator.endpoint_url,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    return entity_resolution_emulator


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param({"deferrable": False}, id="operator-blocking"),
        pytest.param({"deferrable": True}, id="operator-deferrable"),
        pytest.param({"sensor": True, "mode": "poke"}, id="sensor-poke"),
        pytest.param({"sensor": True, "mode": "reschedule"}, id="sensor-reschedule"),
        pytest.param({"sensor": True, "deferrable": True}, id="sensor-deferrable"),
    ],
)
def test_no_secret_in_logs_xcom_or_trigger(run_dag, secret_connection, stored_triggers, capfd, mode):
    mode = dict(mode)
    as_sensor = mode.pop("sensor", False)
    dag_id = "secrets_" + "_".join(f"{k}_{v}" for k, v in mode.items()) + ("_sensor" if as_sensor else "")
    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)) as dag:
        start = EntityResolutionStartIdMappingJobOperator(
            task_id="start",
            workflow_name="wf",
            wait_for_completion=not as_sensor,
            waiter_delay=0.2,
            **({} if as_sensor else mode),
        )
        if as_sensor:
            start >> EntityResolutionIdMappingJobCompletedSensor(
                task_id="wait",
                workflow_name="wf",
                job_id="{{ ti.xcom_pull(task_ids='start') }}",
                poke_interval=0.2,
                timeout=60,
                **mode,
            )
    finisher = finish_once_polled(secret_connection, "wf")
    dag_run = run_dag(dag)
    finisher.join(timeout=5)
    assert set(task_states(dag_run).values()) == {"success"}
    log = capfd.readouterr()
    assert "ID mapping job" in log.out, "the task log was captured"
    xcoms = json.dumps(xcom_values(dag_run))
    stored = [kwargs for _, kwargs in stored_triggers()]
    if mode.get("deferrable"):
        assert any(kwargs.get("workflow_name") == "wf" for kwargs in stored), (
            "the deferred wait's trigger is stored"
        )
    serialized_triggers = json.dumps(stored, default=str)
    logs = without_airflow_30_in_process_mask_requests(log.out + log.err)
    for secret in SECRETS:
        assert secret not in logs
        assert secret not in xcoms
        assert secret not in serialized_triggers
