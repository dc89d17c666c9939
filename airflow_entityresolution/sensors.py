"""Sensors that wait for an Entity Resolution job to end, in poke, reschedule or deferrable mode."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, PokeReturnValue, conf

from airflow_entityresolution.errors import (
    EntityResolutionRequestError,
    EntityResolutionWaitTimeoutError,
    ErrorKind,
)
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING, JobKind, PollSchedule, state_from_event
from airflow_entityresolution.triggers import (
    EntityResolutionIdMappingJobCompletedTrigger,
    EntityResolutionJobCompletedTrigger,
)
from airflow_entityresolution.validation import check_job_id, refuse_rendered_none

if TYPE_CHECKING:
    from airflow.sdk import Context


class EntityResolutionJobCompletedSensor(AwsBaseSensor[EntityResolutionHook]):
    """
    Wait until a job is SUCCEEDED; fail the task, with the service's reason, if it ends FAILED.

    Subclasses name the kind of job in :attr:`kind` and its trigger in :attr:`trigger_class`.
    On success the sensor's return value (XCom) is the final job description, with
    timestamps as ISO-8601 strings.

    :param workflow_name: the job's workflow. (templated)
    :param job_id: the job's ID. (templated)
    :param deferrable: Wait in the triggerer instead of a worker slot.
        Defaults to ``[operators] default_deferrable``. In deferrable mode the trigger
        polls every ``poke_interval`` seconds until ``timeout``.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region name; if not given, the connection's or boto3's default.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for the botocore client.
    """

    aws_hook_class = EntityResolutionHook
    template_fields: Sequence[str] = aws_template_fields("workflow_name", "job_id")
    kind: ClassVar[JobKind]
    trigger_class: ClassVar[type[EntityResolutionJobCompletedTrigger]]

    def __init__(
        self,
        *,
        workflow_name: str,
        job_id: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_name = workflow_name
        self.job_id = job_id
        self.deferrable = deferrable

    def _check_inputs(self) -> None:
        refuse_rendered_none(self.workflow_name, "workflow_name")
        self.kind.check_workflow_name(self.workflow_name, "workflow_name")
        check_job_id(self.job_id)

    def execute(self, context: Context) -> Any:
        self._check_inputs()
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as timeout:
                raise AirflowSensorTimeout(f"{timeout} {self._last_seen()}") from None
        done = self.poke(context)
        if done.is_done:
            return done.xcom_value
        self.defer(
            trigger=self.trigger_class(
                workflow_name=self.workflow_name,
                job_id=self.job_id,
                waiter_delay=self.poke_interval,
                waiter_max_attempts=PollSchedule.covering(
                    self.timeout, self.poke_interval
                ).waiter_max_attempts,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
            # Later than the trigger's own deadline, whose error names the last status seen.
            timeout=datetime.timedelta(seconds=self.timeout + max(60, 2 * self.poke_interval)),
        )

    def poke(self, context: Context) -> PokeReturnValue:
        self._check_inputs()
        try:
            state = self.hook.describe_job(self.kind, self.workflow_name, self.job_id)
        except EntityResolutionRequestError as error:
            if error.kind is not ErrorKind.TRANSIENT:
                raise
            # Throttling or an outage that outlasted botocore's retries: the sensor's timeout bounds it.
            self.log.warning("%s. The poke is missed: trying again at the next one", error)
            self._last_error = error
            return PokeReturnValue(is_done=False)
        self._last_state = state
        state.log(self.log)
        state.raise_if_failed()
        return PokeReturnValue(is_done=state.is_terminal, xcom_value=state.description)

    def _last_seen(self) -> str:
        state = getattr(self, "_last_state", None)
        seen = f"Last status seen of job {self.job_id}: {state.status}." if state else "No status was seen."
        error = getattr(self, "_last_error", None)
        return f"{seen} Last error: {error}" if error else seen

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            state = state_from_event(self.kind, event)
        except EntityResolutionWaitTimeoutError as timeout:
            # As in poke mode, so that soft_fail and never_fail apply to a deferred timeout too.
            raise AirflowSensorTimeout(str(timeout)) from None
        state.log(self.log)
        state.raise_if_failed()
        return state.description


class EntityResolutionIdMappingJobCompletedSensor(EntityResolutionJobCompletedSensor):
    """
    Wait until an ID mapping job is SUCCEEDED; fail the task, with the service's reason, if it FAILED.

    See :class:`EntityResolutionJobCompletedSensor` for the parameters. It also takes
    every parameter of Airflow's ``BaseSensorOperator``: ``poke_interval``, ``timeout``,
    ``mode`` (``poke`` or ``reschedule``) and ``soft_fail`` among them.

    .. code-block:: python

        EntityResolutionIdMappingJobCompletedSensor(
            task_id="wait_for_job",
            workflow_name="customer-id-mapping",
            job_id="{{ ti.xcom_pull(task_ids='start_job') }}",
            deferrable=True,
        )
    """

    kind = ID_MAPPING
    trigger_class = EntityResolutionIdMappingJobCompletedTrigger
