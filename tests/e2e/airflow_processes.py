"""
Run Airflow's own processes (API server, scheduler, DAG processor, triggerer) for end-to-end tests.

An :class:`AirflowStack` owns a private ``AIRFLOW_HOME`` with a metadata DB created by
``airflow db migrate`` (SQLite in the home by default, or any :class:`MetadataDatabase`), and
starts each component as ``airflow <component>`` in its own process group, with its output in its
own log file; a component may run several times under names of its own (two triggerers).
Tests drive it the way an operator of an Airflow deployment would: through the REST API, the
CLI's processes and signals, and read what happened from the metadata DB and the task log files.
Every wait is bounded, and :meth:`AirflowStack.stop` ends every process the stack started,
descendants included.

The executor is the LocalExecutor by default, on SQLite. Airflow 2 refused that pair (SQLite
allowed only the SequentialExecutor); Airflow 3 removed the SequentialExecutor, and 3.3 runs the
LocalExecutor on SQLite without a word. SQLite takes one writer at a time, which four processes and
a task or two share without trouble at this scale.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar

import psutil

AIRFLOW = [sys.executable, "-m", "airflow"]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Started by name with :meth:`AirflowStack.start`, not by :meth:`AirflowStack.start_all`'s default.
CELERY_WORKER = "celery-worker"
# What :meth:`AirflowStack.worker_traces` finds on a task instance no worker ever ran.
NO_WORKER = {"queued": None, "hostname": None, "pid": None, "worker logs": []}
TERMINAL_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
# At least 64 bytes, or PyJWT warns about a short HMAC key in every process log.
JWT_SECRET = "entityresolution-e2e-jwt-secret-not-for-production-" + "0123456789abcdef" * 2
# A fixed, valid Fernet key: every process must decrypt what another one encrypted (Variables).
FERNET_KEY = "Pb6HMlTsxn-hRAyEqPX3NCY5LwoMZyUaBWQ9mHvVCtU="

# Credentials for a stack whose ``aws_default`` points at the emulator, which checks none.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

T = TypeVar("T")


class StackError(RuntimeError):
    """
    Something the stack was asked to do did not happen in time; the message says what and where to look.

    Not an ``AssertionError``: a test that expects an assertion to fail must not pass on a stuck stack.
    """


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.5,
    hint: str | Callable[[], str] = "",
) -> T:
    """
    Call ``probe`` until it returns a true value (a non-empty list, a row, ``True``), and return that.

    :param what: what is awaited, for the error message.
    :param probe: the check; exceptions it raises propagate.
    :param timeout: seconds before giving up with :class:`StackError`.
    :param interval: seconds between calls.
    :param hint: appended to the error message, e.g. a log to read; a callable is called at the timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = hint() if callable(hint) else hint
            raise StackError(f"Timed out after {timeout:g}s waiting for {what}. {detail}".rstrip())
        time.sleep(interval)


