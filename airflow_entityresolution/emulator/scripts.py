"""Scripted job outcomes: how long a job queues and runs and how it ends, and each workflow's scripts."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_entityresolution.jobs import TERMINAL_STATUSES, JobFamily, JobStatus
from airflow_entityresolution.validation import check_output_source_config

DEFAULT_ERROR_MESSAGE = "The job failed."

# How a job script ends: as written in a scenario file, or as a JobStatus member.
ScriptedStatus = Literal["SUCCEEDED", "FAILED", JobStatus.SUCCEEDED, JobStatus.FAILED]


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
        refuse_unknown_keys(spec, known, "a job script")
        return cls(**spec)

    @property
    def final_error_message(self) -> str | None:
        """The message a FAILED job reports, ``None`` for a successful one."""
        if self.status != JobStatus.FAILED:
            return None
        return self.error_message or DEFAULT_ERROR_MESSAGE


@dataclass
class ScriptedWorkflow:
    """
    What a workflow's jobs run: its own script, and the scripts queued for its next starts.

    :param family: the family of its jobs.
    :param name: the workflow's name.
    :param region: the region it lives in.
    :param script: the script of every start no queued script is left for.
    :param next_scripts: the scripts of the next starts, first in first out.
    :param runs_on_new_data: whether the service starts a job whenever new data arrives: a
        matching workflow whose ``incrementalRunConfig.incrementalRunType`` is ``IMMEDIATE``.
    """

    family: JobFamily
    name: str
    region: str
    script: JobScript
    next_scripts: deque[JobScript] = field(default_factory=deque)
    runs_on_new_data: bool = False

    def take_script(self) -> JobScript:
        """The script of the next start."""
        return self.next_scripts.popleft() if self.next_scripts else self.script


def check_script_metrics(family: JobFamily, script: JobScript) -> None:
    """Refuse, with ``ValueError``, a script whose metrics ``family``'s jobs do not report."""
    unknown = set(script.metrics or {}) - family.metric_names
    if unknown:
        raise ValueError(f"{family.label} jobs report no metrics named {', '.join(sorted(unknown))}.")


def refuse_unknown_keys(spec: Mapping[str, Any], known: Iterable[str], what: str) -> None:
    """Refuse, with ``ValueError``, a scenario entry with keys other than ``known``."""
    unknown = set(spec) - set(known)
    if unknown:
        raise ValueError(f"Unknown keys in {what}: {', '.join(sorted(unknown))}.")
