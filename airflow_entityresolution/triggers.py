"""Triggers that wait, in the triggerer, for an Entity Resolution job to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_entityresolution.errors import EntityResolutionError
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING, JobKind, event_from_error, event_from_state
from airflow_entityresolution.validation import InvalidParameterError


class EntityResolutionJobCompletedTrigger(BaseTrigger):
    """
    Poll a job until it is SUCCEEDED or FAILED, then yield exactly one ``TriggerEvent``.

    Subclasses name the kind of job in :attr:`kind`. Every wait in one triggerer that
    uses the same connection settings shares one aiobotocore client.

    It derives from Airflow's ``BaseTrigger`` rather than the Amazon provider's
    ``AwsBaseWaiterTrigger`` on purpose: that class opens a client per trigger and waits
    with a botocore waiter, whose failure message drops the service's
    ``errorDetails.errorMessage``; the status semantics here come from
    :mod:`airflow_entityresolution.jobs` instead. Its parameters and serialization match
    the Amazon provider's triggers. The event's payload
    is plain JSON: ``outcome`` (``succeeded``, ``failed`` or ``error``), ``workflow_name``,
    ``job_id``, ``job`` (the final job description, timestamps as ISO-8601 strings) and
    ``message`` (the service's ``errorDetails.errorMessage`` when the job FAILED, or why
    the wait could not finish).

    :param workflow_name: the job's workflow.
    :param job_id: the job's ID.
    :param waiter_delay: seconds between polls.
    :param waiter_max_attempts: the number of polls before the wait gives up.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region name; if not given, the connection's or boto3's default.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for the botocore client.
    """

    kind: ClassVar[JobKind]

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
    ) -> None:
        super().__init__()
        self.workflow_name = workflow_name
        self.job_id = job_id
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

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
            },
        )

    def hook(self) -> EntityResolutionHook:
        return EntityResolutionHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            state = await self.hook().async_wait_for_job(
                self.kind,
                self.workflow_name,
                self.job_id,
                waiter_delay=self.waiter_delay,
                waiter_max_attempts=self.waiter_max_attempts,
                log=self.log,
            )
        except (EntityResolutionError, InvalidParameterError) as error:
            self.log.error("%s", error)
            yield TriggerEvent(event_from_error(self.kind, self.workflow_name, self.job_id, error))
            return
        yield TriggerEvent(event_from_state(state))


class EntityResolutionIdMappingJobCompletedTrigger(EntityResolutionJobCompletedTrigger):
    """
    Poll an ID mapping job until it is SUCCEEDED or FAILED, then yield exactly one ``TriggerEvent``.

    See :class:`EntityResolutionJobCompletedTrigger` for the parameters and the event's payload.
    """

    kind = ID_MAPPING
