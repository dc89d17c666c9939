"""
Triggers that wait, in the triggerer, for an Entity Resolution job to end.

The event triggers, which announce every job of a workflow that ends, are served from here too
(``airflow_entityresolution.job_events``): on Airflow 2.11, which has no asset watchers,
importing them raises an ``ImportError`` that says so, and the rest of this module works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Protocol

from airflow.triggers.base import (
    BaseTrigger,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

from airflow_entityresolution.compat import EVENT_TRIGGERS_SUPPORTED, require_asset_watchers
from airflow_entityresolution.errors import EntityResolutionError, EntityResolutionWaitTimeoutError
from airflow_entityresolution.events import event_from_error, event_from_state
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import (
    ID_MAPPING,
    MATCHING,
    METRICS_XCOM_KEY,
    JobFamily,
    JobState,
    MetricsGate,
)
from airflow_entityresolution.links import EntityResolutionJobLink
from airflow_entityresolution.validation import InvalidParameterError, refuse_rendered_none


class AwsTask(Protocol):
    """What a trigger copies from the task that defers to it: its workflow and AWS connection settings."""

    workflow_name: str
    aws_conn_id: str | None
    region_name: str | None
    verify: bool | str | None
    botocore_config: dict[str, Any] | None


class EntityResolutionJobCompletedTrigger(BaseTrigger):
    """
    Poll a job until it is SUCCEEDED or FAILED, then yield exactly one event.

    .. seealso::
        For more information on how to use this trigger, take a look at the guide:
        :ref:`howto/trigger:EntityResolutionJobCompletedTrigger`

    Subclasses name the job family in :attr:`family`. Every wait in one triggerer that
    uses the same connection settings shares one aiobotocore client.

    It derives from Airflow's ``BaseTrigger`` rather than the Amazon provider's
    ``AwsBaseWaiterTrigger`` on purpose: that class opens a client per trigger and waits
    with a botocore waiter, whose failure message drops the service's
    ``errorDetails.errorMessage``; the status semantics here come from
    :mod:`airflow_entityresolution.jobs` instead. Its parameters and serialization match
    the Amazon provider's triggers.

    By default it yields a ``TriggerEvent`` for the task to resume on. Its payload is
    plain JSON: ``outcome`` (``succeeded``, ``failed``, ``timeout`` when the polls ran out,
    or ``error`` when a request failed for good), ``kind`` (the job family's label:
    ``ID mapping`` or ``matching``), ``workflow_name``, ``job_id``, ``job`` (the final job
    description, timestamps as ISO-8601 strings; ``None`` on ``timeout`` and ``error``) and
    ``message`` (the service's ``errorDetails.errorMessage`` when the job FAILED, or why the
    wait could not finish).

    With ``end_task``, used by sensors that start in the triggerer, it ends the task
    itself and the task never reaches a worker: it pushes the final description as the
    return value, the metrics and the console link to XCom, and yields
    ``TaskSuccessEvent``, ``TaskFailedEvent`` or ``TaskSkippedEvent``, after logging the
    reason for a failure to the task's log.

    :param workflow_name: the job's workflow.
    :param job_id: the job's ID.
    :param waiter_delay: seconds between polls.
    :param waiter_max_attempts: the number of polls before the wait gives up.
    :param aws_conn_id: The Airflow connection used for AWS credentials, an Amazon provider ``aws``
        connection. If ``None``, boto3's default credential chain is used.
    :param region_name: AWS region name; if not given, the connection's or boto3's default.
    :param verify: Whether to verify SSL certificates, or the path of a CA bundle to verify them with.
    :param botocore_config: A dict of botocore ``Config`` arguments for the client, such as
        ``{"retries": {"max_attempts": 20}}`` (the hook calls it ``config``).
    :param end_task: End the task from the triggerer instead of resuming it on a worker.
    :param max_records_not_processed: With ``end_task``, fail a SUCCEEDED job whose
        ``recordsNotProcessed`` is over this count (``int``) or fraction of
        ``inputRecords`` (``float``).
    :param skip_on_timeout: With ``end_task``, skip the task instead of failing it when the
        wait runs out (a sensor's ``soft_fail`` or ``never_fail``).
    :param skip_on_failure: With ``end_task``, skip the task instead of failing it for any
        reason (a sensor's ``never_fail``).
    """

    family: ClassVar[JobFamily]
    """The job family waited for: :data:`~airflow_entityresolution.jobs.ID_MAPPING` or
    :data:`~airflow_entityresolution.jobs.MATCHING`."""

    def __init__(
        self,
        workflow_name: str,
        job_id: str,
        waiter_delay: float = 60,
        waiter_max_attempts: int = 720,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        end_task: bool = False,
        max_records_not_processed: int | float | None = None,
        skip_on_timeout: bool = False,
        skip_on_failure: bool = False,
    ) -> None:
        # Airflow leaves BaseTrigger.__init__ unannotated.
        super().__init__()  # type: ignore[no-untyped-call]
        self.workflow_name = workflow_name
        self.job_id = job_id
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.end_task = end_task
        self.max_records_not_processed = max_records_not_processed
        self.skip_on_timeout = skip_on_timeout
        self.skip_on_failure = skip_on_failure

    @classmethod
    def kwargs_for(
        cls, task: AwsTask, *, job_id: str, waiter_delay: float, waiter_max_attempts: int, **options: Any
    ) -> dict[str, Any]:
        """The keyword arguments of the trigger a task defers to, copied from its own settings."""
        return {
            "workflow_name": task.workflow_name,
            "job_id": job_id,
            "waiter_delay": waiter_delay,
            "waiter_max_attempts": waiter_max_attempts,
            "aws_conn_id": task.aws_conn_id,
            "region_name": task.region_name,
            "verify": task.verify,
            "botocore_config": task.botocore_config,
            **options,
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "workflow_name": self.workflow_name,
                "job_id": self.job_id,
                "waiter_delay": self.waiter_delay,
                "waiter_max_attempts": self.waiter_max_attempts,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
                "end_task": self.end_task,
                "max_records_not_processed": self.max_records_not_processed,
                "skip_on_timeout": self.skip_on_timeout,
                "skip_on_failure": self.skip_on_failure,
            },
        )

    def hook(self) -> EntityResolutionHook:
        return EntityResolutionHook.from_trigger_arguments(self.serialize()[1])

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self.hook()
        console: tuple[str, str] | None = None
        try:
            # Fields rendered in the triggerer (a sensor started there) were never checked on a worker.
            refuse_rendered_none(self.workflow_name, "workflow_name")
            gate = MetricsGate(self.max_records_not_processed)
            async with hook.shared_async_client() as client:
                console = (client.meta.region_name, client.meta.partition)
                state = await hook.async_wait_for_job(
                    self.family,
                    self.workflow_name,
                    self.job_id,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    log=self.log,
                )
        except asyncio.CancelledError:
            # The triggerer cancels a wait whose task was cleared, marked or timed out; Airflow before
            # 3.3 writes nothing of it, and the task's log would end mid-wait without a word.
            self.log.info(
                "Stopped waiting for job %s of workflow %r: the triggerer cancelled the wait",
                self.job_id,
                self.workflow_name,
            )
            raise
        except (EntityResolutionError, InvalidParameterError) as error:
            self.log.error("%s", error)
            if self.end_task:
                yield self._task_end_after_error(error, console)
            else:
                yield TriggerEvent(event_from_error(self.family, self.workflow_name, self.job_id, error))
            return
        if self.end_task:
            yield self._task_end(state, gate, console)
        else:
            yield TriggerEvent(event_from_state(state))

    def _task_end(self, state: JobState, gate: MetricsGate, console: tuple[str, str] | None) -> TriggerEvent:
        xcoms = self._link_xcom(console)
        xcoms[METRICS_XCOM_KEY] = state.metrics
        try:
            state.raise_if_rejected(gate)
        except EntityResolutionError as rejected:
            self.log.error("%s", rejected)
            return TaskSkippedEvent(xcoms=xcoms) if self.skip_on_failure else TaskFailedEvent(xcoms=xcoms)
        xcoms["return_value"] = state.description
        return TaskSuccessEvent(xcoms=xcoms)

    def _task_end_after_error(self, error: Exception, console: tuple[str, str] | None) -> TriggerEvent:
        timed_out = isinstance(error, EntityResolutionWaitTimeoutError)
        xcoms = self._link_xcom(console)
        if self.skip_on_failure or (timed_out and self.skip_on_timeout):
            return TaskSkippedEvent(xcoms=xcoms)
        return TaskFailedEvent(xcoms=xcoms)

    def _link_xcom(self, console: tuple[str, str] | None) -> dict[str, Any]:
        if console is None:
            return {}
        region_name, partition = console
        value = EntityResolutionJobLink.xcom_value(
            family=self.family,
            workflow_name=self.workflow_name,
            job_id=self.job_id,
            region_name=region_name,
            aws_partition=partition,
        )
        link = EntityResolutionJobLink()
        # Airflow 3 renders a link from the URL a worker stores when the task ends; this task reaches none.
        return {link.key: value, link.xcom_key: link.format_link(**value)}


class EntityResolutionIdMappingJobCompletedTrigger(EntityResolutionJobCompletedTrigger):
    """
    Poll an ID mapping job until it is SUCCEEDED or FAILED, then yield exactly one event.

    .. seealso::
        For more information on how to use this trigger, take a look at the guide:
        :ref:`howto/trigger:EntityResolutionJobCompletedTrigger`

    See :class:`EntityResolutionJobCompletedTrigger` for the parameters and the event's payload.
    """

    family = ID_MAPPING


class EntityResolutionMatchingJobCompletedTrigger(EntityResolutionJobCompletedTrigger):
    """
    Poll a matching job until it is SUCCEEDED or FAILED, then yield exactly one event.

    .. seealso::
        For more information on how to use this trigger, take a look at the guide:
        :ref:`howto/trigger:EntityResolutionJobCompletedTrigger`

    See :class:`EntityResolutionJobCompletedTrigger` for the parameters and the event's payload.
    """

    family = MATCHING


TRIGGERS: dict[str, type[EntityResolutionJobCompletedTrigger]] = {
    trigger.family.key: trigger
    for trigger in (EntityResolutionIdMappingJobCompletedTrigger, EntityResolutionMatchingJobCompletedTrigger)
}
"""The trigger of each job family, by its :attr:`~airflow_entityresolution.jobs.JobFamily.key`."""


EVENT_TRIGGERS = ("EntityResolutionIdMappingJobEventTrigger", "EntityResolutionMatchingJobEventTrigger")
"""The event triggers' names: classes of ``airflow_entityresolution.job_events``, served by this module."""


def __getattr__(name: str) -> Any:
    if name not in EVENT_TRIGGERS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require_asset_watchers(name)
    from airflow_entityresolution import job_events

    return getattr(job_events, name)


def __dir__() -> list[str]:
    # An Airflow without them lists no event trigger: `from ... import *` never reaches the ImportError.
    return sorted([*globals(), *(EVENT_TRIGGERS if EVENT_TRIGGERS_SUPPORTED else ())])
