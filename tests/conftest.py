"""Shared test setup: a private Airflow home with a SQLite metadata DB, and helpers to run DAGs for real."""

from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from packaging.version import Version

# Airflow reads its configuration once, at first import: the home must be set before any test module loads it.
# A Python the suite starts to run a DAG in (tests/openlineage_run.py) shares its process's home and DB.
# Each pytest-xdist worker has a home of its own, since SQLite takes one writer at a time and some tests
# empty a table; the variable is named after the worker, as a worker inherits its controller's environment.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
HOME_VARIABLE = f"ER_TEST_AIRFLOW_HOME_{WORKER.upper()}"
AIRFLOW_HOME = Path(
    os.environ.get(HOME_VARIABLE) or tempfile.mkdtemp(prefix=f"entityresolution-airflow-home-{WORKER}-")
)
DAGS_FOLDER = AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir(exist_ok=True)
os.environ[HOME_VARIABLE] = str(AIRFLOW_HOME)
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DEFAULT_DEFERRABLE"] = "False"

REPO = Path(__file__).resolve().parent.parent

# Users opt into the emulator's fixtures the same way: installing the package loads no plugin.
pytest_plugins = ["airflow_entityresolution.emulator.pytest_plugin"]

# A job that FAILED gets this message from the emulator in the tests that script failures.
FAILURE_MESSAGE = "Input table customer_records has no column named email_address"

# The suite runs on the oldest Airflow the provider supports (2.11) and on the newest. Where the two
# differ in how a test reaches the metadata DB or has a DAG parsed, the helpers below take the one way
# or the other, and no test asks; the provider itself relies on the common-compat layer.
# Read from the distribution: importing Airflow here would read its configuration before the home is set.
AIRFLOW_VERSION = Version(importlib.metadata.version("apache-airflow"))
AIRFLOW_3 = AIRFLOW_VERSION.major >= 3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lineage_process: runs a DAG in a fresh Python with the OpenLineage listener; slow"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the real-process tiers that the Makefile says this profile leaves to others."""
    skipped_tiers = [tier for tier in os.environ.get("ER_SKIPPED_TIERS", "").split(",") if tier]
    profile = os.environ.get("ER_PROFILE", "this")
    for item in items:
        for tier in skipped_tiers:
            if item.get_closest_marker(tier):
                reason = (
                    f"the {tier} tier runs only in the profiles where its behaviour differs, and the "
                    f"{profile} profile takes another's paths (PROCESS_TIERS in scripts/profiles.py)"
                )
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the metadata DB once per session, the way a user would: with `airflow db migrate`."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    if AIRFLOW_3:
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.utils.session import create_session

        with create_session() as session:
            DagBundlesManager().sync_bundles_to_db(session=session)
    return AIRFLOW_HOME


def parse_dag_folder(folder: Path, bundle_name: str) -> Any:
    """
    Parse every DAG file in ``folder`` as Airflow's DAG processor does.

    The bag has ``dags`` and ``import_errors``; Airflow 2 has no DAG bundles, and ignores ``bundle_name``.
    """
    try:
        # Airflow 3.2 and later: the DAG processor's own bag, bound to a bundle.
        from airflow.dag_processing.dagbag import BundleDagBag
    except ImportError:
        from airflow.models.dagbag import DagBag

        bundle = {"bundle_path": folder} if AIRFLOW_3 else {}
        return DagBag(dag_folder=str(folder), include_examples=False, safe_mode=False, **bundle)
    return BundleDagBag(dag_folder=str(folder), bundle_path=str(folder), bundle_name=bundle_name)


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
    bag = parse_dag_folder(DAGS_FOLDER, "dags-folder")
    for dag in dags:
        if AIRFLOW_3:
            # The DAG processor sets it for the files it reads; Airflow 3.0 and 3.1 need it on any DAG stored.
            dag.relative_fileloc = getattr(dag, "relative_fileloc", None) or Path(dag.fileloc).name
            bag.bag_dag(dag)
        else:
            bag.bag_dag(dag, root_dag=dag)
    if not AIRFLOW_3:
        bag.sync_to_db()
        return
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:
        try:
            from airflow.models.dagbag import sync_bag_to_db  # Airflow 3.1
        except ImportError:
            bag.sync_to_db("dags-folder", None)  # Airflow 3.0
            return
    sync_bag_to_db(bag, "dags-folder", None)


class AssetTables(NamedTuple):
    """The metadata DB's asset tables, and the columns that join events and queued runs to an asset."""

    model: Any
    event: Any
    dag_run_queue: Any
    event_asset_id: Any
    queue_asset_id: Any


