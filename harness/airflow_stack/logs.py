"""
What a stack's processes and tasks logged: each process's output, task logs, trigger logs, worker traces.

Logs are read from files: the processes do not serve them (see :meth:`AirflowProcesses.command
<airflow_stack.processes.AirflowProcesses.command>`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .metadata_db import MetadataReader

# What :meth:`StackLogs.worker_traces` finds on a task instance no worker ever ran.
NO_WORKER: dict[str, object] = {"queued": None, "hostname": None, "pid": None, "worker logs": []}


@dataclass(frozen=True)
class StackLogs:
    """
    The log files of one stack.

    :param process_log_folder: where each process's output goes, one file per generation
        (``triggerer-1.log``, ``triggerer-2.log``, ...).
    :param task_log_folder: Airflow's ``[logging] base_log_folder``.
    :param db: the stack's metadata DB, which says what ran a task instance.
    """

    process_log_folder: Path
    task_log_folder: Path
    db: MetadataReader

    def process_log(self, name: str) -> str:
        """The output of every generation of a process (by its name in the layout), oldest first."""
        generation = re.compile(re.escape(name) + r"-(\d+)")
        paths = sorted(
            (path for path in self.process_log_folder.glob("*.log") if generation.fullmatch(path.stem)),
            key=lambda path: int(path.stem.rsplit("-", 1)[1]),
        )
        return "\n".join(path.read_text(errors="replace") for path in paths)

    def hint(self) -> str:
        """Where to read more, for the message of a wait that timed out."""
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

        :param attempt: the try whose files to read; every try's if ``None``.
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
        queued, hostname, pid = self.db.worker_fields(dag_id, run_id, task_id)
        worker_logs = [
            path.name for path in self.task_log_files(dag_id, run_id, task_id) if ".trigger." not in path.name
        ]
        return {"queued": queued, "hostname": hostname, "pid": pid, "worker logs": worker_logs}

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
