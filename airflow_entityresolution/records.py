"""The record an operator keeps of the job it started, so that a later try of its task takes it over."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from airflow_entityresolution.compat import Variable, task_instance

if TYPE_CHECKING:
    from airflow_entityresolution.compat import Context
    from airflow_entityresolution.jobs import TaskLog


class StartedJobRecord:
    """
    The job an earlier try of a task started, kept in an Airflow Variable until the task finishes.

    A try can die after its start returned: its worker is killed, or the task is cleared
    while deferred. The next try must wait for that job rather than start another, because
    the account runs one job at a time. XComs cannot carry the job ID across tries (Airflow
    clears a task's XComs when a new try starts), so the record lives in a Variable keyed by
    the task instance, and is deleted once the job's outcome is known.

    A try can also die while its start is in flight, before it learns the job's ID. So the
    record is first written before the start, with the moment it was sent; the next try then
    takes the workflow's newest job if it started after that moment.

    Outside a running task (``execute()`` called directly, as unit tests do) there is no
    task instance to key a record by, or no Variable store to keep it in: the record then
    keeps nothing, and says so once.

    :param key: the Variable's key, or ``None`` for a record that keeps nothing.
    :param log: where the one warning of a record that keeps nothing goes.
    """

    PREFIX = "entityresolution-started-job-"

    def __init__(self, key: str | None, log: TaskLog) -> None:
        self.key = key
        self.log = log
        if key is None:
            self._keep_nothing("the context holds no task instance")

    @classmethod
    def for_task(cls, context: Context, log: TaskLog) -> StartedJobRecord:
        ti = task_instance(context)
        if ti is None:
            return cls(None, log)
        identity = "\x1f".join(map(str, (ti.dag_id, ti.run_id, ti.task_id, ti.map_index)))
        return cls(cls.PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:40], log)

    def _keep_nothing(self, why: str) -> None:
        self.key = None
        self.log.warning(
            "execute() runs outside a running Airflow task (%s): the job is started without the "
            "start-once record, so a retry of this call could start a second job",
            why,
        )

    def load(self) -> dict[str, Any] | None:
        if self.key is None:
            return None
        try:
            # Positional: Airflow 3's Task SDK calls the parameter default, Airflow 2's default_var.
            record: dict[str, Any] | None = Variable.get(self.key, None, deserialize_json=True)
        except ImportError as error:
            # Airflow 3.0's Task SDK reaches Variables through the task runner, which only a task has.
            self._keep_nothing(f"Airflow's Variables are out of reach: {error}")
            return None
        return record

    def save_intent(
        self, context: Context, workflow_name: str, requested_at: float, answer_due_by: float
    ) -> None:
        """Record that a start goes out at ``requested_at``, its answer due by ``answer_due_by`` (epoch)."""
        intent = {"job_id": None, "requested_at": requested_at, "answer_due_by": answer_due_by}
        self._write(context, {"workflow_name": workflow_name, **intent})

    def save(self, context: Context, workflow_name: str, job_id: str) -> None:
        """Record the job the start began."""
        self._write(context, {"workflow_name": workflow_name, "job_id": job_id})

    def _write(self, context: Context, value: dict[str, Any]) -> None:
        if self.key is None:
            return
        ti = context["ti"]
        value["task"] = f"{ti.dag_id}.{ti.task_id}/{ti.run_id}"
        value["try_number"] = getattr(ti, "try_number", None)
        Variable.set(
            self.key,
            value,
            description="Entity Resolution job started by this task; removed when the task finishes.",
            serialize_json=True,
        )

    def written_by_an_earlier_try(self, context: Context) -> int | None:
        """The earlier try that wrote the record, if one did; ``None`` if this try did, or none is kept."""
        record = self.load()
        written_by = record.get("try_number") if record else None
        current = getattr(context["ti"], "try_number", None)
        if written_by is None or current is None or written_by == current:
            return None
        return int(written_by)

    def clear(self) -> None:
        if self.key is not None and self.load() is not None:
            Variable.delete(self.key)
