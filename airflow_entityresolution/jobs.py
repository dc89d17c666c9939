"""
What an Entity Resolution job status means, in one place.

The hook, the trigger, the sensor and the operator all read a job through
:class:`JobState` and carry it across process boundaries through
:func:`event_from_state`, :func:`event_from_error` and :func:`state_from_event`.
None of them keeps its own list of statuses.

The typed dictionaries of the API's answers are defined in :mod:`airflow_entityresolution.shapes`
and can be imported from here too.
"""

from __future__ import annotations

import datetime
import enum
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from airflow_entityresolution import validation
from airflow_entityresolution.errors import (
    EntityResolutionError,
    EntityResolutionJobFailedError,
    EntityResolutionMetricsGateError,
    EntityResolutionRequestError,
    EntityResolutionWaitTimeoutError,
    ErrorKind,
)

if TYPE_CHECKING:
    # Re-exported for type checkers; at run time __getattr__ below serves them.
    from airflow_entityresolution.shapes import ErrorDetails as ErrorDetails
    from airflow_entityresolution.shapes import JobDescription as JobDescription
    from airflow_entityresolution.shapes import JobEvent as JobEvent
    from airflow_entityresolution.shapes import JobMetrics as JobMetrics
    from airflow_entityresolution.shapes import JobSummary as JobSummary
    from airflow_entityresolution.shapes import Outcome as Outcome
    from airflow_entityresolution.shapes import OutputSource as OutputSource

JOB_DESCRIPTION_XCOM_KEY = "job_description"
"""The XCom key of a job's final description (status, metrics, times, output), pushed by the operators."""

METRICS_XCOM_KEY = "metrics"
"""The XCom key of a finished job's final ``metrics``, pushed by the operators and the sensors."""


