"""
The metadata DB, read directly: cheap enough to poll, and it is what the scheduler acts on.

A :class:`MetadataDatabase` is where a stack keeps its metadata (a SQLite file by default, or any
server with a SQLAlchemy URL); a :class:`MetadataReader` holds the reads the tests and benchmarks
make of it: task instances, XComs, DAG runs, triggers, ``job`` rows and Variables.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

TERMINAL_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


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


@dataclass(frozen=True)
class TaskInstanceRow:
    """A task instance as the metadata DB holds it."""

    id: str
    state: str | None
    try_number: int
    trigger_id: int | None
    pid: int | None


@dataclass(frozen=True)
class MetadataReader:
    """
    The reads of a stack's metadata DB.

    :param database: the metadata DB.
    """

    database: MetadataDatabase

    def query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """
        Run a read-only query on the metadata DB.

        :param sql: the query, its parameters written ``?``.
        :param parameters: the values of its parameters.
        """
        return self.database.query(sql, parameters)

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> TaskInstanceRow | None:
        """Read one task instance (map index -1); ``None`` if the run has none of that ID yet."""
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

    def worker_fields(self, dag_id: str, run_id: str, task_id: str) -> tuple[Any, str | None, int | None]:
        """What a worker that ran a task instance (map index -1) writes on it: queued time, host, pid."""
        [(queued, hostname, pid)] = self.query(
            "SELECT queued_dttm, hostname, pid FROM task_instance "
            "WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            (dag_id, run_id, task_id),
        )
        return queued, hostname or None, pid

    def xcom_value(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """
        A task's XCom (map index -1), decoded as Airflow's reader decodes it; ``None`` if it has none.

        :param key: the XCom's key; the task's return value by default.
        """
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

    def dag_is_ready(self, dag_id: str) -> bool:
        """Whether the DAG processor has parsed and stored a DAG, and it is active and unpaused."""
        rows = self.query(
            "SELECT d.is_paused FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id "
            "WHERE d.dag_id = ? AND NOT d.is_stale",
            (dag_id,),
        )
        return bool(rows) and not rows[0][0]

    def import_errors(self) -> list[tuple[Any, ...]]:
        """Each DAG file the DAG processor failed to import, with its stack trace."""
        return self.query("SELECT filename, stacktrace FROM import_error")

    def trigger_count(self) -> int:
        """The number of triggers in the metadata DB; the triggerer cleans up those no task waits on."""
        return self.query("SELECT COUNT(*) FROM trigger")[0][0]

    def latest_job_id(self, job_type: str) -> int | None:
        """The newest ``job`` row of a type, e.g. ``TriggererJob``: each triggerer start adds one."""
        return self.query("SELECT MAX(id) FROM job WHERE job_type = ?", (job_type,))[0][0]

    def has_variable(self, key: str) -> bool:
        """Whether an Airflow Variable with this key exists."""
        return bool(self.query("SELECT 1 FROM variable WHERE key = ?", (key,)))