def asset_tables() -> AssetTables:
    """Airflow 3's asset tables, or Airflow 2's, where assets are called datasets."""
    if AIRFLOW_3:
        from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel

        return AssetTables(
            AssetModel, AssetEvent, AssetDagRunQueue, AssetEvent.asset_id, AssetDagRunQueue.asset_id
        )
    from airflow.models.dataset import DatasetDagRunQueue, DatasetEvent, DatasetModel

    return AssetTables(
        DatasetModel, DatasetEvent, DatasetDagRunQueue, DatasetEvent.dataset_id, DatasetDagRunQueue.dataset_id
    )


def task_states(dag_run: Any) -> dict[str, str | None]:
    """Map each task ID of a finished DagRun to its final state."""
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def xcom_values(dag_run: Any, **filters: str) -> list[Any]:
    """Read the XComs of a finished DagRun back from the metadata DB, optionally only some tasks' or keys'."""
    from airflow.utils.session import create_session

    if AIRFLOW_3:
        from airflow.models.xcom import XComModel as XComRow
    else:
        from airflow.models.xcom import XCom as XComRow
    with create_session() as session:
        rows = session.query(XComRow).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, **filters)
        return [row.value for row in rows]


def xcom_value(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """Read one XCom of a finished DagRun back from the metadata DB."""
    values = xcom_values(dag_run, task_id=task_id, key=key)
    assert len(values) <= 1, values
    return values[0] if values else None


def start_once_records() -> dict[str, Any]:
    """The start-once records the metadata DB's Variables hold, by key: the value each keeps."""
    import json

    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    from airflow_entityresolution.records import StartedJobRecord

    with create_session() as session:
        rows = session.query(Variable).all()
        return {
            row.key: json.loads(row.get_val()) for row in rows if row.key.startswith(StartedJobRecord.PREFIX)
        }


class FailureRecorder:
    """An ``on_failure_callback`` that keeps the exception each failed task ended with."""

    def __init__(self) -> None:
        self.exceptions: dict[str, BaseException] = {}

    def __call__(self, context: Any) -> None:
        self.exceptions[context["ti"].task_id] = context["exception"]


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch) -> Iterator[FailureRecorder]:
    """
    A :class:`FailureRecorder` to pass as ``on_failure_callback``.

    Airflow's task process puts the task's error in the context before the failure callbacks
    run (``task_runner.main``); ``dag.test()`` on Airflow 3.0 to 3.2 calls the same ``finalize``
    without that step, so there the error is put in as the task process would.
    """
    if AIRFLOW_3:
        from airflow.sdk.execution_time import task_runner

        finalize = task_runner.finalize

        def finalize_as_the_task_process_does(
            ti: Any, state: Any, context: Any, log: Any, error: Any = None, *args: Any, **kwargs: Any
        ) -> Any:
            context.setdefault("exception", error)
            return finalize(ti, state, context, log, error, *args, **kwargs)

        monkeypatch.setattr(task_runner, "finalize", finalize_as_the_task_process_does)
    yield FailureRecorder()


@pytest.fixture
def stored_triggers(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], list[tuple[str, dict[str, Any]]]]:
    """
    List the triggers the test's tasks deferred to, as stored for a triggerer: classpath and kwargs.

    Airflow 3's ``dag.test()`` stores each deferral in the metadata DB's trigger table, which
    this empties first (triggers outlive a run): a row then proves that this test's task
    really deferred. Airflow 2's ``dag.test()`` runs the trigger in line without storing it;
    there each trigger it runs is recorded in its serialized form, the row a deferral stores.
    """
    if not AIRFLOW_3:
        import airflow.models.dag as dag_module

        deferred: list[tuple[str, dict[str, Any]]] = []
        run_inline_trigger = dag_module._run_inline_trigger

        def record_and_run(trigger: Any) -> Any:
            classpath, kwargs = trigger.serialize()
            deferred.append((classpath, dict(kwargs)))
            return run_inline_trigger(trigger)

        monkeypatch.setattr(dag_module, "_run_inline_trigger", record_and_run)
        return lambda: list(deferred)

    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Trigger).delete()

    def stored() -> list[tuple[str, dict[str, Any]]]:
        with create_session() as session:
            return [(trigger.classpath, dict(trigger.kwargs)) for trigger in session.query(Trigger).all()]

    return stored


