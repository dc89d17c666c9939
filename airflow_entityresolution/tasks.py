"""What the operators and the sensors share: the kind of job they name, its trigger, the metrics gate."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from airflow_entityresolution.lazy import LazyModule

if TYPE_CHECKING:
    from airflow_entityresolution import jobs, triggers
    from airflow_entityresolution.jobs import JobKind, MetricsGate
    from airflow_entityresolution.triggers import EntityResolutionJobCompletedTrigger
else:
    # Imported on first use, not when a DAG file imports this module (DAG-parse cost).
    jobs = LazyModule("airflow_entityresolution.jobs")
    triggers = LazyModule("airflow_entityresolution.triggers")


class JobTask:
    """
    Mixed into the operators and the sensors. A class names its kind of job by key, so that a
    DAG file that imports it does not load the job logic; the kind, the trigger and the gate
    follow when a task runs.
    """

    kind_key: ClassVar[str]
    """The :attr:`~airflow_entityresolution.jobs.JobKind.key` of the class's kind of job."""

    max_records_not_processed: int | float | None

    @property
    def kind(self) -> JobKind:
        """The kind of job, named by :attr:`kind_key`."""
        return jobs.KIND_BY_KEY[self.kind_key]

    @classmethod
    def trigger_class(cls) -> type[EntityResolutionJobCompletedTrigger]:
        """The trigger a deferred task waits in: the one of its kind of job."""
        return triggers.TRIGGERS[cls.kind_key]

    @property
    def gate(self) -> MetricsGate:
        """The limit ``max_records_not_processed`` sets on a SUCCEEDED job."""
        return jobs.MetricsGate(self.max_records_not_processed)