class JobStatus(enum.StrEnum):
    """The statuses the API lists for a job."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
KNOWN_STATUSES = frozenset(JobStatus)


class TaskLog(Protocol):
    """
    What the provider logs through: a ``logging.Logger``, or the structlog-based logger of
    Airflow 3's tasks and triggers, whose type is not a ``logging.Logger``.
    """

    def info(self, msg: Any, /, *args: Any) -> object: ...

    def warning(self, msg: Any, /, *args: Any) -> object: ...


UNCHANGED_STATUS_LOG_SECONDS = 600.0
"""How often a wait in the triggerer logs a status that has not changed since it last logged it."""


class StatusLog:
    """
    Log a job's state when its status changes, and an unchanged one at most every ``interval`` seconds.

    For waits in the triggerer: there, each log line a trigger writes wakes the triggerer's
    supervisor loop, which queries the metadata DB on every iteration, so a line per poll
    costs far more than the poll. The first status and every change (the final one included)
    are still logged, with their metrics.

    :param log: where to log.
    :param interval: seconds after which an unchanged status is logged again.
    """

    def __init__(self, log: TaskLog, interval: float = UNCHANGED_STATUS_LOG_SECONDS) -> None:
        self.log = log
        self.interval = interval
        self._last: tuple[str | None, float] | None = None

    def __call__(self, state: JobState) -> None:
        now = time.monotonic()
        if self._last is not None and self._last[0] == state.status and now - self._last[1] < self.interval:
            return
        state.log(self.log)
        self._last = (state.status, now)


class Verb(enum.StrEnum):
    """The three job calls every kind of job offers."""

    START = "Start"
    GET = "Get"
    LIST = "List"


@dataclass(frozen=True)
class JobKind:
    """
    One kind of Entity Resolution job. ID mapping and matching jobs share every line of
    behaviour, in the provider and in the emulator; what differs between them is an entry here.

    :param key: short identifier, used in emulator scenario files and job snapshots.
    :param api_name: the word in operation names, as in ``Start{api_name}Job``.
    :param label: how messages name the kind, such as ``ID mapping``.
    :param collection: the first path segment, as in ``/{collection}/{workflowName}/jobs``.
    :param check_workflow_name: the validator of the kind's workflow names.
    :param start_body_members: the members a start request body may carry.
    :param metric_names: the members of the kind's metrics shape.
    :param reports_job_type: whether the API returns ``jobType`` for the kind.
    """

    key: str
    api_name: str
    label: str
    collection: str
    check_workflow_name: Callable[[Any, str], str]
    start_body_members: frozenset[str]
    metric_names: frozenset[str]
    reports_job_type: bool

    def operation(self, verb: Verb) -> str:
        """Name the operation, such as ``GetIdMappingJob`` or ``ListMatchingJobs``."""
        plural = "s" if verb is Verb.LIST else ""
        return f"{verb.value}{self.api_name}Job{plural}"

    @property
    def get_operation(self) -> str:
        return self.operation(Verb.GET)

    @property
    def start_operation(self) -> str:
        return self.operation(Verb.START)

    @property
    def list_operation(self) -> str:
        return self.operation(Verb.LIST)

    @property
    def get_workflow_operation(self) -> str:
        """Name the operation that describes a workflow of the kind, such as ``GetMatchingWorkflow``."""
        return f"Get{self.api_name}Workflow"


ID_MAPPING = JobKind(
    key="id_mapping",
    api_name="IdMapping",
    label="ID mapping",
    collection="idmappingworkflows",
    check_workflow_name=validation.check_id_mapping_workflow_name,
    start_body_members=frozenset({"jobType", "outputSourceConfig"}),
    metric_names=frozenset(
        {
            "inputRecords",
            "totalRecordsProcessed",
            "recordsNotProcessed",
            "deleteRecordsProcessed",
            "totalMappedRecords",
            "totalMappedSourceRecords",
            "totalMappedTargetRecords",
            "uniqueRecordsLoaded",
            "newMappedRecords",
            "newMappedSourceRecords",
            "newMappedTargetRecords",
            "newUniqueRecordsLoaded",
            "mappedRecordsRemoved",
            "mappedSourceRecordsRemoved",
            "mappedTargetRecordsRemoved",
        }
    ),
    reports_job_type=True,
)
MATCHING = JobKind(
    key="matching",
    api_name="Matching",
    label="matching",
    collection="matchingworkflows",
    check_workflow_name=validation.check_matching_workflow_name,
    start_body_members=frozenset(),
    metric_names=frozenset(
        {"inputRecords", "totalRecordsProcessed", "recordsNotProcessed", "deleteRecordsProcessed", "matchIDs"}
    ),
    reports_job_type=False,
)
JOB_KINDS: tuple[JobKind, ...] = (ID_MAPPING, MATCHING)
KIND_BY_KEY: dict[str, JobKind] = {kind.key: kind for kind in JOB_KINDS}
"""Each kind by its :attr:`JobKind.key`, the name the operators and sensors give theirs by."""


def _json_safe(value: Any) -> Any:
    """Return ``value`` with timestamps as ISO-8601 strings, so it can cross a process boundary."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def plain_answer(response: Mapping[str, Any]) -> dict[str, Any]:
    """Return an API answer as plain JSON: timestamps as ISO-8601 strings, without ``ResponseMetadata``."""
    answer: dict[str, Any] = _json_safe(
        {key: value for key, value in response.items() if key != "ResponseMetadata"}
    )
    return answer


def job_description(response: Mapping[str, Any]) -> JobDescription:
    """Return a Get*Job response, or a List*Jobs summary, as plain JSON (see :func:`plain_answer`)."""
    # The stubs' output shapes, but for the timestamps that _json_safe turns into strings.
    return cast("JobDescription", plain_answer(response))


