"""
The in-memory Entity Resolution job service behind the emulator.

Nothing here speaks HTTP: :mod:`airflow_entityresolution.emulator.server`
turns each request into an :class:`ApiCall`, hands it to
:meth:`EntityResolutionEmulator.handle` and writes the :class:`Reply` it gets
back. Everything that decides an answer (workflows, job lifecycles, the
concurrency quota, the rate limit, injected faults and the request log) lives
in this module, behind one lock, because tests drive the emulator from their
own thread while the server answers from another.

ID mapping and matching jobs share every line of behaviour: what differs
between them is a :class:`JobKind` entry in :data:`JOB_KINDS`. Workflow and
ID namespace resources (definitions, checks, answers) are defined in
:mod:`airflow_entityresolution.emulator.workflows`; this module stores them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypedDict, Unpack

from airflow_entityresolution.emulator.replies import (
    ERROR_STATUS,
    Reply,
    ServiceError,
    checked,
    json_body,
    page,
    page_size,
)
from airflow_entityresolution.emulator.resource_types import (
    ID_NAMESPACE,
    RESOURCE_OPERATIONS,
    RESOURCE_TYPES,
    WORKFLOW_TYPE_OF,
    ResourceType,
    ResourceVerb,
    name_in_arn,
)
from airflow_entityresolution.emulator.workflows import Resource, ResourceStore
from airflow_entityresolution.jobs import (
    ID_MAPPING,
    JOB_KINDS,
    MATCHING,
    TERMINAL_STATUSES,
    JobKind,
    JobStatus,
    Verb,
)
from airflow_entityresolution.validation import (
    ID_MAPPING_WORKFLOW_ARN,
    ID_NAMESPACE_ARN,
    check_job_id,
    check_job_type,
    check_output_source_config,
)

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_ERROR_MESSAGE = "The job failed."
DEFAULT_REQUEST_LOG_LIMIT = 100_000

Concurrency = Literal["reject", "queue", "unlimited"]
# A scenario mapping, or the path of a JSON file that holds one.
Scenario = Mapping[str, Any] | str | PathLike[str]
# How a job script ends: as written in a scenario file, or as a JobStatus member.
ScriptedStatus = Literal["SUCCEEDED", "FAILED", JobStatus.SUCCEEDED, JobStatus.FAILED]
CONCURRENCY_MODES: tuple[str, ...] = ("reject", "queue", "unlimited")

KIND_BY_COLLECTION: Mapping[str, JobKind] = {kind.collection: kind for kind in JOB_KINDS}
OPERATIONS: frozenset[str] = (
    frozenset(kind.operation(verb) for kind in JOB_KINDS for verb in Verb) | RESOURCE_OPERATIONS
)
# Metrics a job reports while it runs; the rest appear once it is terminal.
RUNNING_METRICS = frozenset({"inputRecords"})


@dataclass(frozen=True)
class JobScript:
    """
    How one job behaves: how long it queues and runs, and how it ends.

    :param queued_seconds: how long the job stays QUEUED once its clock starts.
    :param running_seconds: how long it then stays RUNNING; ``None`` means it never finishes.
    :param status: the final status, SUCCEEDED or FAILED.
    :param error_message: ``errorDetails.errorMessage`` of a FAILED job.
    :param metrics: the final metrics; while RUNNING only ``inputRecords`` of them shows.
    :param output_source_config: what the job reports as ``outputSourceConfig`` when the
        start request names none.
    """

    queued_seconds: float = 0.0
    running_seconds: float | None = 1.0
    status: ScriptedStatus = JobStatus.SUCCEEDED
    error_message: str | None = None
    metrics: Mapping[str, int] | None = None
    output_source_config: Sequence[Mapping[str, str]] | None = None

    def __post_init__(self) -> None:
        if self.status not in TERMINAL_STATUSES:
            raise ValueError(f"A job script ends SUCCEEDED or FAILED, not {self.status!r}.")
        if self.queued_seconds < 0 or (self.running_seconds is not None and self.running_seconds < 0):
            raise ValueError("A job script's durations cannot be negative.")
        if self.error_message is not None and not 1 <= len(self.error_message) <= 2048:
            raise ValueError("An error message has 1 to 2048 characters.")
        for name, value in (self.metrics or {}).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Metric {name!r} must be a non-negative integer, not {value!r}.")
        if self.output_source_config is not None:
            config = check_output_source_config(list(self.output_source_config), "output_source_config")
            object.__setattr__(self, "output_source_config", tuple(config or ()))

    @classmethod
    def succeeded(
        cls,
        metrics: Mapping[str, int] | None = None,
        *,
        queued_seconds: float = 0.0,
        running_seconds: float = 1.0,
    ) -> JobScript:
        """Script a job that succeeds with ``metrics``."""
        return cls(queued_seconds, running_seconds, JobStatus.SUCCEEDED, None, metrics)

    @classmethod
    def failed(
        cls,
        error_message: str = DEFAULT_ERROR_MESSAGE,
        *,
        queued_seconds: float = 0.0,
        running_seconds: float = 1.0,
        metrics: Mapping[str, int] | None = None,
    ) -> JobScript:
        """Script a job that fails with ``error_message``."""
        return cls(queued_seconds, running_seconds, JobStatus.FAILED, error_message, metrics)

    @classmethod
    def never_finishing(cls, *, queued_seconds: float = 0.0) -> JobScript:
        """Script a job that runs until :meth:`EntityResolutionEmulator.finish_job` ends it."""
        return cls(queued_seconds, None)

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> JobScript:
        """Build a script from a scenario entry whose keys are this class's field names."""
        known = {script_field.name for script_field in dataclasses.fields(cls)}
        _refuse_unknown_keys(spec, known, "a job script")
        return cls(**spec)

    @property
    def final_error_message(self) -> str | None:
        """The message a FAILED job reports, ``None`` for a successful one."""
        if self.status != JobStatus.FAILED:
            return None
        return self.error_message or DEFAULT_ERROR_MESSAGE