@pytest.fixture
def edited_botocore_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Callable[[Any], None]], None]:
    """
    Make every new botocore session load the entityresolution model as ``edit`` leaves it.

    botocore reads models from ``AWS_DATA_PATH`` before its own, so stock boto3 and aiobotocore
    clients load the edited one: a botocore release's model, without installing that release.
    """
    import json

    import boto3
    import botocore.session

    # boto3.client() reuses one default session, whose loader read AWS_DATA_PATH when it was made.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)

    def use(edit: Callable[[Any], None]) -> None:
        loader = botocore.session.get_session().get_component("data_loader")
        model = loader.load_service_model("entityresolution", "service-2")
        edit(model)
        folder = tmp_path / "botocore-data" / "entityresolution" / model["metadata"]["apiVersion"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "service-2.json").write_text(json.dumps(model))
        monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path / "botocore-data"))

    return use


JOB_TYPE_SHAPE = {"type": "string", "enum": ["BATCH", "INCREMENTAL", "DELETE_ONLY"]}
JOB_TYPE_SHAPES = ("StartIdMappingJobInput", "StartIdMappingJobOutput", "GetIdMappingJobOutput")


@pytest.fixture
def botocore_with_job_type(edited_botocore_model: Callable[[Callable[[Any], None]], None]) -> None:
    """
    A botocore that knows ``jobType`` (1.40.37 and later), whichever the profile pins.

    The service takes ``jobType`` whatever the client: tests that send it do so in every
    profile, and those that check what an older botocore does use ``edited_botocore_model``.
    """

    def add_job_type(model: Any) -> None:
        model["shapes"].setdefault("JobType", JOB_TYPE_SHAPE)
        for shape in JOB_TYPE_SHAPES:
            model["shapes"][shape]["members"].setdefault("jobType", {"shape": "JobType"})

    edited_botocore_model(add_job_type)


ROLE_ARN = "arn:aws:iam::123456789012:role/AirflowEntityResolution"
BASE_ACCESS_KEY = "AKIABASECREDENTIALS1"


@pytest.fixture
def sts_endpoint() -> Iterator[str]:
    """moto's STS, served on 127.0.0.1, for connections that assume a role."""
    from moto.server import ThreadedMotoServer

    # A port chosen here: moto 5.0 cannot report the one it would pick itself.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
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


@pytest.fixture(autouse=True)
def reschedule_start_dates_as_a_worker_reads_them(monkeypatch):
    """
    On Airflow 3.0, give the sensors of ``dag.test()`` their first reschedule date as a datetime.

    A reschedule-mode sensor asks its supervisor when it first ran, to time itself out. Airflow
    3.0's API client builds that answer without validating it (``model_construct``), so it holds
    the API's JSON string; a real worker's task process still gets a datetime, since the answer
    is decoded and validated on its way through the supervisor's socket. The in-process supervisor
    of ``dag.test()`` hands over the object as is, and ``BaseSensorOperator`` then fails on
    ``utcnow() - '<string>'`` at the first reschedule. Airflow 3.1 validates the answer in the
    client; this does the same on 3.0.
    """
    if not Version("3") <= AIRFLOW_VERSION < Version("3.1"):
        return
    from airflow.sdk.api.client import TaskInstanceOperations
    from airflow.sdk.execution_time.comms import TaskRescheduleStartDate

    unvalidated = TaskInstanceOperations.get_reschedule_start_date

    def validated(self, *args, **kwargs):
        answer = unvalidated(self, *args, **kwargs)
        return TaskRescheduleStartDate.model_validate({"start_date": answer.start_date})

    monkeypatch.setattr(TaskInstanceOperations, "get_reschedule_start_date", validated)


def finish_once_polled(
    emulator: Any, workflow_name: str, operation: str = "GetIdMappingJob"
) -> threading.Thread:
    """
    End the workflow's job once a poll saw it unfinished, however late the run reaches the wait.

    :param operation: the poll: ``GetIdMappingJob``, or ``GetMatchingJob`` for a matching workflow.
    """
    return finish_once(emulator, workflow_name, lambda: emulator.count(operation) >= 1, f"a {operation}")


def finish_once(emulator: Any, workflow_name: str, seen: Callable[[], bool], what: str) -> threading.Thread:
    """
    End the workflow's one job, in a thread, as soon as ``seen`` says the emulator answered ``what``.

    :param seen: the check, called every 50 ms for at most 60 s.
    :param what: what ``seen`` waits for, for the error message.
    """

    def finish() -> None:
        deadline = time.monotonic() + 60
        while not seen():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within 60 s")
            time.sleep(0.05)
        [job] = emulator.jobs(workflow_name)
        emulator.finish_job(job.job_id)

    finisher = threading.Thread(target=finish, daemon=True)
    finisher.start()
    return finisher