@dataclass(frozen=True)
class JobState:
    """
    One observation of a job, and what it means.

    :param kind: the kind of job.
    :param workflow_name: the job's workflow, as the user named it.
    :param job_id: the job's ID.
    :param description: the Get*Job response as plain JSON, timestamps as ISO-8601 strings.
    """

    kind: JobKind
    workflow_name: str
    job_id: str
    description: JobDescription

    @property
    def status(self) -> str:
        return str(self.description.get("status", ""))

    @property
    def is_known_status(self) -> bool:
        return self.status in KNOWN_STATUSES

    @property
    def is_terminal(self) -> bool:
        # A status the API does not list today is not taken as an ending: the wait goes on and says so.
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == JobStatus.SUCCEEDED

    @property
    def failed(self) -> bool:
        return self.status == JobStatus.FAILED

    @property
    def error_message(self) -> str | None:
        details = self.description.get("errorDetails")
        return details.get("errorMessage") if details else None

    @property
    def metrics(self) -> JobMetrics:
        metrics = self.description.get("metrics")
        return metrics.copy() if metrics else {}

    def failure(self) -> EntityResolutionJobFailedError:
        """Build the error that fails a task whose job ended FAILED."""
        return EntityResolutionJobFailedError(
            kind_label=self.kind.label,
            workflow_name=self.workflow_name,
            job_id=self.job_id,
            error_message=self.error_message,
        )

    def raise_if_failed(self) -> None:
        """Raise :class:`~airflow_entityresolution.errors.EntityResolutionJobFailedError` if FAILED."""
        if self.failed:
            raise self.failure()

    def raise_if_rejected(self, gate: MetricsGate) -> None:
        """Raise if the job ended FAILED, or SUCCEEDED with metrics that break ``gate``."""
        self.raise_if_failed()
        gate.check(self)

    def log(self, log: TaskLog) -> None:
        """Log the status at INFO, with the metrics once the service reports any."""
        log.info(
            "Entity Resolution %s job %s of workflow %r is %s",
            self.kind.label,
            self.job_id,
            self.workflow_name,
            self.status,
        )
        if self.metrics:
            log.info("Job %s metrics: %s", self.job_id, self.metrics)
        if not self.status:
            log.warning("The service's answer carried no status; polling again")
        elif not self.is_known_status:
            log.warning(
                "Status %r is not one the API lists (%s); still waiting for SUCCEEDED or FAILED",
                self.status,
                ", ".join(JobStatus),
            )


@dataclass(frozen=True)
class MetricsGate:
    """
    How many records a SUCCEEDED job may leave unprocessed before the task fails.

    :param max_records_not_processed: a whole number is a count of records; a ``float``
        from 0.0 to 1.0 is a fraction of the job's ``inputRecords``; ``None`` checks nothing.
    """

    max_records_not_processed: int | float | None = None

    def __post_init__(self) -> None:
        validation.check_max_records_not_processed(self.max_records_not_processed)

    def check(self, state: JobState) -> None:
        """Raise :class:`EntityResolutionMetricsGateError` if ``state`` breaks the limit."""
        limit = self.max_records_not_processed
        if limit is None or not state.succeeded:
            return
        problem = self._problem(limit, state.metrics)
        if problem:
            raise EntityResolutionMetricsGateError(
                f"Entity Resolution {state.kind.label} job {state.job_id} of workflow "
                f"{state.workflow_name!r} SUCCEEDED, but {problem}"
            )

    @staticmethod
    def _problem(limit: int | float, metrics: JobMetrics) -> str | None:
        not_processed = metrics.get("recordsNotProcessed")
        inputs = metrics.get("inputRecords")
        # Fail closed: a limit the user asked for is never passed on figures the service did not send.
        if not_processed is None:
            return (
                "the service reported no recordsNotProcessed metric, so "
                f"max_records_not_processed={limit!r} cannot be checked"
            )
        if isinstance(limit, int):
            if not_processed <= limit:
                return None
            of_inputs = f" of {inputs} input records" if inputs is not None else " records"
            return (
                f"{not_processed}{of_inputs} were not processed, more than max_records_not_processed={limit}"
            )
        if not_processed == 0 or limit >= 1.0:
            return None
        if not inputs:
            return (
                f"{not_processed} records were not processed and the service reported "
                f"inputRecords={inputs!r}, so max_records_not_processed={limit!r} cannot be met"
            )
        share = not_processed / inputs
        if share <= limit:
            return None
        return (
            f"{not_processed} of {inputs} input records ({share:.2%}) were not processed, "
            f"more than max_records_not_processed={limit!r} ({limit:.2%} of inputRecords)"
        )