class FaultKind(StrEnum):
    """What an injected :class:`Fault` does to a request."""

    THROTTLE = "throttle"
    SERVER_ERROR = "server_error"
    ACCESS_DENIED = "access_denied"
    NOT_FOUND = "not_found"
    VALIDATION = "validation"
    CONFLICT = "conflict"
    EXCEEDS_LIMIT = "exceeds_limit"
    LATENCY = "latency"
    DROP_CONNECTION = "drop_connection"
    MALFORMED_BODY = "malformed_body"
    STATUS_OVERRIDE = "status_override"


# The error each error fault answers, and its default message.
FAULT_ERRORS: Mapping[FaultKind, tuple[str, str]] = {
    FaultKind.THROTTLE: ("ThrottlingException", "Rate exceeded"),
    FaultKind.SERVER_ERROR: ("InternalServerException", "The service failed to process the request."),
    FaultKind.ACCESS_DENIED: (
        "AccessDeniedException",
        "User is not authorized to perform: entityresolution:{operation} on workflow {workflow}",
    ),
    FaultKind.NOT_FOUND: ("ResourceNotFoundException", "Workflow {workflow} not found."),
    FaultKind.VALIDATION: (
        "ValidationException",
        "1 validation error detected: Value at 'workflowName' failed to satisfy constraint",
    ),
    FaultKind.CONFLICT: ("ConflictException", "Workflow {workflow} is busy; try again later."),
    FaultKind.EXCEEDS_LIMIT: ("ExceedsLimitException", "A quota of the account is reached."),
}
START_OPERATIONS = frozenset(kind.operation(Verb.START) for kind in JOB_KINDS)
GET_OPERATIONS = frozenset(kind.operation(Verb.GET) for kind in JOB_KINDS)
CREATE_OPERATIONS = frozenset(kind.operation(ResourceVerb.CREATE) for kind in RESOURCE_TYPES)
DELETE_WORKFLOW_OPERATIONS = frozenset(
    kind.operation(ResourceVerb.DELETE) for kind in WORKFLOW_TYPE_OF.values()
)
RESOURCE_LIST_OPERATIONS = frozenset(kind.operation(ResourceVerb.LIST) for kind in RESOURCE_TYPES)
# The model lets only these operations answer these faults; the others may hit any operation.
FAULT_OPERATIONS: Mapping[FaultKind, frozenset[str]] = {
    FaultKind.CONFLICT: START_OPERATIONS | CREATE_OPERATIONS | DELETE_WORKFLOW_OPERATIONS,
    FaultKind.EXCEEDS_LIMIT: START_OPERATIONS | CREATE_OPERATIONS,
    FaultKind.NOT_FOUND: OPERATIONS - CREATE_OPERATIONS - RESOURCE_LIST_OPERATIONS,
    FaultKind.STATUS_OVERRIDE: GET_OPERATIONS,
}


class FaultScope(TypedDict, total=False):
    """The keyword arguments every :class:`Fault` constructor takes."""

    operation: str | None
    workflow_name: str | None
    message: str | None


