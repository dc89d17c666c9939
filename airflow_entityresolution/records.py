"""The start-once record: one job per task instance, however many of the task's tries start over."""

from __future__ import annotations

import datetime
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_entityresolution.compat import Variable, task_instance
from airflow_entityresolution.errors import EntityResolutionRequestError

if TYPE_CHECKING:
    from airflow_entityresolution.compat import Context
    from airflow_entityresolution.hooks import EntityResolutionHook
    from airflow_entityresolution.jobs import JobKind, JobState, TaskLog

START_CLOCK_SKEW_SECONDS = 5
"""How far AWS's clock may run behind the worker's when matching a job to a start whose answer was lost."""


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

    :class:`StartOnce` says when the record is written, read and deleted.

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


class StartOnce:
    """
    Start at most one job for a task instance across its tries: claim, then start or adopt, then release.

    - :meth:`claim` reads what an earlier try left in the :class:`StartedJobRecord`: the job
      it started, if that job is still running or ended SUCCEEDED.
    - :meth:`adopt` takes that job over; otherwise :meth:`start` sends one start, recorded
      before it goes out and again once it returned.
    - :meth:`release` deletes the record once the job's outcome is known.

    A start the service refuses raises, and starts nothing: whether to start again, and when,
    is the caller's to decide (the operator's ``when_busy``).

    :param context: the running task's context, whose task instance keys the record.
    :param hook: the hook that describes and lists the workflow's jobs.
    :param kind: the kind of job.
    :param workflow_name: the job's workflow.
    :param send: sends one start request and returns the new job's ID.
    :param log: where to log what the record decides.
    """

    def __init__(
        self,
        context: Context,
        *,
        hook: EntityResolutionHook,
        kind: JobKind,
        workflow_name: str,
        send: Callable[[], str],
        log: TaskLog,
    ) -> None:
        self.context = context
        self.hook = hook
        self.kind = kind
        self.workflow_name = workflow_name
        self.send = send
        self.log = log
        self.record = StartedJobRecord.for_task(context, log)
        self._lost_answer: tuple[float, float] | None = None

    def claim(self) -> JobState | None:
        """
        The job an earlier try started, to :meth:`adopt`, if it is still running or ended SUCCEEDED.

        ``None`` when this try is to :meth:`start` one: no earlier try started a job of this
        workflow, or its job FAILED. An earlier try that died while its start was in flight
        left only the span in which the start went out; the job started in it, if any, is that try's.
        """
        earlier = self.record.load()
        if not earlier or earlier.get("workflow_name") != self.workflow_name:
            return None
        job_id = earlier.get("job_id")
        if job_id is None:
            span = (float(earlier["requested_at"]), float(earlier["answer_due_by"]))
            job_id = self._job_started_between(*span)
            if job_id is None:
                self.log.info("An earlier try's start, sent before it died, started no job: starting one")
                return None
        state = self.hook.describe_job(self.kind, self.workflow_name, job_id)
        if state.failed:
            self.log.info("Job %s that an earlier try started ended FAILED; starting a new one", state.job_id)
            return None
        return state

    def adopt(self, state: JobState) -> str:
        """Take over the job :meth:`claim` found, so that the record names this try, and return its ID."""
        self.record.save(self.context, self.workflow_name, state.job_id)
        self.log.info(
            "Job %s that an earlier try started is %s: taking it over instead of starting another",
            state.job_id,
            state.status,
        )
        return state.job_id

    def start(self) -> str:
        """
        Send one start and return the job's ID, recorded as this try's.

        A start whose answer is lost (no answer, or a 5xx) may still have started a job: the
        job the service lists as started meanwhile is taken, then and at every later start of
        this object. Raises the request's error when no job started.
        """
        requested_at = time.time()
        if self._lost_answer is None:
            # Written before the request: a try killed while it is in flight leaves the next one
            # the span in which its job, if any, started.
            answer_due_by = requested_at + self._longest_start_answer()
            self.record.save_intent(self.context, self.workflow_name, requested_at, answer_due_by)
        try:
            job_id = self.send()
        except EntityResolutionRequestError as error:
            taken = self._job_a_lost_answer_started(error, requested_at)
            if taken is None:
                raise
            job_id = taken
        self.record.save(self.context, self.workflow_name, job_id)
        self.log.info(
            "Started Entity Resolution %s job %s of workflow %r", self.kind.label, job_id, self.workflow_name
        )
        return job_id

    def release(self) -> None:
        """Delete the record: the job's outcome is known, or the task does not wait for it."""
        self.record.clear()

    def written_by_an_earlier_try(self) -> int | None:
        """The earlier try that last wrote the record, if one did: see :class:`StartedJobRecord`."""
        return self.record.written_by_an_earlier_try(self.context)

    def _job_a_lost_answer_started(
        self, error: EntityResolutionRequestError, requested_at: float
    ) -> str | None:
        if error.may_have_taken_effect and self._lost_answer is None:
            self._lost_answer = (requested_at, time.time())
        if self._lost_answer is None:
            # Refused, so nothing started: a job that starts while this task waits is another's.
            self.record.clear()
            return None
        # After a lost answer, even a busy refusal may be about the job that answer started.
        return self._job_started_between(*self._lost_answer)

    def _longest_start_answer(self) -> float:
        """The longest a start can wait for its answer: the client's connect and read timeouts."""
        config = self.hook.config
        return float(config.connect_timeout or 60) + float(config.read_timeout or 60)

    def _job_started_between(self, requested_at: float, answered_by: float) -> str | None:
        """
        The job a start whose answer was lost may have started, if the service lists one.

        A start sent at ``requested_at`` whose answer never came back by ``answered_by`` may
        still have started a job; the workflow's newest job, if it started in that span, is
        that job. A job started later is another task's.
        """
        try:
            newest = self.hook.newest_job(self.kind, self.workflow_name)
        except EntityResolutionRequestError:
            return None
        if newest is None:
            return None
        started = datetime.datetime.fromisoformat(newest["startTime"]).timestamp()
        if not requested_at - START_CLOCK_SKEW_SECONDS <= started <= answered_by + START_CLOCK_SKEW_SECONDS:
            return None
        self.log.info("The start's answer was lost, but it started job %s: taking it", newest["jobId"])
        return newest["jobId"]