class PollSchedule:
    """
    The delays between the polls of one wait, jittered so that many waits drift apart.

    The first poll happens at once. The delay before the second is drawn from the
    upper half of ``waiter_delay``, which spreads waits that started together (after
    a triggerer restart, say); every later delay is drawn from its top tenth, so a
    wait never polls later than configured.

    A poll that the service did not answer, because throttling or an outage outlasted
    botocore's retries, does not count as an attempt: see :meth:`missed`.

    :param waiter_delay: seconds between polls.
    :param waiter_max_attempts: the number of polls before the wait gives up.
    """

    def __init__(self, waiter_delay: float, waiter_max_attempts: int) -> None:
        validation.check_waiter_settings(waiter_delay, waiter_max_attempts)
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        # Missed polls are free, so only the clock bounds a wait that the service keeps refusing.
        self._deadline = time.monotonic() + waiter_delay * waiter_max_attempts

    def missed(self, error: EntityResolutionRequestError, log: TaskLog) -> float:
        """
        Return the delay before polling again after ``error``, or re-raise it.

        Transient errors are retried until the wait's nominal span
        (``waiter_delay * waiter_max_attempts``) has passed; anything else fails at once.
        """
        if error.kind is not ErrorKind.TRANSIENT or time.monotonic() > self._deadline:
            raise error
        delay = self.waiter_delay * random.uniform(0.9, 1.0)
        log.warning("%s. The poll is missed, not counted: polling again in %.1fs", error, delay)
        return delay

    def __iter__(self) -> Iterator[float]:
        yield 0.0
        for attempt in range(1, self.waiter_max_attempts):
            low = 0.5 if attempt == 1 else 0.9
            yield self.waiter_delay * random.uniform(low, 1.0)

    @classmethod
    def covering(cls, seconds: float, waiter_delay: float) -> PollSchedule:
        """The schedule whose polls span at least ``seconds``, however the jitter falls."""
        shortest_delay = max(waiter_delay, 0.1) * 0.9
        return cls(waiter_delay, 1 + math.ceil(seconds / shortest_delay))

    def timeout_error(self, last: JobState | None) -> EntityResolutionWaitTimeoutError:
        """Build the error for a wait whose attempts ran out, naming the last status seen."""
        seen = f"last status seen: {last.status}" if last else "no status was seen"
        subject = f"job {last.job_id} of workflow {last.workflow_name!r}" if last else "the job"
        return EntityResolutionWaitTimeoutError(
            f"Gave up waiting for {subject} after {self.waiter_max_attempts} polls "
            f"{self.waiter_delay:g}s apart; {seen}"
        )


def _event(
    outcome: Outcome,
    kind: JobKind,
    workflow_name: str,
    job_id: str,
    job: JobDescription | None,
    message: str | None,
) -> JobEvent:
    return {
        "status": "success" if outcome == "succeeded" else "error",
        "outcome": outcome,
        "kind": kind.label,
        "workflow_name": workflow_name,
        "job_id": job_id,
        "job": job,
        "message": message,
    }


def event_from_state(state: JobState) -> JobEvent:
    """Build a trigger event's payload for a job that reached a terminal status."""
    return _event(
        "succeeded" if state.succeeded else "failed",
        state.kind,
        state.workflow_name,
        state.job_id,
        state.description,
        state.error_message if state.failed else None,
    )


def event_from_error(kind: JobKind, workflow_name: str, job_id: str, error: Exception) -> JobEvent:
    """Build a trigger event's payload for a wait that ended without a terminal status."""
    outcome: Outcome = "timeout" if isinstance(error, EntityResolutionWaitTimeoutError) else "error"
    return _event(outcome, kind, workflow_name, job_id, None, str(error))


def state_from_event(kind: JobKind, event: Mapping[str, Any] | None) -> JobState:
    """
    Read a trigger event's payload back into a :class:`JobState`.

    Raises :class:`EntityResolutionError` when the wait itself failed, as
    :class:`EntityResolutionWaitTimeoutError` when its polls ran out. A job that ended
    FAILED comes back as a state: the caller records it, then calls
    :meth:`JobState.raise_if_failed`.
    """
    if not event or "outcome" not in event:
        raise EntityResolutionError(f"Trigger sent no usable event: {event!r}")
    if event["outcome"] == "timeout":
        raise EntityResolutionWaitTimeoutError(event["message"])
    if event["outcome"] == "error":
        raise EntityResolutionError(event["message"])
    # The payload crossed a process boundary as JSON; event_from_state wrote it from a JobDescription.
    description = cast("JobDescription", dict(event["job"]))
    return JobState(kind, event["workflow_name"], event["job_id"], description)


_SHAPES = frozenset(
    {"JobMetrics", "ErrorDetails", "OutputSource", "JobSummary", "JobDescription", "JobEvent", "Outcome"}
)


def __getattr__(name: str) -> Any:
    """Serve the typed dictionaries of :mod:`airflow_entityresolution.shapes` by their names here too."""
    if name in _SHAPES:
        from airflow_entityresolution import shapes

        return getattr(shapes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
