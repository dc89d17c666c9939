"""
A whole Airflow deployment for end-to-end tests and benchmarks: :class:`AirflowStack`.

An :class:`AirflowStack` owns a private ``AIRFLOW_HOME`` with a metadata DB created by
``airflow db migrate`` (SQLite in the home by default, or any :class:`MetadataDatabase`), and
Airflow's processes on it. Tests drive it the way an operator of an Airflow deployment would:
through the REST API (``stack.api``), the CLI's processes and signals (``stack.processes``), and
read what happened from the metadata DB (``stack.db``) and the log files (``stack.logs``). Every
wait is bounded, and :meth:`AirflowStack.stop` ends every process the stack started, descendants
included.

The executor is the LocalExecutor by default, on SQLite. Airflow 2 refused that pair (SQLite
allowed only the SequentialExecutor); Airflow 3 removed the SequentialExecutor, and 3.3 runs the
LocalExecutor on SQLite without a word. SQLite takes one writer at a time, which four processes and
a task or two share without trouble at this scale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dag_files import write_dag_file
from .logs import StackLogs
from .metadata_db import (
    TERMINAL_TASK_STATES,
    MetadataDatabase,
    MetadataReader,
    SqliteDatabase,
    TaskInstanceRow,
)
from .processes import COMPONENTS, AirflowProcesses, airflow_environment
from .rest_api import RestApi
from .waiting import StackError, free_port, wait_for


@dataclass
class AirflowStack:
    """
    Airflow's processes on a private home and metadata DB.

    :param home: the ``AIRFLOW_HOME``; created if missing, and its ``dags`` folder with it.
    :param env_extra: variables added to every process's environment, e.g. ``AIRFLOW_CONN_*``.
    :param database: the metadata DB; a SQLite file in ``home`` if ``None``.
    :param executor: the executor, e.g. ``CeleryExecutor``, whose workers the test starts by name.
    :param layout: what :meth:`start_all` starts: process names, each with the component it runs
        (``{"triggerer-a": "triggerer", "triggerer-b": "triggerer"}``); one of each of
        :data:`~airflow_stack.processes.COMPONENTS`, named after it, by default.
    :param worker_concurrency: the task slots of each Celery worker.
    :param api_port: the API server's port on 127.0.0.1; a free one by default.
    """

    home: Path
    env_extra: Mapping[str, str] = field(default_factory=dict)
    database: MetadataDatabase | None = None
    executor: str = "LocalExecutor"
    layout: Mapping[str, str] = field(default_factory=lambda: {name: name for name in COMPONENTS})
    worker_concurrency: int = 4
    api_port: int = field(default_factory=free_port)
    processes: AirflowProcesses = field(init=False)
    db: MetadataReader = field(init=False)
    api: RestApi = field(init=False)
    logs: StackLogs = field(init=False)

    def __post_init__(self) -> None:
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        database = self.database or SqliteDatabase(self.home / "airflow.db")
        env = airflow_environment(
            self.home, self.api_port, self.env_extra, database_url=database.url, executor=self.executor
        )
        self.processes = AirflowProcesses(
            self.home, env, self.home / "process-logs", self.api_port, self.layout, self.worker_concurrency
        )
        self.db = MetadataReader(database)
        self.api = RestApi(f"http://127.0.0.1:{self.api_port}")
        self.logs = StackLogs(self.processes.log_folder, self.home / "logs", self.db)

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    def write_dag_file(self, filename: str, source: str) -> Path:
        """Write a DAG file into the dags folder, atomically so the DAG processor never parses half of it."""
        return write_dag_file(self.dags_folder, filename, source)

    def deploy_dags(self, dags: Mapping[str, str], timeout: float = 90) -> None:
        """
        Write each DAG's file, ``<DAG ID>.py``, then wait until the DAG processor has parsed them all.

        :param dags: the source of each DAG file, by DAG ID.
        :param timeout: seconds to wait for each DAG.
        """
        for dag_id, source in dags.items():
            self.write_dag_file(f"{dag_id}.py", source)
        self.wait_for_dags(dags, timeout)

    def migrate_db(self, timeout: float = 180) -> None:
        """Create the metadata DB with ``airflow db migrate``, as a deployment does."""
        self.processes.run(["db", "migrate"], "db-migrate", timeout)

    def start_all(self, timeout: float = 120) -> None:
        """Start every process of the layout; wait until the API server answers and all are healthy."""
        for name in self.layout:
            self.processes.start(name)
        self.wait_until_healthy(timeout=timeout)

    def start_job_process(self, name: str, job_type: str, timeout: float = 120) -> int:
        """
        Start a process that runs as a ``job`` row of ``job_type`` (``TriggererJob``, ...), and return
        its row's ID once it is there; the row keeps no pid, so start such processes one at a time.
        """
        previous = self.db.latest_job_id(job_type) or 0
        self.processes.start(name)

        def registered() -> int | None:
            self.processes.check_alive([name])
            latest = self.db.latest_job_id(job_type)
            return latest if latest is not None and latest > previous else None

        return wait_for(f"{name} to register as a {job_type}", registered, timeout, hint=self.logs.hint())

    def wait_until_healthy(self, timeout: float = 120) -> dict[str, Any]:
        """Wait until ``/api/v2/monitor/health`` reports every component healthy, and return the report."""

        def healthy() -> dict[str, Any] | None:
            self.processes.check_alive()
            return self.api.healthy()

        return wait_for("every Airflow component to report healthy", healthy, timeout, hint=self.logs.hint())

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 90) -> None:
        """
        Wait until the DAG processor has parsed and stored each DAG, active and unpaused.

        :param dag_ids: the DAGs.
        :param timeout: seconds to wait for each DAG.
        """
        for dag_id in dag_ids:
            self.wait_for_dag(dag_id, timeout)

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        """Wait until the DAG processor has parsed and stored a DAG, active and unpaused."""

        def parsed() -> bool:
            self.processes.check_alive()
            return self.db.dag_is_ready(dag_id)

        wait_for(
            f"DAG {dag_id} to be parsed",
            parsed,
            timeout,
            hint=lambda: f"Import errors: {self.db.import_errors()}",
        )

    def wait_for_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Collection[str],
        timeout: float,
        *,
        try_number: int | None = None,
    ) -> TaskInstanceRow:
        """
        Wait until a task instance is in one of ``states`` (at ``try_number``, if given) and return it.

        Fails at once, instead of at the timeout, if the task reaches a terminal state not in
        ``states``, or if a process of the stack died.
        """
        last: list[TaskInstanceRow | None] = [None]

        def reached() -> TaskInstanceRow | None:
            self.processes.check_alive()
            ti = last[0] = self.db.task_instance(dag_id, run_id, task_id)
            if ti is None or (try_number is not None and ti.try_number != try_number):
                return None
            if ti.state in states:
                return ti
            if ti.state in TERMINAL_TASK_STATES:
                raise StackError(
                    f"{dag_id}.{task_id} ended {ti.state}, not {sorted(states)}.\n"
                    + self.logs.task_log(dag_id, run_id, task_id)[-6000:]
                )
            return None

        return wait_for(
            f"{dag_id}.{task_id} in {run_id} to be {sorted(states)}"
            + ("" if try_number is None else f" at try {try_number}"),
            reached,
            timeout,
            hint=lambda: f"Last seen: {last[0]}. {self.logs.hint()}",
        )

    def stop(self, grace: float = 5) -> None:
        """End every process this stack started, and their descendants; safe to call more than once."""
        self.processes.stop(grace)


@contextlib.contextmanager
def running_stack(
    home: Path, env_extra: Mapping[str, str], dags: Mapping[str, str]
) -> Iterator[AirflowStack]:
    """
    Airflow's processes on ``home`` with ``dags`` written and parsed; all stopped on the way out.

    :param home: the stack's ``AIRFLOW_HOME``.
    :param env_extra: variables added to every process's environment, e.g. ``AIRFLOW_CONN_*``.
    :param dags: the source of each DAG file, by DAG ID; each is written to ``<DAG ID>.py``.
    """
    stack = AirflowStack(home, env_extra)
    try:
        for dag_id, source in dags.items():
            stack.write_dag_file(f"{dag_id}.py", source)
        stack.migrate_db()
        stack.start_all()
        stack.wait_for_dags(dags)
        yield stack
    finally:
        stack.stop()
