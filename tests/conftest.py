"""Shared test setup: a private Airflow home with a SQLite metadata DB, and helpers to run DAGs for real."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Airflow reads its configuration once, at first import: the home must be set before any test module loads it.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="entityresolution-airflow-home-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir()
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DEFAULT_DEFERRABLE"] = "False"

REPO = Path(__file__).resolve().parent.parent

# A job that FAILED gets this message from the emulator in the tests that script failures.
FAILURE_MESSAGE = "Input table customer_records has no column named email_address"


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the metadata DB once per session, the way a user would: with `airflow db migrate`."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    return AIRFLOW_HOME


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., Any]:
    """
    Run a DAG object through Airflow's own ``dag.test()`` and return the DagRun.

    ``dag.test()`` only runs DAGs the metadata DB knows, so the DAG is first synced as
    the DAG processor would sync a file from the dags folder.
    """

    def run(dag: Any, **kwargs: Any) -> Any:
        sync_dags(dag)
        return dag.test(**kwargs)

    return run


def sync_dags(*dags: Any) -> None:
    """Store DAG objects in the metadata DB as the DAG processor would store a file's DAGs."""
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    bag = BundleDagBag(dag_folder=str(DAGS_FOLDER), bundle_path=str(DAGS_FOLDER), bundle_name="dags-folder")
    for dag in dags:
        bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def task_states(dag_run: Any) -> dict[str, str | None]:
    """Map each task ID of a finished DagRun to its final state."""
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def xcom_value(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """Read one XCom of a finished DagRun back from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
            .one_or_none()
        )
        return None if row is None else row.value


class FailureRecorder:
    """An ``on_failure_callback`` that keeps the exception each failed task ended with."""

    def __init__(self) -> None:
        self.exceptions: dict[str, BaseException] = {}

    def __call__(self, context: Any) -> None:
        self.exceptions[context["ti"].task_id] = context["exception"]


@pytest.fixture
def failures() -> Iterator[FailureRecorder]:
    yield FailureRecorder()


@pytest.fixture
def stored_triggers(airflow_db: Path) -> Callable[[], list[tuple[str, dict[str, Any]]]]:
    """
    Empty the metadata DB's trigger table, then list what the test stores in it.

    Triggers outlive a ``dag.test()`` run, so each test starts from an empty table: a row
    then proves that this test's task really deferred.
    """
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Trigger).delete()

    def stored() -> list[tuple[str, dict[str, Any]]]:
        with create_session() as session:
            return [(trigger.classpath, dict(trigger.kwargs)) for trigger in session.query(Trigger).all()]

    return stored


ROLE_ARN = "arn:aws:iam::123456789012:role/AirflowEntityResolution"
BASE_ACCESS_KEY = "AKIABASECREDENTIALS1"


@pytest.fixture
def sts_endpoint() -> Iterator[str]:
    """moto's STS, served on 127.0.0.1, for connections that assume a role."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def role_assuming_connection(endpoint_url: str, sts_endpoint: str, **assume_role_kwargs: Any) -> str:
    """An AWS connection, as JSON, that assumes ROLE_ARN through moto's STS and calls ``endpoint_url``."""
    import json

    extra: dict[str, Any] = {
        "region_name": "us-east-1",
        "endpoint_url": endpoint_url,
        "role_arn": ROLE_ARN,
        "service_config": {"sts": {"endpoint_url": sts_endpoint}},
    }
    if assume_role_kwargs:
        extra["assume_role_kwargs"] = assume_role_kwargs
    return json.dumps(
        {"conn_type": "aws", "login": BASE_ACCESS_KEY, "password": "base-secret", "extra": extra}
    )
