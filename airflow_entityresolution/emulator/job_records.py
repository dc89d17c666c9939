"""One job's record: its status, metrics and answers, derived from its script and the monotonic clock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_entityresolution.emulator.scripts import JobScript, ScriptedWorkflow
from airflow_entityresolution.jobs import JobFamily, JobStatus

# Metrics a job reports while it runs; the rest appear once it is terminal.
RUNNING_METRICS = frozenset({"inputRecords"})


@dataclass(frozen=True)
class JobSnapshot:
    """
    A job as the emulator sees it at one moment.

    :param job_id: the job's ID.
    :param family: ``"id_mapping"`` or ``"matching"``.
    :param workflow_name: the name of its workflow.
    :param region: the region it runs in.
    :param status: QUEUED, RUNNING, SUCCEEDED or FAILED.
    :param start_time: when it was started, in epoch seconds.
    :param end_time: when it ended, in epoch seconds; ``None`` until it is terminal.
    :param error_message: the error message of a FAILED job.
    :param metrics: the metrics a Get would report now.
    :param job_type: the ``jobType`` it was started with.
    :param output_source_config: the output sources it reports.
    :param self_started: whether its workflow started it by itself, with no Start call.
    """

    job_id: str
    family: str
    workflow_name: str
    region: str
    status: str
    start_time: float
    end_time: float | None
    error_message: str | None
    metrics: Mapping[str, int] | None
    job_type: str | None
    output_source_config: Sequence[Mapping[str, str]] | None
    self_started: bool = False


@dataclass(frozen=True)
class ForcedEnd:
    """
    How :meth:`EntityResolutionEmulator.finish_job` ended a job, whatever its script said.

    :param status: SUCCEEDED or FAILED.
    :param error_message: the error message of a FAILED job.
    :param at: when it ended, on the monotonic clock.
    """

    status: str
    error_message: str | None
    at: float


@dataclass
class Job:
    """
    A job's record; its status is derived from the monotonic clock whenever asked.

    A job queued behind another (``concurrency="queue"``) has no ``clock_start``
    until the job it ``waits_for`` ends: only then does its script's clock run.

    :param job_id: the job's ID.
    :param workflow: the workflow it runs on.
    :param script: how it runs and ends.
    :param created_at: when it was started, on the monotonic clock.
    :param created_wall: when it was started, in epoch seconds.
    :param job_type: the ``jobType`` it was started with.
    :param output_source_config: the output sources it reports.
    :param clock_start: when its script's clock started; ``None`` while it waits for another job.
    :param waits_for: the job it is queued behind, until that one ends.
    :param forced: how it was ended by hand, if it was.
    :param self_started: whether its workflow started it by itself, with no Start call.
    """

    job_id: str
    workflow: ScriptedWorkflow
    script: JobScript
    created_at: float
    created_wall: float
    job_type: str | None
    output_source_config: Sequence[Mapping[str, str]] | None
    clock_start: float | None
    waits_for: Job | None = None
    forced: ForcedEnd | None = None
    self_started: bool = False

    @property
    def family(self) -> JobFamily:
        """The family of the job, its workflow's."""
        return self.workflow.family

    def scripted_end(self) -> float | None:
        """The monotonic time the job ends, if it is known by now."""
        if self.forced is not None:
            return self.forced.at
        if self.clock_start is None or self.script.running_seconds is None:
            return None
        return self.clock_start + self.script.queued_seconds + self.script.running_seconds

    def ended_by(self, now: float) -> bool:
        """Tell whether the job has ended by ``now``."""
        end = self.scripted_end()
        return end is not None and end <= now

    def status_at(self, now: float) -> str:
        """The job's status at ``now``: QUEUED, RUNNING, SUCCEEDED or FAILED."""
        if self.forced is not None:
            return self.forced.status
        if self.clock_start is None or now < self.clock_start + self.script.queued_seconds:
            return JobStatus.QUEUED
        return self.script.status if self.ended_by(now) else JobStatus.RUNNING

    def wall_time(self, monotonic_time: float) -> float:
        """A time on the monotonic clock, in epoch seconds."""
        return self.created_wall + (monotonic_time - self.created_at)

    def error_message(self, now: float) -> str | None:
        """The error message the job reports at ``now``; ``None`` unless it has FAILED."""
        if self.forced is not None:
            return self.forced.error_message
        return self.script.final_error_message if self.ended_by(now) else None

    def metrics_at(self, now: float) -> dict[str, int] | None:
        """The metrics a Get reports at ``now``: none while QUEUED, only ``inputRecords`` while RUNNING."""
        status = self.status_at(now)
        metrics = dict(self.script.metrics or {})
        if status == JobStatus.RUNNING:
            metrics = {name: value for name, value in metrics.items() if name in RUNNING_METRICS}
        return metrics if metrics and status != JobStatus.QUEUED else None

    def summary(self, now: float) -> dict[str, Any]:
        """The job's entry in a List answer at ``now``."""
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
        """The Get answer at ``now``."""
        payload = self.summary(now)
        optional = {
            "metrics": self.metrics_at(now),
            "errorDetails": _error_details(self.error_message(now)),
            "outputSourceConfig": _as_list(self.output_source_config),
            "jobType": self.job_type if self.family.reports_job_type else None,
        }
        payload.update({name: value for name, value in optional.items() if value is not None})
        return payload

    def snapshot(self, now: float) -> JobSnapshot:
        """The job as tests see it at ``now``."""
        summary = self.summary(now)
        return JobSnapshot(
            job_id=self.job_id,
            family=self.family.key,
            workflow_name=self.workflow.name,
            region=self.workflow.region,
            status=summary["status"],
            start_time=summary["startTime"],
            end_time=summary.get("endTime"),
            error_message=self.error_message(now),
            metrics=self.metrics_at(now),
            job_type=self.job_type,
            output_source_config=self.output_source_config,
            self_started=self.self_started,
        )


def _error_details(message: str | None) -> dict[str, str] | None:
    return None if message is None else {"errorMessage": message}


def _as_list(config: Sequence[Mapping[str, str]] | None) -> list[dict[str, str]] | None:
    return None if config is None else [dict(source) for source in config]
