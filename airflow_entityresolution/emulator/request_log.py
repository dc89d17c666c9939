"""The request log: the newest requests an emulator answered, and a count of every one."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from airflow_entityresolution.emulator.clock import Clock
from airflow_entityresolution.emulator.faults import Fault
from airflow_entityresolution.emulator.replies import Reply
from airflow_entityresolution.emulator.wire import ApiCall, workflow_name_of

DEFAULT_REQUEST_LOG_LIMIT = 100_000


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


class RequestLog:
    """
    The requests answered, the newest ``limit`` of them kept, every one counted; it does not lock.

    :param limit: how many of the newest requests it keeps; ``None`` keeps all.
    :param clock: the clock that dates the requests.
    """

    def __init__(self, limit: int | None, clock: Clock) -> None:
        self._clock = clock
        self._requests: deque[RecordedRequest] = deque(maxlen=limit)
        self._counts: Counter[tuple[str | None, str | None]] = Counter()

    def record(self, call: ApiCall, reply: Reply, fault: Fault | None) -> None:
        """Log one answered request, and count it under its operation and workflow name."""
        self._counts[(call.operation, workflow_name_of(call.workflow_name))] += 1
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
                time=self._clock.epoch_seconds(),
                access_key_id=call.access_key_id,
            )
        )

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests kept, oldest first."""
        return list(self._requests)

    def count(self, operation: str, workflow_name: str | None) -> int:
        """Count the requests of ``operation``, of one workflow or ID namespace name or of any."""
        return sum(
            number
            for (counted_operation, counted_workflow), number in self._counts.items()
            if counted_operation == operation and workflow_name in (None, counted_workflow)
        )

    def clear(self) -> None:
        """Forget every request, and every count."""
        self._requests.clear()
        self._counts.clear()
