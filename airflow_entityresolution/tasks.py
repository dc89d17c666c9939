"""
What the operators and the sensors share: the job family they name, its trigger, the metrics gate,
and their answer to the OpenLineage listener.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from airflow_entityresolution.lazy import LazyModule

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_entityresolution import jobs, lineage, triggers
    from airflow_entityresolution.hooks import EntityResolutionHook
    from airflow_entityresolution.jobs import JobFamily, JobState, MetricsGate, TaskLog
    from airflow_entityresolution.triggers import EntityResolutionJobCompletedTrigger
else:
    # Imported on first use, not when a DAG file imports this module (DAG-parse cost).
    jobs = LazyModule("airflow_entityresolution.jobs")
    lineage = LazyModule("airflow_entityresolution.lineage")
    triggers = LazyModule("airflow_entityresolution.triggers")


class LineageTask(Protocol):
    """What lineage reads of a task: the mixin's members and the Amazon provider's ``hook`` and ``log``."""

    family: JobFamily
    workflow_name: str
    lineage_job_id: str | None
    lineage_state: JobState | None

    @property
    def hook(self) -> EntityResolutionHook: ...

    @property
    def log(self) -> TaskLog: ...

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any] | None: ...


class JobTask:
    """
    Mixed into the operators and the sensors. A class names its job family by key, so that a
    DAG file that imports it does not load the job logic; the family, the trigger and the gate
    follow when a task runs.
    """

    family_key: ClassVar[str]
    """The :attr:`~airflow_entityresolution.jobs.JobFamily.key` of the class's job family."""

    max_records_not_processed: int | float | None
    workflow_name: str
    lineage_job_id: str | None = None
    """The job the task started or watched, for lineage; set once it is known."""
    lineage_state: JobState | None = None
    """The job's last observation, for lineage; set when the task ends."""

    @property
    def family(self) -> JobFamily:
        """The job family, named by :attr:`family_key`."""
        return jobs.FAMILY_BY_KEY[self.family_key]

    @classmethod
    def trigger_class(cls) -> type[EntityResolutionJobCompletedTrigger]:
        """The trigger a deferred task waits in: the one of its job family."""
        return triggers.TRIGGERS[cls.family_key]

    @property
    def gate(self) -> MetricsGate:
        """The limit ``max_records_not_processed`` sets on a SUCCEEDED job."""
        return jobs.MetricsGate(self.max_records_not_processed)

    def get_openlineage_facets_on_complete(
        self: LineageTask, task_instance: Any
    ) -> OperatorLineage[Any, Any] | None:
        """
        Report the workflow's input sources and the job's output location to OpenLineage.

        The OpenLineage provider's listener calls this on the worker once the task ended; see
        :mod:`~airflow_entityresolution.lineage` for what is reported and what it costs.
        """
        return lineage.task_lineage(
            self.hook, self.family, self.workflow_name, self.lineage_job_id, self.lineage_state, self.log
        )

    def get_openlineage_facets_on_failure(
        self: LineageTask, task_instance: Any
    ) -> OperatorLineage[Any, Any] | None:
        """Report lineage for a failed task, with the service's error message when the job FAILED."""
        return self.get_openlineage_facets_on_complete(task_instance)
