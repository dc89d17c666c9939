"""
What an Entity Resolution error means for a waiting task, and the errors the provider raises.

This module is the one place that knows the service's errors: their HTTP status,
what each means for a task, and the exceptions the provider raises. Retrying the
transient ones is left to botocore's retry configuration (see
:data:`airflow_entityresolution.hooks.DEFAULT_RETRIES`): by the time an error
reaches this module, botocore has already spent its retry budget on it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

if TYPE_CHECKING:
    from airflow_entityresolution.shapes import JobSummary


class ErrorKind(enum.Enum):
    """How a failed request bears on the wait or start that made it."""

    PERMANENT = "permanent"
    """Retrying cannot help: the role lacks permission, the job or workflow is gone, the input is bad."""
    TRANSIENT = "transient"
    """The service or the network failed for a while: retried by botocore with backoff and jitter."""
    BUSY = "busy"
    """A start was refused because the workflow or the account's job quota is in use."""


@dataclass(frozen=True)
class ServiceErrorSpec:
    """One exception the Entity Resolution API answers: its HTTP status and what it means."""

    http_status: int
    kind: ErrorKind


SERVICE_ERRORS: dict[str, ServiceErrorSpec] = {
    "AccessDeniedException": ServiceErrorSpec(403, ErrorKind.PERMANENT),
    "ResourceNotFoundException": ServiceErrorSpec(404, ErrorKind.PERMANENT),
    "ValidationException": ServiceErrorSpec(400, ErrorKind.PERMANENT),
    "ThrottlingException": ServiceErrorSpec(429, ErrorKind.TRANSIENT),
    "InternalServerException": ServiceErrorSpec(500, ErrorKind.TRANSIENT),
    "ConflictException": ServiceErrorSpec(400, ErrorKind.BUSY),
    "ExceedsLimitException": ServiceErrorSpec(402, ErrorKind.BUSY),
}


def error_code(error: BaseException) -> str:
    """Name the service's exception behind ``error``, or its Python class when there is none."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") or type(error).__name__
    return type(error).__name__


def classify(error: BaseException) -> ErrorKind:
    """
    Tell what ``error`` means for the task.

    Unknown 5xx answers and network failures (a refused, dropped or timed-out connection)
    are transient; everything else botocore raises, such as missing credentials or region,
    is a configuration error that no retry fixes.
    """
    known = SERVICE_ERRORS.get(error_code(error))
    if known is not None:
        return known.kind
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return ErrorKind.TRANSIENT if status >= 500 else ErrorKind.PERMANENT
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


def may_have_taken_effect(error: BaseException) -> bool:
    """
    Tell whether the service may have carried out a request that failed with ``error``.

    A 4xx answer (429 among them) is a refusal: nothing happened. No answer at all (a dropped,
    refused or timed-out connection) or a 5xx leaves it unknown, so a start may have begun a job.
    """
    if isinstance(error, ClientError):
        known = SERVICE_ERRORS.get(error_code(error))
        answered = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return (known.http_status if known else answered) >= 500
    return isinstance(error, BotoConnectionError | HTTPClientError)


def service_message(error: BaseException) -> str:
    """Return the service's own message for ``error`` (with the quota it names, if any), or its text."""
    if not isinstance(error, ClientError):
        return str(error)
    message = error.response.get("Error", {}).get("Message") or str(error)
    quota = {name: error.response[name] for name in ("quotaName", "quotaValue") if name in error.response}
    if quota:
        message += " (" + ", ".join(f"{name}={value}" for name, value in quota.items()) + ")"
    return message


def _attempts(error: BaseException) -> int | None:
    """Count botocore's attempts when it gave up retrying, else ``None``."""
    if not isinstance(error, ClientError):
        return None
    metadata = error.response.get("ResponseMetadata", {})
    if not metadata.get("MaxAttemptsReached"):
        return None
    return int(metadata.get("RetryAttempts", 0)) + 1


class EntityResolutionError(Exception):
    """
    Base class of every error the provider raises about a job or a request.

    It derives from ``Exception`` rather than ``AirflowException``: Airflow fails (and
    retries) a task the same way for both, and this keeps the module, and the emulator
    that shares its error table, importable without loading Airflow.
    """


