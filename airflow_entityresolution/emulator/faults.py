"""Injected faults: what each does, which operations it may hit, and how it changes an answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict, Unpack

from airflow_entityresolution.emulator.replies import Reply, ServiceError
from airflow_entityresolution.emulator.resource_types import RESOURCE_TYPES, WORKFLOW_TYPE_OF, ResourceVerb
from airflow_entityresolution.emulator.wire import OPERATIONS, ApiCall, workflow_name_of
from airflow_entityresolution.jobs import JOB_KINDS, Verb


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


def answer_with_fault(fault: Fault, call: ApiCall, answer: Callable[[], Reply]) -> Reply:
    """
    Answer ``call`` as ``fault`` makes it answered.

    :param fault: the fault the call consumed.
    :param call: the request.
    :param answer: answers the request as if no fault hit it, taking its effect.
    """
    if fault.kind in FAULT_ERRORS:
        return _fault_error(call, fault).reply()
    if fault.kind is FaultKind.DROP_CONNECTION:
        return Reply(status=None)
    return REPLY_ALTERATIONS[fault.kind](answer(), fault)


@dataclass
class _ArmedFault:
    fault: Fault
    remaining: int | None


class ArmedFaults:
    """The faults armed and not used up yet, in the order they take effect; it does not lock."""

    def __init__(self) -> None:
        self._armed: list[_ArmedFault] = []

    def arm(self, faults: Iterable[Fault]) -> None:
        """Arm ``faults``, after those armed already."""
        self._armed.extend(_ArmedFault(fault, fault.count) for fault in faults)

    def take(self, call: ApiCall) -> Fault | None:
        """Use up one hit of the first armed fault that matches ``call``, and return it."""
        for armed in self._armed:
            if armed.fault.matches(call):
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                return armed.fault
        return None

    def clear(self) -> None:
        """Disarm every fault."""
        self._armed.clear()
