"""The event a trigger sends the task it resumes: written from a job's state, and read back into one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from airflow_entityresolution.errors import EntityResolutionError, EntityResolutionWaitTimeoutError
from airflow_entityresolution.jobs import JobKind, JobState

if TYPE_CHECKING:
    from airflow_entityresolution.shapes import JobDescription, JobEvent, Outcome


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