class MetadataDatabase(Protocol):
    """Where a stack keeps its metadata: the URL Airflow's processes use, and a reader for the tests."""

    @property
    def url(self) -> str:
        """The SQLAlchemy URL, as ``[database] sql_alchemy_conn`` takes it."""
        ...

    def query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query, its parameters written ``?``, and return the rows."""
        ...


@dataclass(frozen=True)
class SqliteDatabase:
    """
    A SQLite metadata DB in one file, read in read-only mode.

    :param path: the database file; ``airflow db migrate`` creates it.
    """

    path: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql, tuple(parameters)).fetchall()
        finally:
            connection.close()


def airflow_environment(
    home: Path,
    api_port: int,
    extra: Mapping[str, str] | None = None,
    *,
    database_url: str | None = None,
    executor: str = "LocalExecutor",
) -> dict[str, str]:
    """
    Build the environment of every Airflow process of a stack.

    The test process's own ``AIRFLOW_*`` and AWS variables are dropped: the test session points
    them at its in-process Airflow home and fixtures, which the stack must not share.

    :param home: the stack's ``AIRFLOW_HOME``.
    :param api_port: the API server's port on 127.0.0.1.
    :param extra: more variables, applied last (connections, tuning).
    :param database_url: the metadata DB's SQLAlchemy URL; a SQLite file in ``home`` by default.
    :param executor: the executor the scheduler runs tasks with.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AIRFLOW", "AWS_", "_AIRFLOW"))
    }
    api_url = f"http://127.0.0.1:{api_port}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url or f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": executor,
            # The LocalExecutor forks this many workers up front; a few are plenty and spare a 2-core box.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": JWT_SECRET,
            "AIRFLOW__API__SECRET_KEY": JWT_SECRET,
            # Every REST call is an admin's: the tests exercise the provider, not Airflow's auth.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # New DAG files are seen within a second or two; files already parsed are not parsed again
            # for the life of the stack, since each parse imports the Amazon provider (seconds of CPU).
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # A triggerer that stops heartbeating for this long is dead, and its triggers go to another.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
            # A task whose worker died is noticed after this long without a heartbeat (default 300s).
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "2",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class TaskInstanceRow:
    """A task instance as the metadata DB holds it."""

    id: str
    state: str | None
    try_number: int
    trigger_id: int | None
    pid: int | None


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
        :data:`COMPONENTS`, named after it, by default.
    :param worker_concurrency: the task slots of each Celery worker.
    """

    home: Path
    env_extra: Mapping[str, str] = field(default_factory=dict)
    database: MetadataDatabase | None = None
    executor: str = "LocalExecutor"
    layout: Mapping[str, str] = field(default_factory=lambda: {name: name for name in COMPONENTS})
    worker_concurrency: int = 4
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)
    _generations: dict[str, int] = field(default_factory=dict, init=False)
    _all_started: list[psutil.Process] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.process_log_folder.mkdir(parents=True, exist_ok=True)
        if self.database is None:
            self.database = SqliteDatabase(self.home / "airflow.db")
        self.env = airflow_environment(
            self.home, self.api_port, self.env_extra, database_url=self.database.url, executor=self.executor
        )

    # Where things are.

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    @property
    def task_log_folder(self) -> Path:
        return self.home / "logs"

    @property
    def process_log_folder(self) -> Path:
        return self.home / "process-logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    # Setting up.

    def write_dag_file(self, filename: str, source: str) -> Path:
        """Write a DAG file into the dags folder, atomically so the DAG processor never parses half of it."""
        path = self.dags_folder / filename
        partial = path.with_suffix(".partial")
        partial.write_text(source)
        partial.replace(path)
        return path

    def migrate_db(self, timeout: float = 180) -> None:
        """Create the metadata DB with ``airflow db migrate``, as a deployment does."""
        log_path = self.process_log_folder / "db-migrate.log"
        with log_path.open("wb") as log:
            result = subprocess.run(
                [*AIRFLOW, "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            raise StackError(f"airflow db migrate exited {result.returncode}; see {log_path}")

    # Processes.

    def command(self, name: str) -> list[str]:
        """The ``airflow`` command line of a process of the layout (or of a component, by its name)."""
        component = self.layout.get(name, name)
        # Logs are read from files here; serving them would hold fixed ports a restart then fights for.
        commands: dict[str, Sequence[str]] = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port), "-w", "1"],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            # Its own Celery node name, so that two workers on one host do not take each other for a clash.
            CELERY_WORKER: [
                "celery",
                "worker",
                "--skip-serve-logs",
                "--celery-hostname",
                f"{name}@%h",
                "--concurrency",
                str(self.worker_concurrency),
            ],
        }
        if component not in commands:
            raise ValueError(f"Unknown component {component!r}; one of {sorted(commands)}")
        return [*AIRFLOW, *commands[component]]

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """
        Start the process ``name`` of the layout (or the component of that name) in its own process
        group, with output to its own log file.

        A process started again after :meth:`kill` logs to a new file (``triggerer-2.log``, ...).
        """
        command = self.command(name)
        running = self.processes.get(name)
        if running is not None and running.poll() is None:
            raise StackError(f"{name} is already running as pid {running.pid}")
        generation = self._generations.get(name, 0) + 1
        self._generations[name] = generation
        log_path = self.process_log_folder / f"{name}-{generation}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own group, so that a kill or a stop reaches its children and no one else.
                start_new_session=True,
            )
        self.processes[name] = process
        with contextlib.suppress(psutil.Error):
            self._all_started.append(psutil.Process(process.pid))
        return process

    def start_job_process(self, name: str, job_type: str, timeout: float = 120) -> int:
        """
        Start a process that runs as a ``job`` row of ``job_type`` (``TriggererJob``, ...), and return
        its row's ID once it is there; the row keeps no pid, so start such processes one at a time.
        """
        previous = self.latest_job_id(job_type) or 0
        self.start(name)

        def registered() -> int | None:
            self.check_alive([name])
            latest = self.latest_job_id(job_type)
            return latest if latest is not None and latest > previous else None

        return wait_for(f"{name} to register as a {job_type}", registered, timeout, hint=self.log_hint())

    def start_all(self, timeout: float = 120) -> None:
        """Start every process of the layout; wait until the API server answers and all are healthy."""
        for name in self.layout:
            self.start(name)
        self.wait_until_healthy(timeout=timeout)

    def wait_until_healthy(self, timeout: float = 120) -> dict[str, Any]:
        """Wait until ``/api/v2/monitor/health`` reports every component healthy, and return the report."""

        def healthy() -> dict[str, Any] | None:
            self.check_alive()
            try:
                report = self.api("GET", "/api/v2/monitor/health", timeout=5)
            except (OSError, StackError):
                return None
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            if all((report.get(part) or {}).get("status") == "healthy" for part in parts):
                return report
            return None

        return wait_for("every Airflow component to report healthy", healthy, timeout, hint=self.log_hint())

    def check_alive(self, components: Iterable[str] | None = None) -> None:
        """Raise :class:`StackError`, naming the log to read, if a started component has exited."""
        for component in components or list(self.processes):
            process = self.processes.get(component)
            if process is not None and process.poll() is not None:
                raise StackError(
                    f"{component} exited with {process.returncode}; "
                    f"see {self.process_log_folder}/{component}-{self._generations[component]}.log"
                )

    def process_tree(self, component: str) -> list[psutil.Process]:
        """The component's process and all its descendants, parents first."""
        process = self.processes.get(component)
        if process is None:
            return []
        try:
            root = psutil.Process(process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self, component: str, timeout: float = 15) -> list[int]:
        """
        SIGKILL a component's process and every descendant at once, as an OOM kill or a lost node would.

        Nothing gets the chance to clean up, deregister or finish a trigger. Returns the killed pids.
        """
        process = self.processes.get(component)
        if process is None:
            raise StackError(f"{component} was never started")
        tree = self.process_tree(component)
        kill_processes(tree, signal.SIGKILL)
        # A child that left the group (a new session) is in `tree`; the group catches any forked since.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
        _, alive = psutil.wait_procs(tree, timeout=timeout)
        if alive:
            raise StackError(f"Processes of {component} survived SIGKILL: {[p.pid for p in alive]}")
        return [member.pid for member in tree]

    def restart(self, component: str) -> subprocess.Popen[bytes]:
        """Start a replacement for a component that was killed; it gets a new ``job`` row and log file."""
        self.check_alive([name for name in self.processes if name != component])
        return self.start(component)

    def stop(self, grace: float = 5) -> None:
        """
        End every process this stack started, and their descendants: SIGTERM, then SIGKILL after ``grace``.

        Safe to call more than once, and after a failed start.
        """
        members: dict[int, psutil.Process] = {}
        for started in self._all_started:
            with contextlib.suppress(psutil.Error):
                if started.is_running():
                    members[started.pid] = started
                    for child in started.children(recursive=True):
                        members[child.pid] = child
        tree = list(members.values())
        kill_processes(tree, signal.SIGTERM)
        _, alive = psutil.wait_procs(tree, timeout=grace)
        kill_processes(alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    # Logs.

    def process_log(self, component: str) -> str:
        """The output of every generation of a process (by its name in the layout), oldest first."""
        generation = re.compile(re.escape(component) + r"-(\d+)")
        paths = sorted(
            (path for path in self.process_log_folder.glob("*.log") if generation.fullmatch(path.stem)),
            key=lambda path: int(path.stem.rsplit("-", 1)[1]),
        )
        return "\n".join(path.read_text(errors="replace") for path in paths)

    def log_hint(self) -> str:
        return f"Process logs: {self.process_log_folder}"

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """A task's log files: one per try (``attempt=N.log``) and one per trigger run (``*.trigger.*``)."""
        folder = self.task_log_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, attempt: int | None = None, triggers: bool = True
    ) -> str:
        """
        A task's log text: every file of it, or only those of one ``attempt``.

        :param triggers: include the logs of the task's trigger runs, which the triggerer writes beside
            the try's own log (``attempt=N.log.trigger.<triggerer job id>.log``).
        """
        files = self.task_log_files(dag_id, run_id, task_id)
        if attempt is not None:
            files = [path for path in files if path.name.startswith(f"attempt={attempt}.")]
        if not triggers:
            files = [path for path in files if ".trigger." not in path.name]
        return "\n".join(path.read_text(errors="replace") for path in files)

    def trigger_log(self, dag_id: str, run_id: str, task_id: str, triggerer_job_id: int) -> str:
        """What a task's trigger logged while one triggerer (by its ``job`` row) ran it."""
        return "".join(
            path.read_text(errors="replace")
            for path in self.task_log_files(dag_id, run_id, task_id)
            if path.name.endswith(f".trigger.{triggerer_job_id}.log")
        )

    def worker_traces(self, dag_id: str, run_id: str, task_id: str) -> dict[str, object]:
        """
        What a worker leaves on a task instance it ran: a queued time, a host, a pid, a try's own log file.

        :data:`NO_WORKER` if none ran it.
        """
        [(queued, hostname, pid)] = self.query(
            "SELECT queued_dttm, hostname, pid FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            (dag_id, run_id, task_id),
        )
        worker_logs = [
            path.name for path in self.task_log_files(dag_id, run_id, task_id) if ".trigger." not in path.name
        ]
        return {"queued": queued, "hostname": hostname or None, "pid": pid, "worker logs": worker_logs}

    def executor_events(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> int:
        """
        How many executor events the scheduler has processed for one try of a task, by its log.

        A try that defers ends its worker process, and the executor reports that as an event too;
        the DB does not show when the scheduler has drained it.
        """
        key = (
            f"TaskInstanceKey(dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}', "
            f"try_number={try_number}, map_index=-1)"
        )
        return sum(
            1
            for line in self.process_log("scheduler").splitlines()
            if "Received executor event" in line and key in line
        )

    # The REST API.

    def api_token(self) -> str | None:
        """
        The token every REST call carries: the simple auth manager's all-admins token.

        Airflow 3.0 to 3.2 want it even when every user is an admin; 3.3 takes calls without it.
        """
        if not hasattr(self, "_api_token"):
            try:
                with urllib.request.urlopen(self.api_url + "/auth/token", timeout=30) as response:
                    self._api_token: str | None = json.loads(response.read())["access_token"]
            except urllib.error.HTTPError:
                self._api_token = None
        return self._api_token

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """Call the REST API and return the decoded JSON answer; :class:`StackError` on an HTTP error."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token := self.api_token():
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.api_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise StackError(f"{method} {path} answered {error.code}: {detail}") from error
        return json.loads(payload) if payload else None

    def trigger_dag(self, dag_id: str, run_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Create a manual DAG run through the REST API, with ``conf`` if given, and return its run ID."""
        answer = self.api(
            "POST",
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns",
            {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})},
        )
        return answer["dag_run_id"]

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> Any:
        """Mark a task instance ``success``, ``failed`` or ``skipped``, as the UI's "Mark as" does."""
        return self.api(
            "PATCH",
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(task_id)}",
            {"new_state": state},
        )

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> list[Any]:
        """Clear a task instance whatever its state, as the UI's "Clear" does; returns the cleared ones."""
        answer = self.api(
            "POST",
            f"/api/v2/dags/{_quote(dag_id)}/clearTaskInstances",
            {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False},
        )
        return answer["task_instances"]

    # The metadata DB, read directly: cheap enough to poll, and it is what the scheduler acts on.

    def query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query on the metadata DB, its parameters written ``?``."""
        assert self.database is not None  # set by __post_init__
        return self.database.query(sql, parameters)

    def xcom_value(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom (map index -1), decoded as Airflow's reader decodes it; ``None`` if it has none."""
        rows = self.query(
            "SELECT value FROM xcom "
            "WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ? AND map_index = -1",
            (dag_id, run_id, task_id, key),
        )
        if not rows:
            return None
        value = json.loads(rows[0][0])
        # The triggerer stores the XComs of a task it ends as JSON text inside the JSON column; Airflow's own
        # reader (XComModel.deserialize_value) decodes that second layer too.
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        return value

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """A DAG run's state; ``None`` if there is no such run."""
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
        return rows[0][0] if rows else None

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        """Wait until the DAG processor has parsed and stored a DAG, active and unpaused."""

        def parsed() -> bool:
            self.check_alive()
            rows = self.query(
                "SELECT d.is_paused FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
                "WHERE d.dag_id = ? AND NOT d.is_stale",
                (dag_id,),
            )
            return bool(rows) and not rows[0][0]

        wait_for(
            f"DAG {dag_id} to be parsed",
            parsed,
            timeout,
            hint=lambda: f"Import errors: {self.query('SELECT filename, stacktrace FROM import_error')}",
        )

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> TaskInstanceRow | None:
        """Read one task instance (map index -1) from the metadata DB."""
        rows = self.query(
            "SELECT id, state, try_number, trigger_id, pid FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            (dag_id, run_id, task_id),
        )
        if not rows:
            return None
        ti_id, state, try_number, trigger_id, pid = rows[0]
        # The DB keeps the UUID as 32 hex digits; processes and the API spell it with dashes.
        return TaskInstanceRow(str(uuid.UUID(ti_id)), state, try_number, trigger_id, pid)

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
        ``states``, or if a component of the stack died.
        """
        last: list[TaskInstanceRow | None] = [None]

        def reached() -> TaskInstanceRow | None:
            self.check_alive()
            ti = last[0] = self.task_instance(dag_id, run_id, task_id)
            if ti is None or (try_number is not None and ti.try_number != try_number):
                return None
            if ti.state in states:
                return ti
            if ti.state in TERMINAL_TASK_STATES:
                raise StackError(
                    f"{dag_id}.{task_id} ended {ti.state}, not {sorted(states)}.\n"
                    + self.task_log(dag_id, run_id, task_id)[-6000:]
                )
            return None

        return wait_for(
            f"{dag_id}.{task_id} in {run_id} to be {sorted(states)}"
            + ("" if try_number is None else f" at try {try_number}"),
            reached,
            timeout,
            hint=lambda: f"Last seen: {last[0]}. {self.log_hint()}",
        )

    def trigger_count(self) -> int:
        """The number of triggers in the metadata DB; the triggerer cleans up those no task waits on."""
        return self.query("SELECT COUNT(*) FROM trigger")[0][0]

    def latest_job_id(self, job_type: str) -> int | None:
        """The newest ``job`` row of a type, e.g. ``TriggererJob``: each triggerer start adds one."""
        return self.query("SELECT MAX(id) FROM job WHERE job_type = ?", (job_type,))[0][0]

    def has_variable(self, key: str) -> bool:
        """Whether an Airflow Variable with this key exists."""
        return bool(self.query("SELECT 1 FROM variable WHERE key = ?", (key,)))

    # The processes that run one task instance.

    def running_task(self, ti_id: str) -> str | None:
        """
        The process of the layout (a Celery worker, the scheduler with the LocalExecutor) whose process
        tree runs a try of the task instance, found by the task runner's title, which names it.
        """
        for name in self.processes:
            for process in self.process_tree(name):
                with contextlib.suppress(psutil.Error):
                    if ti_id in " ".join(process.cmdline()):
                        return name
        return None

    def task_processes(self, ti_id: str) -> list[psutil.Process]:
        """
        The processes running a task instance's current try: its supervisor, then the task runner.

        With the LocalExecutor, a worker process that the scheduler forked runs the task SDK's
        supervisor and retitles itself ``airflow worker -- LocalExecutor: <task instance id>``; the
        supervisor forks the task runner, titled ``airflow worker -- <task instance id>``. The
        supervisor heartbeats for the task and reports how it ended; the runner runs ``execute``.
        """
        found: list[tuple[bool, psutil.Process]] = []
        for process in self.process_tree("scheduler"):
            with contextlib.suppress(psutil.Error):
                title = " ".join(process.cmdline())
                if title.startswith("airflow worker --") and ti_id in title:
                    found.append(("LocalExecutor" not in title, process))
        return [process for _, process in sorted(found, key=lambda item: item[0])]


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
        for dag_id in dags:
            stack.wait_for_dag(dag_id)
        yield stack
    finally:
        stack.stop()


def started_job_record_key(dag_id: str, run_id: str, task_id: str) -> str:
    """The Variable key under which the operator records the job a try of a task started."""
    from airflow_entityresolution.records import StartedJobRecord

    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=-1)
    return StartedJobRecord.for_task({"ti": ti}, logging.getLogger(__name__)).key  # type: ignore[arg-type]


def end_process_group(process: subprocess.Popen[Any] | None, grace: float = 5) -> None:
    """End the process group ``process`` leads, if it still runs: SIGTERM, then SIGKILL after ``grace`` s."""
    if process is None or process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
            return


def kill_processes(processes: Iterable[psutil.Process], sig: signal.Signals) -> None:
    """Send ``sig`` to each process that still exists."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(sig)


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