class EntityResolutionRequestError(EntityResolutionError):
    """
    A request to the Entity Resolution API failed for good.

    :param operation: the API operation, such as ``GetIdMappingJob``.
    :param workflow_name: the workflow the request was about.
    :param job_id: the job the request was about, if any.
    :param code: the service's exception name, such as ``AccessDeniedException``.
    :param kind: what the error means for the task.
    :param message: the service's own message.
    :param attempts: how many attempts botocore made, when it gave up retrying.
    :param may_have_taken_effect: whether the service may have carried out the request anyway
        (no answer came back, or a 5xx did); see :func:`may_have_taken_effect`.
    :param resource: what ``workflow_name`` names: ``workflow``, or ``ID namespace`` for GetIdNamespace.
    """

    def __init__(
        self,
        *,
        operation: str,
        workflow_name: str,
        job_id: str | None,
        code: str,
        kind: ErrorKind,
        message: str,
        attempts: int | None = None,
        may_have_taken_effect: bool = False,
        resource: str = "workflow",
    ) -> None:
        self.operation = operation
        self.workflow_name = workflow_name
        self.resource = resource
        self.job_id = job_id
        self.code = code
        self.kind = kind
        self.service_message = message
        self.attempts = attempts
        self.may_have_taken_effect = may_have_taken_effect
        super().__init__(self._describe())

    def _describe(self) -> str:
        subject = f"{self.resource} {self.workflow_name!r}"
        if self.job_id:
            subject = f"job {self.job_id} of {subject}"
        text = f"{self.operation} failed for {subject}: {self.code}: {self.service_message}"
        # Starts are sent once (the API takes no idempotency token), so retry settings cannot help them.
        if self.kind is ErrorKind.TRANSIENT and not self.operation.startswith("Start"):
            tries = f"{self.attempts} attempts" if self.attempts else "botocore's retries"
            text += (
                f" (still failing after {tries}; to wait out longer outages raise "
                "botocore_config={'retries': {'max_attempts': N}})"
            )
        return text


class EntityResolutionJobFailedError(EntityResolutionError):
    """
    The job ended FAILED; the message carries the service's ``errorDetails.errorMessage`` verbatim.

    :param kind_label: the kind of job, such as ``ID mapping``.
    :param workflow_name: the job's workflow.
    :param job_id: the job's ID.
    :param error_message: the service's ``errorDetails.errorMessage``, if it sent one.
    """

    def __init__(
        self, *, kind_label: str, workflow_name: str, job_id: str, error_message: str | None
    ) -> None:
        self.workflow_name = workflow_name
        self.job_id = job_id
        self.error_message = error_message
        reason = error_message if error_message else "the service gave no errorDetails.errorMessage"
        super().__init__(
            f"Entity Resolution {kind_label} job {job_id} of workflow {workflow_name!r} FAILED: {reason}"
        )


class EntityResolutionWorkflowBusyError(EntityResolutionError):
    """
    The service refused a start because a job is already running; the message names it.

    :param workflow_name: the workflow whose start was refused.
    :param running_job: the summary of this workflow's unfinished job, if it has one.
    :param cause: the refusal, a ``ConflictException`` or ``ExceedsLimitException``.
    :param tries: how many starts the service has refused so far.
    """

    def __init__(
        self,
        *,
        workflow_name: str,
        running_job: JobSummary | None,
        cause: EntityResolutionRequestError,
        tries: int,
    ) -> None:
        self.workflow_name = workflow_name
        self.running_job = running_job
        self.tries = tries
        if running_job:
            holder = (
                f"job {running_job.get('jobId')} of this workflow is {running_job.get('status')}"
                f" (started {running_job.get('startTime')})"
            )
        else:
            holder = "no job of this workflow is running, so another workflow's job holds the account's quota"
        super().__init__(
            f"Workflow {workflow_name!r} is busy after {tries} start(s): {cause.code}: "
            f"{cause.service_message}; {holder}"
        )


class EntityResolutionWaitTimeoutError(EntityResolutionError):
    """The job did not reach a terminal status within the configured attempts."""


class EntityResolutionMetricsGateError(EntityResolutionError):
    """
    The job SUCCEEDED, but left more records unprocessed than ``max_records_not_processed`` allows.

    The message names the figures: records not processed, input records, and the limit.
    """


def request_error(
    error: ClientError | BotoCoreError,
    operation: str,
    workflow_name: str,
    job_id: str | None = None,
    resource: str = "workflow",
) -> EntityResolutionRequestError:
    """Turn a botocore error into the provider's error, keeping the service's message."""
    return EntityResolutionRequestError(
        operation=operation,
        workflow_name=workflow_name,
        job_id=job_id,
        code=error_code(error),
        kind=classify(error),
        message=service_message(error),
        attempts=_attempts(error),
        may_have_taken_effect=may_have_taken_effect(error),
        resource=resource,
    )


@contextmanager
def translated_errors(
    operation: str, workflow_name: str, job_id: str | None = None, resource: str = "workflow"
) -> Iterator[None]:
    """Re-raise botocore errors met in the block as :class:`EntityResolutionRequestError`."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        # The message already carries the service's code and text; botocore's traceback adds only noise.
        raise request_error(error, operation, workflow_name, job_id, resource) from None
