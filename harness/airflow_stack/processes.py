"""
Airflow's own processes (API server, scheduler, DAG processor, triggerer, Celery workers): the
environment each runs with, and starting, supervising, killing, restarting and stopping them.

Each process runs as ``airflow <component>`` in its own process group, with its output in its own
log file; a component may run several times under names of its own (two triggerers). Every process
started is remembered, so that :meth:`AirflowProcesses.stop` ends them all, descendants included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from .waiting import StackError

AIRFLOW = [sys.executable, "-m", "airflow"]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Started by name with :meth:`AirflowProcesses.start`, not by a stack's default layout.
CELERY_WORKER = "celery-worker"
# At least 64 bytes, or PyJWT warns about a short HMAC key in every process log.
JWT_SECRET = "entityresolution-e2e-jwt-secret-not-for-production-" + "0123456789abcdef" * 2
# A fixed, valid Fernet key: every process must decrypt what another one encrypted (Variables).
FERNET_KEY = "Pb6HMlTsxn-hRAyEqPX3NCY5LwoMZyUaBWQ9mHvVCtU="


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


@dataclass
class AirflowProcesses:
    """
    The processes of one stack, by their names in its layout.

    :param home: the ``AIRFLOW_HOME``, every process's working directory.
    :param env: every process's environment (see :func:`airflow_environment`).
    :param log_folder: where each process's output goes, one file per start.
    :param api_port: the API server's port on 127.0.0.1.
    :param layout: process names, each with the component it runs
        (``{"triggerer-a": "triggerer", "triggerer-b": "triggerer"}``).
    :param worker_concurrency: the task slots of each Celery worker.
    """

    home: Path
    env: Mapping[str, str]
    log_folder: Path
    api_port: int
    layout: Mapping[str, str]
    worker_concurrency: int = 4
    _started: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)
    _generations: dict[str, int] = field(default_factory=dict, init=False)
    _all_started: list[psutil.Process] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.log_folder.mkdir(parents=True, exist_ok=True)

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

    def run(self, arguments: Sequence[str], log_name: str, timeout: float) -> None:
        """
        Run one ``airflow`` command to its end, e.g. ``db migrate``, as a deployment's setup does.

        :param arguments: the command's arguments after ``airflow``.
        :param log_name: its log file's name, without ``.log``.
        :param timeout: seconds before it is given up on.
        """
        log_path = self.log_folder / f"{log_name}.log"
        with log_path.open("wb") as log:
            result = subprocess.run(
                [*AIRFLOW, *arguments],
                env=self.env,
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            raise StackError(f"airflow {' '.join(arguments)} exited {result.returncode}; see {log_path}")

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """
        Start the process ``name`` of the layout (or the component of that name) in its own process
        group, with output to its own log file.

        A process started again after :meth:`kill` logs to a new file (``triggerer-2.log``, ...).
        """
        command = self.command(name)
        running = self._started.get(name)
        if running is not None and running.poll() is None:
            raise StackError(f"{name} is already running as pid {running.pid}")
        generation = self._generations.get(name, 0) + 1
        self._generations[name] = generation
        log_path = self.log_folder / f"{name}-{generation}.log"
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
        self._started[name] = process
        with contextlib.suppress(psutil.Error):
            self._all_started.append(psutil.Process(process.pid))
        return process

    def exited(self) -> list[str]:
        """The processes started that have exited since, by name."""
        return [name for name, process in self._started.items() if process.poll() is not None]

    def check_alive(self, names: Iterable[str] | None = None, *, ignoring: Collection[str] = ()) -> None:
        """
        Raise :class:`StackError`, naming the log to read, if a started process has exited.

        :param names: the processes to check; every one started if ``None``.
        :param ignoring: processes that need not live, e.g. those a test killed on purpose.
        """
        for name in list(self._started) if names is None else names:
            process = self._started.get(name)
            if name not in ignoring and process is not None and process.poll() is not None:
                raise StackError(
                    f"{name} exited with {process.returncode}; "
                    f"see {self.log_folder}/{name}-{self._generations[name]}.log"
                )

    def process_tree(self, name: str) -> list[psutil.Process]:
        """The process's own process and all its descendants, parents first."""
        process = self._started.get(name)
        if process is None:
            return []
        try:
            root = psutil.Process(process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill(self, name: str, timeout: float = 15) -> list[int]:
        """
        SIGKILL a process and every descendant at once, as an OOM kill or a lost node would.

        Nothing gets the chance to clean up, deregister or finish a trigger. Returns the killed pids.
        """
        process = self._started.get(name)
        if process is None:
            raise StackError(f"{name} was never started")
        tree = self.process_tree(name)
        kill_processes(tree, signal.SIGKILL)
        # A child that left the group (a new session) is in `tree`; the group catches any forked since.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
        _, alive = psutil.wait_procs(tree, timeout=timeout)
        if alive:
            raise StackError(f"Processes of {name} survived SIGKILL: {[p.pid for p in alive]}")
        return [member.pid for member in tree]

    def restart(self, name: str) -> subprocess.Popen[bytes]:
        """Start a replacement for a process that was killed; it gets a new ``job`` row and log file."""
        self.check_alive(ignoring={name})
        return self.start(name)

    def stop(self, grace: float = 5) -> None:
        """
        End every process started, and their descendants: SIGTERM, then SIGKILL after ``grace``.

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
        for process in self._started.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    def running_task(self, ti_id: str) -> str | None:
        """
        The process of the layout (a Celery worker, the scheduler with the LocalExecutor) whose process
        tree runs a try of the task instance, found by the task runner's title, which names it.
        """
        for name in self._started:
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


def end_process_group(process: subprocess.Popen[Any] | None, grace: float = 5) -> None:
    """
    End the process group ``process`` leads, if it still runs: SIGTERM, then SIGKILL.

    :param process: the group's leader, or ``None`` if it never started.
    :param grace: seconds between SIGTERM and SIGKILL.
    """
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
