"""
What an Entity Resolution job status means, in one place.

The hook, the trigger, the sensor and the operator all read a job through
:class:`JobState`; none of them keeps its own list of statuses. How a wait polls a job is
in :mod:`~airflow_entityresolution.polling`, how a state crosses from the triggerer to a
worker in :mod:`~airflow_entityresolution.events`, and the typed dictionaries of the API's
answers in :mod:`~airflow_entityresolution.shapes`.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from airflow_entityresolution import validation
from airflow_entityresolution.errors import EntityResolutionJobFailedError, EntityResolutionMetricsGateError
from airflow_entityresolution.renamed import serve_old_names

if TYPE_CHECKING:
    from airflow_entityresolution.shapes import JobDescription, JobMetrics

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


def check_end_statuses(value: Any, parameter: str = "statuses") -> list[str]:
    """Return ``value`` as a sorted list if it is a non-empty collection of end statuses, else raise."""
    expected = f"a non-empty list of end statuses from {', '.join(sorted(TERMINAL_STATUSES))}"
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Collection) or not value:
        raise validation.InvalidParameterError(parameter, value, expected)
    if not all(isinstance(status, str) for status in value) or not set(value) <= TERMINAL_STATUSES:
        raise validation.InvalidParameterError(parameter, value, expected)
    return sorted(str(status) for status in set(value))


class TaskLog(Protocol):
    """
    What the provider logs through: a ``logging.Logger``, or the structlog-based logger of
    Airflow 3's tasks and triggers, whose type is not a ``logging.Logger``.
    """

    def info(self, msg: Any, /, *args: Any) -> object: ...

    def warning(self, msg: Any, /, *args: Any) -> object: ...

    def error(self, msg: Any, /, *args: Any) -> object: ...


class Verb(enum.StrEnum):
    """The three job calls every job family offers."""

    START = "Start"
    GET = "Get"
    LIST = "List"


@dataclass(frozen=True)
class JobFamily:
    """
    One family of Entity Resolution job. ID mapping and matching jobs share every line of
    behaviour, in the provider and in the emulator; what differs between them is an entry here.

    :param key: short identifier, used in emulator scenario files and job snapshots.
    :param api_name: the word in operation names, as in ``Start{api_name}Job``.
    :param label: how messages name the family, such as ``ID mapping``.
    :param collection: the first path segment, as in ``/{collection}/{workflowName}/jobs``.
    :param check_workflow_name: the validator of the family's workflow names.
    :param start_body_members: the members a start request body may carry.
    :param metric_names: the members of the family's metrics shape.
    :param reports_job_type: whether the API returns ``jobType`` for the family.
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
        """Name the operation that describes a workflow of the family, such as ``GetMatchingWorkflow``."""
        return f"Get{self.api_name}Workflow"


ID_MAPPING = JobFamily(
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
MATCHING = JobFamily(
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
JOB_FAMILIES: tuple[JobFamily, ...] = (ID_MAPPING, MATCHING)
FAMILY_BY_KEY: dict[str, JobFamily] = {family.key: family for family in JOB_FAMILIES}
"""Each family by its :attr:`JobFamily.key`, the name the operators and sensors give theirs by."""


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

    :param family: the job family.
    :param workflow_name: the job's workflow, as the user named it.
    :param job_id: the job's ID.
    :param description: the Get*Job response as plain JSON, timestamps as ISO-8601 strings.
    """

    family: JobFamily
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
            family_label=self.family.label,
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
            self.family.label,
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
                f"Entity Resolution {state.family.label} job {state.job_id} of workflow "
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


__getattr__ = serve_old_names(__name__, {"JobKind": "JobFamily", "JOB_KINDS": "JOB_FAMILIES"}, globals())