@dataclass(frozen=True)
class Fault:
    """
    A misbehaviour the emulator shows to the next requests it matches.

    Build one with a constructor named after its kind, e.g. ``Fault.throttle(count=2)``.

    :param kind: what the fault does.
    :param count: how many matching requests it hits; ``None`` hits every one.
    :param operation: the operation it hits, e.g. ``"GetIdMappingJob"``; ``None`` for any.
    :param workflow_name: the workflow (or ID namespace) it hits, by name (requests by ARN
        count too); ``None`` for any. A List of workflows or namespaces names none.
    :param seconds: the delay of a latency fault.
    :param status: the status string a status override answers.
    :param message: the error message of an error fault, instead of the default.
    :param quota_name: ``quotaName`` of an exceeds-limit error.
    :param quota_value: ``quotaValue`` of an exceeds-limit error.
    """

    kind: FaultKind
    count: int | None = 1
    operation: str | None = None
    workflow_name: str | None = None
    seconds: float = 0.0
    status: str | None = None
    message: str | None = None
    quota_name: str | None = None
    quota_value: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        if self.count is not None and self.count < 1:
            raise ValueError("A fault hits at least one request; use count=None for all of them.")
        allowed = FAULT_OPERATIONS.get(self.kind, OPERATIONS)
        if self.operation is not None and self.operation not in allowed:
            raise ValueError(f"A {self.kind} fault can hit {sorted(allowed)}, not {self.operation!r}.")

    @classmethod
    def throttle(cls, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer 429 ThrottlingException."""
        return cls(FaultKind.THROTTLE, count, **scope)

    @classmethod
    def validation_error(cls, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer 400 ValidationException, as the service does for input it refuses."""
        return cls(FaultKind.VALIDATION, count, **scope)

    @classmethod
    def server_error(cls, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer 500 InternalServerException."""
        return cls(FaultKind.SERVER_ERROR, count, **scope)

    @classmethod
    def access_denied(cls, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer 403 AccessDeniedException."""
        return cls(FaultKind.ACCESS_DENIED, count, **scope)

    @classmethod
    def not_found(cls, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer 404 ResourceNotFoundException."""
        return cls(FaultKind.NOT_FOUND, count, **scope)

    @classmethod
    def conflict(cls, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer a start with 400 ConflictException."""
        return cls(FaultKind.CONFLICT, count, **scope)

    @classmethod
    def exceeds_limit(
        cls,
        count: int | None = 1,
        *,
        quota_name: str = "Concurrent jobs",
        quota_value: int = 1,
        **scope: Unpack[FaultScope],
    ) -> Fault:
        """Answer a start with 402 ExceedsLimitException carrying ``quotaName`` and ``quotaValue``."""
        return cls(FaultKind.EXCEEDS_LIMIT, count, quota_name=quota_name, quota_value=quota_value, **scope)

    @classmethod
    def latency(cls, seconds: float, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer normally, ``seconds`` late; the request takes effect before the delay."""
        return cls(FaultKind.LATENCY, count, seconds=seconds, **scope)

    @classmethod
    def drop_connection(cls, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Close the connection without an answer; the request takes no effect."""
        return cls(FaultKind.DROP_CONNECTION, count, **scope)

    @classmethod
    def malformed_body(cls, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer 200 with the first half of the JSON body; the request takes effect."""
        return cls(FaultKind.MALFORMED_BODY, count, **scope)

    @classmethod
    def status_override(cls, status: str, count: int | None = 1, **scope: Unpack[FaultScope]) -> Fault:
        """Answer a Get with ``status`` in place of the job's real status."""
        return cls(FaultKind.STATUS_OVERRIDE, count, status=status, **scope)

    def matches(self, call: ApiCall) -> bool:
        """Tell whether this fault hits ``call``."""
        operation = call.operation
        if operation is None or operation not in FAULT_OPERATIONS.get(self.kind, OPERATIONS):
            return False
        if self.operation is not None and self.operation != operation:
            return False
        return self.workflow_name is None or self.workflow_name == workflow_name_of(call.workflow_name)


@dataclass(frozen=True)
class ApiCall:
    """
    One request, as the server parsed it off the wire.

    :param method: the HTTP method.
    :param path: the raw request path, as sent.
    :param region: the region of the request's SigV4 credential scope.
    :param access_key_id: the access key ID the request was signed with, if it was signed.
    :param kind: the job kind its path addresses; ``None`` unless it is a job call.
    :param verb: the job call it makes; ``None`` unless it is a job call.
    :param workflow_name: the percent-decoded ``workflowName`` (or ``idNamespaceName``) path
        segment; for a Create, the name its body carries.
    :param job_id: the percent-decoded ``jobId`` path segment of a Get.
    :param query: the query string parameters.
    :param body: the request body.
    :param resource: the workflow or ID namespace type its path addresses; ``None`` unless it
        is a call on such a resource.
    :param resource_verb: the resource call it makes; ``None`` unless it is one.
    """

    method: str
    path: str
    region: str = DEFAULT_REGION
    access_key_id: str | None = None
    kind: JobKind | None = None
    verb: Verb | None = None
    workflow_name: str | None = None
    job_id: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    resource: ResourceType | None = None
    resource_verb: ResourceVerb | None = None

    @property
    def operation(self) -> str | None:
        """The operation name, e.g. ``StartMatchingJob``; ``None`` for an unknown path."""
        if self.resource is not None and self.resource_verb is not None:
            return self.resource.operation(self.resource_verb)
        if self.kind is None or self.verb is None:
            return None
        return self.kind.operation(self.verb)


@dataclass(frozen=True)
class RecordedRequest:
    """
    One request the emulator answered, as its request log keeps it.

    :param operation: the operation name, ``None`` for a path no operation owns.
    :param workflow_name: the ``workflowName`` as sent (a name or an ARN); for an ID namespace
        call its ``idNamespaceName``; for a Create the name in its body; ``None`` for a List of
        workflows or namespaces.
    :param job_id: the ``jobId`` of a Get.
    :param status: the HTTP status answered; ``None`` if the connection was dropped.
    :param region: the region of the request's credential scope.
    :param error_code: the exception answered, if any.
    :param fault: the injected fault the request consumed, if any.
    :param method: the HTTP method.
    :param path: the raw request path.
    :param time: when it was answered, in epoch seconds.
    :param access_key_id: the access key ID the request was signed with, if it was signed.
    """

    operation: str | None
    workflow_name: str | None
    job_id: str | None
    status: int | None
    region: str
    error_code: str | None
    fault: Fault | None
    method: str
    path: str
    time: float
    access_key_id: str | None = None


@dataclass(frozen=True)
class JobSnapshot:
    """
    A job as the emulator sees it at one moment.

    :param job_id: the job's ID.
    :param kind: ``"id_mapping"`` or ``"matching"``.
    :param workflow_name: the name of its workflow.
    :param region: the region it runs in.
    :param status: QUEUED, RUNNING, SUCCEEDED or FAILED.
    :param start_time: when it was started, in epoch seconds.
    :param end_time: when it ended, in epoch seconds; ``None`` until it is terminal.
    :param error_message: the error message of a FAILED job.
    :param metrics: the metrics a Get would report now.
    :param job_type: the ``jobType`` it was started with.
    :param output_source_config: the output sources it reports.
    """

    job_id: str
    kind: str
    workflow_name: str
    region: str
    status: str
    start_time: float
    end_time: float | None
    error_message: str | None
    metrics: Mapping[str, int] | None
    job_type: str | None
    output_source_config: Sequence[Mapping[str, str]] | None


def workflow_name_of(reference: str | None) -> str | None:
    """Name the workflow or ID namespace a request refers to, resolving their ARNs."""
    arn = ID_MAPPING_WORKFLOW_ARN.fullmatch(reference or "") or ID_NAMESPACE_ARN.fullmatch(reference or "")
    return arn["name"] if arn else reference


def _fault_error(call: ApiCall, fault: Fault) -> ServiceError:
    code, default_message = FAULT_ERRORS[fault.kind]
    message = (fault.message or default_message).format(operation=call.operation, workflow=call.workflow_name)
    if fault.kind is not FaultKind.EXCEEDS_LIMIT:
        return ServiceError(code, message)
    quota = {"quotaName": fault.quota_name, "quotaValue": fault.quota_value}
    return ServiceError(code, message, **{name: value for name, value in quota.items() if value is not None})


def _override_status(reply: Reply, fault: Fault) -> Reply:
    if reply.error_code is not None:
        return reply
    return dataclasses.replace(reply, payload={**reply.payload, "status": fault.status})


# How the faults that let a request take effect change its answer.
REPLY_ALTERATIONS: Mapping[FaultKind, Callable[[Reply, Fault], Reply]] = {
    FaultKind.LATENCY: lambda reply, fault: dataclasses.replace(reply, delay_seconds=fault.seconds),
    FaultKind.MALFORMED_BODY: lambda reply, fault: dataclasses.replace(reply, truncate_body=True),
    FaultKind.STATUS_OVERRIDE: _override_status,
}


def _refuse_unknown_keys(spec: Mapping[str, Any], known: Iterable[str], what: str) -> None:
    unknown = set(spec) - set(known)
    if unknown:
        raise ValueError(f"Unknown keys in {what}: {', '.join(sorted(unknown))}.")


@dataclass
class _Workflow:
    kind: JobKind
    name: str
    region: str
    script: JobScript
    next_scripts: deque[JobScript] = field(default_factory=deque)

    def take_script(self) -> JobScript:
        return self.next_scripts.popleft() if self.next_scripts else self.script


@dataclass(frozen=True)
class _ForcedEnd:
    status: str
    error_message: str | None
    at: float


@dataclass
class _Job:
    """
    A job's record; its status is derived from the monotonic clock whenever asked.

    A job queued behind another (``concurrency="queue"``) has no ``clock_start``
    until the job it ``waits_for`` ends: only then does its script's clock run.
    """

    job_id: str
    workflow: _Workflow
    script: JobScript
    created_at: float
    created_wall: float
    job_type: str | None
    output_source_config: Sequence[Mapping[str, str]] | None
    clock_start: float | None
    waits_for: _Job | None = None
    forced: _ForcedEnd | None = None

    @property
    def kind(self) -> JobKind:
        return self.workflow.kind

    def scripted_end(self) -> float | None:
        """The monotonic time the job ends, if it is known by now."""
        if self.forced is not None:
            return self.forced.at
        if self.clock_start is None or self.script.running_seconds is None:
            return None
        return self.clock_start + self.script.queued_seconds + self.script.running_seconds

    def ended_by(self, now: float) -> bool:
        end = self.scripted_end()
        return end is not None and end <= now

    def status_at(self, now: float) -> str:
        if self.forced is not None:
            return self.forced.status
        if self.clock_start is None or now < self.clock_start + self.script.queued_seconds:
            return JobStatus.QUEUED
        return self.script.status if self.ended_by(now) else JobStatus.RUNNING

    def wall_time(self, monotonic_time: float) -> float:
        return self.created_wall + (monotonic_time - self.created_at)

    def error_message(self, now: float) -> str | None:
        if self.forced is not None:
            return self.forced.error_message
        return self.script.final_error_message if self.ended_by(now) else None

    def metrics_at(self, now: float) -> dict[str, int] | None:
        status = self.status_at(now)
        metrics = dict(self.script.metrics or {})
        if status == JobStatus.RUNNING:
            metrics = {name: value for name, value in metrics.items() if name in RUNNING_METRICS}
        return metrics if metrics and status != JobStatus.QUEUED else None

    def summary(self, now: float) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "jobId": self.job_id,
            "status": self.status_at(now),
            "startTime": self.created_wall,
        }
        end = self.scripted_end()
        if end is not None and end <= now:
            payload["endTime"] = self.wall_time(end)
        return payload

    def description(self, now: float) -> dict[str, Any]:
        payload = self.summary(now)
        optional = {
            "metrics": self.metrics_at(now),
            "errorDetails": _error_details(self.error_message(now)),
            "outputSourceConfig": _as_list(self.output_source_config),
            "jobType": self.job_type if self.kind.reports_job_type else None,
        }
        payload.update({name: value for name, value in optional.items() if value is not None})
        return payload

    def snapshot(self, now: float) -> JobSnapshot:
        summary = self.summary(now)
        return JobSnapshot(
            job_id=self.job_id,
            kind=self.kind.key,
            workflow_name=self.workflow.name,
            region=self.workflow.region,
            status=summary["status"],
            start_time=summary["startTime"],
            end_time=summary.get("endTime"),
            error_message=self.error_message(now),
            metrics=self.metrics_at(now),
            job_type=self.job_type,
            output_source_config=self.output_source_config,
        )


def _error_details(message: str | None) -> dict[str, str] | None:
    return None if message is None else {"errorMessage": message}


def _as_list(config: Sequence[Mapping[str, str]] | None) -> list[dict[str, str]] | None:
    return None if config is None else [dict(source) for source in config]


@dataclass
class _TokenBucket:
    """Admits ``rate`` requests a second on average, in bursts of up to ``capacity``."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def admit(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class _ArmedFault:
    fault: Fault
    remaining: int | None


class EntityResolutionEmulator:
    """
    An in-memory AWS Entity Resolution job service.

    :class:`~airflow_entityresolution.emulator.server.EmulatorServer` serves it over HTTP.
    Declare workflows, script how their jobs run, inject faults, then read what
    clients asked for in :attr:`requests`. Every method is safe to call from any
    thread while the server runs.

    :param account_id: the account the emulated service belongs to.
    :param concurrency: what a start does while another job of the same kind is
        QUEUED or RUNNING in the region: ``"reject"`` answers ConflictException
        (the service allows one such job at a time), ``"queue"`` keeps the new
        job QUEUED until the earlier ones end, ``"unlimited"`` ignores the quota.
    :param rate_limit_per_second: answer ThrottlingException to requests above this
        rate, per account and region (a token bucket holding one second's worth);
        ``None`` for no limit.
    :param request_log_limit: how many of the newest requests :attr:`requests` keeps, so
        that long benchmarks run in bounded memory; ``None`` keeps all. :meth:`count`
        counts every request regardless.
    """

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT_ID,
        concurrency: Concurrency = "reject",
        rate_limit_per_second: float | None = None,
        request_log_limit: int | None = DEFAULT_REQUEST_LOG_LIMIT,
    ) -> None:
        if concurrency not in CONCURRENCY_MODES:
            raise ValueError(f"concurrency must be one of {CONCURRENCY_MODES}, not {concurrency!r}.")
        if rate_limit_per_second is not None and rate_limit_per_second <= 0:
            raise ValueError("rate_limit_per_second must be positive or None.")
        self.account_id = account_id
        self.concurrency = concurrency
        self.rate_limit_per_second = rate_limit_per_second
        self.endpoint_url: str | None = None
        self._lock = threading.Lock()
        self._workflows: dict[tuple[JobKind, str, str], _Workflow] = {}
        self._resources = ResourceStore(account_id)
        self._jobs: dict[str, _Job] = {}
        self._faults: list[_ArmedFault] = []
        self._buckets: dict[str, _TokenBucket] = {}
        self._requests: deque[RecordedRequest] = deque(maxlen=request_log_limit)
        self._request_counts: Counter[tuple[str | None, str | None]] = Counter()

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> EntityResolutionEmulator:
        """
        Build an emulator from a scenario, or from the path of a JSON file holding one.

        A scenario is a mapping with these keys, all optional::

            {
              "account_id": "123456789012",
              "concurrency": "reject",          # or "queue", "unlimited"
              "rate_limit_per_second": null,
              "request_log_limit": 100000,
              "region": "us-east-1",            # default region of the workflows
              "id_mapping_workflows": {
                "<name>": {
                  "region": "eu-west-1",        # optional, instead of the default
                  "queued_seconds": 0, "running_seconds": 1,   # null: never finishes
                  "status": "SUCCEEDED",        # or "FAILED"
                  "error_message": null,
                  "metrics": {"inputRecords": 100},
                  "output_source_config": [{"outputS3Path": "s3://...", "roleArn": "arn:..."}],
                  "next_jobs": [{...a script of the keys above...}],  # for the first starts
                  "definition": {"inputSourceConfig": [...], ...}  # optional, see add_id_mapping_workflow
                }
              },
              "matching_workflows": {"<name>": {...the same keys...}},
              "id_namespaces": {"<name>": {"region": "eu-west-1", "definition": {"type": "SOURCE", ...}}}
            }

        :param scenario: the scenario mapping, or the path of a JSON file that holds one.
        """
        spec = scenario if isinstance(scenario, Mapping) else json.loads(Path(scenario).read_text())
        _refuse_unknown_keys(
            spec,
            {
                "account_id",
                "concurrency",
                "rate_limit_per_second",
                "request_log_limit",
                "region",
                "id_mapping_workflows",
                "matching_workflows",
                "id_namespaces",
            },
            "a scenario",
        )
        emulator = cls(
            account_id=spec.get("account_id", DEFAULT_ACCOUNT_ID),
            concurrency=spec.get("concurrency", "reject"),
            rate_limit_per_second=spec.get("rate_limit_per_second"),
            request_log_limit=spec.get("request_log_limit", DEFAULT_REQUEST_LOG_LIMIT),
        )
        default_region = spec.get("region", DEFAULT_REGION)
        for kind in JOB_KINDS:
            for name, workflow_spec in spec.get(f"{kind.key}_workflows", {}).items():
                script_spec = dict(workflow_spec)
                region = script_spec.pop("region", default_region)
                definition = script_spec.pop("definition", None)
                next_jobs = [JobScript.from_mapping(script) for script in script_spec.pop("next_jobs", [])]
                script = JobScript.from_mapping(script_spec)
                emulator._add_resource(WORKFLOW_TYPE_OF[kind], name, region, definition, script)
                emulator.script_next_jobs(name, *next_jobs, region=region, kind=kind.key)
        for name, namespace_spec in spec.get("id_namespaces", {}).items():
            _refuse_unknown_keys(namespace_spec, {"region", "definition"}, f"ID namespace {name!r}")
            region = namespace_spec.get("region", default_region)
            emulator.add_id_namespace(name, region, namespace_spec.get("definition"))
        return emulator

    def add_id_mapping_workflow(
        self,
        name: str,
        script: JobScript | None = None,
        region: str = DEFAULT_REGION,
        definition: Mapping[str, Any] | None = None,
    ) -> str:
        """
        Declare an ID mapping workflow and return its ARN.

        Without a definition the workflow gets a rule-based one: a SOURCE input from the Glue
        table ``arn:aws:glue:{region}:{account}:table/entity_resolution/{name}`` with schema
        ``{name}``, output to ``s3://entity-resolution-{account}-{region}/{name}/``, one rule
        matching on ``email``, and the role ``arn:aws:iam::{account}:role/EntityResolutionWorkflowRole``
        (characters other than letters, digits, ``_`` and ``-`` in ``name`` become ``_``).

        :param name: the workflow name.
        :param script: how its jobs run unless :meth:`script_next_jobs` says otherwise.
        :param region: the region it lives in.
        :param definition: the members of a CreateIdMappingWorkflow request but ``workflowName``,
            e.g. ``{"inputSourceConfig": [...], "idMappingTechniques": {...}}``, checked as the
            service checks a Create: a ``ValueError`` names the member at fault.
        """
        return self._add_resource(
            WORKFLOW_TYPE_OF[ID_MAPPING], name, region, definition, script or JobScript()
        )

    def add_matching_workflow(
        self,
        name: str,
        script: JobScript | None = None,
        region: str = DEFAULT_REGION,
        definition: Mapping[str, Any] | None = None,
    ) -> str:
        """
        Declare a matching workflow and return its ARN.

        Without a definition the workflow gets a rule-matching one: an input from the Glue table
        ``arn:aws:glue:{region}:{account}:table/entity_resolution/{name}`` with schema ``{name}``,
        normalized, output of the ``email`` column to ``s3://entity-resolution-{account}-{region}/{name}/``,
        one rule matching on ``email``, and the role
        ``arn:aws:iam::{account}:role/EntityResolutionWorkflowRole``.

        :param name: the workflow name.
        :param script: how its jobs run unless :meth:`script_next_jobs` says otherwise.
        :param region: the region it lives in.
        :param definition: the members of a CreateMatchingWorkflow request but ``workflowName``,
            e.g. ``{"inputSourceConfig": [...], "outputSourceConfig": [...], "resolutionTechniques":
            {...}, "roleArn": "..."}``, checked as the service checks a Create: a ``ValueError``
            names the member at fault.
        """
        return self._add_resource(WORKFLOW_TYPE_OF[MATCHING], name, region, definition, script or JobScript())

    def add_id_namespace(
        self, name: str, region: str = DEFAULT_REGION, definition: Mapping[str, Any] | None = None
    ) -> str:
        """
        Declare an ID namespace and return its ARN.

        Without a definition the namespace is of type SOURCE, with an input from the Glue table
        ``arn:aws:glue:{region}:{account}:table/entity_resolution/{name}`` with schema ``{name}``,
        and the role ``arn:aws:iam::{account}:role/EntityResolutionWorkflowRole``.

        :param name: the namespace name.
        :param region: the region it lives in.
        :param definition: the members of a CreateIdNamespace request but ``idNamespaceName``,
            e.g. ``{"type": "TARGET"}``, checked as the service checks a Create: a ``ValueError``
            names the member at fault.
        """
        return self._add_resource(ID_NAMESPACE, name, region, definition)

    def script_next_jobs(
        self,
        workflow_name: str,
        *scripts: JobScript,
        region: str | None = None,
        kind: str | None = None,
    ) -> None:
        """
        Queue scripts for the next jobs of a workflow, consumed one per start, first in first out.

        Once they are used up, starts fall back to the workflow's own script.

        :param workflow_name: the workflow's name.
        :param scripts: the scripts, for the next starts in order.
        :param region: the workflow's region, needed only if the name is declared in several.
        :param kind: ``"id_mapping"`` or ``"matching"``, needed only if both kinds use the name.
        """
        with self._lock:
            workflow = self._declared_workflow(workflow_name, region, kind)
            for script in scripts:
                _check_script_metrics(workflow.kind, script)
            workflow.next_scripts.extend(scripts)

    def finish_job(
        self, job_id: str, status: str = JobStatus.SUCCEEDED, error_message: str | None = None
    ) -> None:
        """
        End a job now, whatever its script says.

        :param job_id: the job to end; it must not have ended already.
        :param status: SUCCEEDED or FAILED.
        :param error_message: the error message of a FAILED job; defaults to its script's.
        """
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"A job ends SUCCEEDED or FAILED, not {status!r}.")
        with self._lock:
            now = time.monotonic()
            job = self._jobs.get(job_id)
            if job is None:
                raise KeyError(f"No job {job_id!r}.")
            self._start_clock(job, now)
            if job.status_at(now) in TERMINAL_STATUSES:
                raise ValueError(f"Job {job_id} has already ended {job.status_at(now)}.")
            if status == JobStatus.FAILED:
                error_message = error_message or job.script.error_message or DEFAULT_ERROR_MESSAGE
            else:
                error_message = None
            job.forced = _ForcedEnd(status, error_message, now)

    def jobs(self, workflow_name: str | None = None) -> list[JobSnapshot]:
        """
        Snapshot the jobs, oldest first.

        :param workflow_name: only the jobs of workflows of this name; ``None`` for all.
        """
        with self._lock:
            now = time.monotonic()
            selected = [job for job in self._jobs.values() if workflow_name in (None, job.workflow.name)]
            for job in selected:
                self._start_clock(job, now)
            return [job.snapshot(now) for job in selected]

    def inject(self, *faults: Fault) -> None:
        """
        Arm faults; a request consumes the first armed fault that matches it.

        :param faults: the faults, in the order they take effect.
        """
        with self._lock:
            self._faults.extend(_ArmedFault(fault, fault.count) for fault in faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        """The request log, oldest first."""
        with self._lock:
            return list(self._requests)

    def count(self, operation: str, workflow_name: str | None = None) -> int:
        """
        Count the requests of an operation since the start or the last :meth:`reset`.

        :param operation: the operation name, e.g. ``"GetIdMappingJob"``.
        :param workflow_name: only requests for this workflow or ID namespace (by name or ARN;
            a Create counts under the name its body carries); ``None`` for all.
        """
        with self._lock:
            return sum(
                number
                for (counted_operation, counted_workflow), number in self._request_counts.items()
                if counted_operation == operation and workflow_name in (None, counted_workflow)
            )

    def reset(self) -> None:
        """Forget jobs, queued scripts, armed faults, the rate limit's state and the request log."""
        with self._lock:
            self._jobs.clear()
            self._faults.clear()
            self._buckets.clear()
            self._requests.clear()
            self._request_counts.clear()
            for workflow in self._workflows.values():
                workflow.next_scripts.clear()

    def airflow_connection(self, conn_id: str = "aws_default", region_name: str = DEFAULT_REGION) -> str:
        """
        Return an Airflow AWS connection, as JSON, that points at the served emulator.

        Set it as ``AIRFLOW_CONN_<CONN_ID>`` to make that connection reach the emulator.

        :param conn_id: the connection it is meant for; named in its description.
        :param region_name: the region its clients sign for.
        """
        if self.endpoint_url is None:
            raise RuntimeError("The emulator is not served: start an EmulatorServer with it first.")
        return json.dumps(
            {
                "conn_type": "aws",
                "description": f"{conn_id}: AWS Entity Resolution emulator",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": region_name, "endpoint_url": self.endpoint_url},
            }
        )

    def handle(self, call: ApiCall) -> Reply:
        """
        Answer one request and log it.

        :param call: the request, as the server parsed it.
        """
        with self._lock:
            now = time.monotonic()
            fault = None
            if not self._admitted(call.region, now):
                reply = ServiceError("ThrottlingException", "Rate exceeded").reply()
            elif (fault := self._take_fault(call)) is not None:
                reply = self._answer_with_fault(call, fault, now)
            else:
                reply = self._answer(call, now)
            self._log(call, reply, fault)
            return reply

    def _log(self, call: ApiCall, reply: Reply, fault: Fault | None) -> None:
        self._request_counts[(call.operation, workflow_name_of(call.workflow_name))] += 1
        self._requests.append(
            RecordedRequest(
                operation=call.operation,
                workflow_name=call.workflow_name,
                job_id=call.job_id,
                status=reply.status,
                region=call.region,
                error_code=reply.error_code,
                fault=fault,
                method=call.method,
                path=call.path,
                time=time.time(),
                access_key_id=call.access_key_id,
            )
        )

    def _add_resource(
        self,
        resource_type: ResourceType,
        name: str,
        region: str,
        definition: Mapping[str, Any] | None,
        script: JobScript | None = None,
    ) -> str:
        resource_type.check_declared_name(name)
        if resource_type.job_kind is not None and script is not None:
            _check_script_metrics(resource_type.job_kind, script)
        stored = resource_type.checked_definition(definition, self.account_id, region, name)
        with self._lock:
            if self._resources.find(resource_type, region, name) is not None:
                raise ValueError(f"The {resource_type.label} {name!r} is already declared in {region}.")
            resource = self._resources.add(resource_type, name, region, stored)
            return self._keep_job_side(resource, script).arn

    def _keep_job_side(self, resource: Resource, script: JobScript | None = None) -> Resource:
        """Give a new workflow what its jobs need: its scripts, found by kind, region and name."""
        kind = resource.type.job_kind
        if kind is not None:
            workflow = _Workflow(kind, resource.name, resource.region, script or JobScript())
            self._workflows[(kind, resource.region, resource.name)] = workflow
        return resource

    def _forget_job_side(self, resource: Resource, now: float) -> None:
        """Forget a workflow's scripts, so that starts on it are refused; refuse while a job runs."""
        kind = resource.type.job_kind
        if kind is None:
            return
        workflow = self._workflows[(kind, resource.region, resource.name)]
        for job in self._jobs.values():
            if job.workflow is workflow and not self._has_ended(job, now):
                # The model's ConflictException, whose examples include "Workflow is currently running".
                raise ServiceError(
                    "ConflictException",
                    f"The {kind.label} workflow {workflow.name} cannot be deleted: its job "
                    f"{job.job_id} is {job.status_at(now)}.",
                )
        del self._workflows[(kind, resource.region, resource.name)]

    def _declared_workflow(self, name: str, region: str | None, kind: str | None) -> _Workflow:
        candidates = [
            workflow
            for (workflow_kind, workflow_region, workflow_name), workflow in self._workflows.items()
            if workflow_name == name
            and region in (None, workflow_region)
            and kind in (None, workflow_kind.key)
        ]
        if not candidates:
            raise KeyError(f"No workflow {name!r} is declared (region={region}, kind={kind}).")
        if len(candidates) > 1:
            raise ValueError(f"Several workflows are named {name!r}: pass region= and kind= to pick one.")
        return candidates[0]

    def _admitted(self, region: str, now: float) -> bool:
        if self.rate_limit_per_second is None:
            return True
        rate = self.rate_limit_per_second
        # A bucket smaller than one token would never admit anything.
        capacity = max(rate, 1.0)
        bucket = self._buckets.setdefault(region, _TokenBucket(rate, capacity, capacity, now))
        return bucket.admit(now)

    def _take_fault(self, call: ApiCall) -> Fault | None:
        for armed in self._faults:
            if armed.fault.matches(call):
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._faults.remove(armed)
                return armed.fault
        return None

    def _answer_with_fault(self, call: ApiCall, fault: Fault, now: float) -> Reply:
        if fault.kind in FAULT_ERRORS:
            return _fault_error(call, fault).reply()
        if fault.kind is FaultKind.DROP_CONNECTION:
            return Reply(status=None)
        return REPLY_ALTERATIONS[fault.kind](self._answer(call, now), fault)

    def _answer(self, call: ApiCall, now: float) -> Reply:
        perform = self._operation_for(call, now)
        if perform is None:
            return ServiceError(
                "UnknownOperationException", f"No operation answers {call.method} {call.path}."
            ).reply()
        try:
            return Reply(200, perform())
        except ServiceError as error:
            return error.reply()

    def _operation_for(self, call: ApiCall, now: float) -> Callable[[], dict[str, Any]] | None:
        if call.resource is not None and call.resource_verb is not None:
            return functools.partial(self._resource_call, call.resource, call.resource_verb, call, now)
        if call.kind is not None and call.verb is not None:
            job_calls = {Verb.START: self._start_job, Verb.GET: self._get_job, Verb.LIST: self._list_jobs}
            return functools.partial(job_calls[call.verb], call.kind, call, now)
        return None

    def _resource_call(
        self, resource_type: ResourceType, verb: ResourceVerb, call: ApiCall, now: float
    ) -> dict[str, Any]:
        store = self._resources
        if verb is ResourceVerb.LIST:
            return store.list_page(resource_type, call.region, call.query)
        if verb is ResourceVerb.CREATE:
            return self._keep_job_side(store.create(resource_type, call.region, call.body)).created()
        # The current model and API reference answer ResourceNotFoundException to a Delete of a
        # missing resource too; older documentation said such a Delete succeeds.
        resource = store.existing(resource_type, call.region, call.workflow_name, verb)
        if verb is ResourceVerb.GET:
            return resource.description()
        self._forget_job_side(resource, now)
        return store.delete(resource)

    def _start_job(self, kind: JobKind, call: ApiCall, now: float) -> dict[str, Any]:
        checked(kind.check_workflow_name, call.workflow_name, "workflowName")
        body = _start_body(kind, call.body)
        workflow = self._resolve_workflow(kind, call)
        waits_for = self._job_to_wait_for(kind, workflow.region, now)
        script = workflow.take_script()
        job = _Job(
            job_id=uuid.uuid4().hex,
            workflow=workflow,
            script=script,
            created_at=now,
            created_wall=time.time(),
            job_type=body.get("jobType"),
            output_source_config=_as_tuple(body.get("outputSourceConfig")) or script.output_source_config,
            clock_start=None if waits_for else now,
            waits_for=waits_for,
        )
        self._jobs[job.job_id] = job
        payload: dict[str, Any] = {"jobId": job.job_id}
        if kind.reports_job_type:
            echoed = {"outputSourceConfig": body.get("outputSourceConfig"), "jobType": job.job_type}
            payload.update({name: value for name, value in echoed.items() if value is not None})
        return payload

    def _get_job(self, kind: JobKind, call: ApiCall, now: float) -> dict[str, Any]:
        checked(kind.check_workflow_name, call.workflow_name, "workflowName")
        checked(check_job_id, call.job_id, "jobId")
        workflow = self._resolve_workflow(kind, call)
        job = self._jobs.get(call.job_id or "")
        if job is None or job.workflow is not workflow:
            raise ServiceError(
                "ResourceNotFoundException", f"Job {call.job_id} of workflow {workflow.name} not found."
            )
        self._start_clock(job, now)
        return job.description(now)

    def _list_jobs(self, kind: JobKind, call: ApiCall, now: float) -> dict[str, Any]:
        checked(kind.check_workflow_name, call.workflow_name, "workflowName")
        size = page_size(call.query.get("maxResults"))
        workflow = self._resolve_workflow(kind, call)
        newest_first = [job for job in reversed(self._jobs.values()) if job.workflow is workflow]
        listed, next_token = page(newest_first, call.query.get("nextToken"), size, lambda job: job.job_id)
        for job in listed:
            self._start_clock(job, now)
        payload: dict[str, Any] = {"jobs": [job.summary(now) for job in listed]}
        if next_token is not None:
            payload["nextToken"] = next_token
        return payload

    def _resolve_workflow(self, kind: JobKind, call: ApiCall) -> _Workflow:
        """Find the workflow a request names, by name or by an ARN of this account and region."""
        reference = call.workflow_name or ""
        name: str | None = reference
        arn = ID_MAPPING_WORKFLOW_ARN.fullmatch(reference)
        if arn is not None:
            name = name_in_arn(arn, call.region, self.account_id)
        workflow = self._workflows.get((kind, call.region, name)) if name is not None else None
        if workflow is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"The {kind.label} workflow {reference} does not exist in {call.region}.",
            )
        return workflow

    def _job_to_wait_for(self, kind: JobKind, region: str, now: float) -> _Job | None:
        """Apply the one-job-per-kind-and-region quota: the job a new one must wait for, if any."""
        if self.concurrency == "unlimited":
            return None
        unfinished = [
            job
            for job in self._jobs.values()
            if job.kind is kind and job.workflow.region == region and not self._has_ended(job, now)
        ]
        if not unfinished:
            return None
        if self.concurrency == "queue":
            return unfinished[-1]
        busy = unfinished[0]
        raise ServiceError(
            "ConflictException",
            f"Cannot start another {kind.label} job: job {busy.job_id} of workflow "
            f"{busy.workflow.name} is {busy.status_at(now)}, and {region} runs one "
            f"{kind.label} job at a time per account.",
        )

    def _has_ended(self, job: _Job, now: float) -> bool:
        self._start_clock(job, now)
        return job.ended_by(now)

    def _start_clock(self, job: _Job, now: float) -> None:
        """Start the clock of a queued job, and of those it waits behind, once their turn came."""
        waiting: list[_Job] = []
        while job.clock_start is None and job.forced is None and job.waits_for is not None:
            waiting.append(job)
            job = job.waits_for
        for successor in reversed(waiting):
            if not job.ended_by(now):
                return
            successor.clock_start = job.scripted_end()
            successor.waits_for = None
            job = successor


def _check_script_metrics(kind: JobKind, script: JobScript) -> None:
    unknown = set(script.metrics or {}) - kind.metric_names
    if unknown:
        raise ValueError(f"{kind.label} jobs report no metrics named {', '.join(sorted(unknown))}.")


def _as_tuple(config: list[dict[str, str]] | None) -> tuple[Mapping[str, str], ...] | None:
    return None if config is None else tuple(config)


def _start_body(kind: JobKind, raw: bytes) -> dict[str, Any]:
    body = json_body(raw)
    if not isinstance(body, dict):
        raise ServiceError("ValidationException", "The request body must be a JSON object.")
    unknown = set(body) - kind.start_body_members
    if unknown:
        raise ServiceError(
            "ValidationException", f"Unknown members in the request body: {', '.join(sorted(unknown))}."
        )
    if "jobType" in body:
        checked(check_job_type, body["jobType"], "jobType")
    if "outputSourceConfig" in body:
        body["outputSourceConfig"] = checked(
            check_output_source_config, body["outputSourceConfig"], "outputSourceConfig"
        )
    return body


__all__ = [
    "ERROR_STATUS",
    "ApiCall",
    "EntityResolutionEmulator",
    "Fault",
    "FaultKind",
    "JobKind",
    "JobScript",
    "JobSnapshot",
    "RecordedRequest",
    "Reply",
    "ServiceError",
]
