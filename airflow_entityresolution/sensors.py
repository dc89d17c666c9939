"""Sensors that wait for an Entity Resolution job to end, in poke, reschedule or deferrable mode."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.triggers.base import StartTriggerArgs

from airflow_entityresolution.compat import (
    TRIGGERER_RENDERS_TEMPLATES,
    AirflowSensorTimeout,
    AirflowSkipException,
    PokeReturnValue,
    conf,
    push_xcom,
)
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.lazy import LazyModule
from airflow_entityresolution.links import EntityResolutionJobLink
from airflow_entityresolution.tasks import JobTask

if TYPE_CHECKING:
    from airflow_entityresolution import errors, events, jobs, polling, validation
    from airflow_entityresolution.compat import Context
    from airflow_entityresolution.jobs import JobState
    from airflow_entityresolution.shapes import JobDescription
else:
    # Imported on first use, not when a DAG file imports this module (DAG-parse cost).
    errors = LazyModule("airflow_entityresolution.errors")
    events = LazyModule("airflow_entityresolution.events")
    jobs = LazyModule("airflow_entityresolution.jobs")
    polling = LazyModule("airflow_entityresolution.polling")
    validation = LazyModule("airflow_entityresolution.validation")


class EntityResolutionJobCompletedSensor(JobTask, AwsBaseSensor[EntityResolutionHook]):
    """
    Wait until a job is SUCCEEDED; fail the task, with the service's reason, if it ends FAILED.

    .. seealso::
        For more information on how to use this sensor, take a look at the guide:
        :ref:`howto/sensor:EntityResolutionJobCompletedSensor`

    Subclasses name the job family in ``family_key``,
    which picks their trigger.
    On success the sensor's return value (XCom) is the final job description, with
    timestamps as ISO-8601 strings, and the job's final metrics are pushed under the
    XCom key ``metrics``.

    :param workflow_name: the job's workflow. (templated)
    :param job_id: the job's ID, 32 hexadecimal characters. (templated)
    :param max_records_not_processed: fail the task when the job SUCCEEDED but its
        ``recordsNotProcessed`` is over this: a whole number is a count of records, a
        ``float`` from 0.0 to 1.0 a fraction of ``inputRecords``. ``None`` (the default)
        checks nothing.
    :param deferrable: Wait in the triggerer instead of a worker slot.
        Defaults to ``[operators] default_deferrable``. In deferrable mode the trigger
        polls every ``poke_interval`` seconds until ``timeout``.
    :param start_from_trigger: Start the task in the triggerer and end it there, so it never
        takes a worker slot (implies ``deferrable``). Needs Airflow 3.3 or later, which
        renders the templated fields in the triggerer; on older versions the sensor starts
        on a worker and defers from there, and its log says so.
    :param aws_conn_id: The Airflow connection used for AWS credentials, an Amazon provider ``aws``
        connection. If ``None``, boto3's default credential chain is used.
    :param region_name: AWS region name; if not given, the connection's or boto3's default.
    :param verify: Whether to verify SSL certificates, or the path of a CA bundle to verify them with.
    :param botocore_config: A dict of botocore ``Config`` arguments for the client, such as
        ``{"retries": {"max_attempts": 20}}`` (the hook calls it ``config``).
    """

    aws_hook_class = EntityResolutionHook
    template_fields: Sequence[str] = aws_template_fields("workflow_name", "job_id")
    operator_extra_links = (EntityResolutionJobLink(),)

    def __init__(
        self,
        *,
        workflow_name: str,
        job_id: str,
        max_records_not_processed: int | float | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_name = workflow_name
        self.job_id = job_id
        if max_records_not_processed is not None:  # Without a limit there is nothing to check, or import.
            validation.check_max_records_not_processed(max_records_not_processed)
        self.max_records_not_processed = max_records_not_processed
        self.deferrable = deferrable or start_from_trigger
        self.start_from_trigger_requested = start_from_trigger
        if start_from_trigger and TRIGGERER_RENDERS_TEMPLATES:
            self.start_from_trigger = True
            # The triggerer ends the task, so no worker runs its listeners: Airflow's DAG checks read this.
            self.end_from_trigger = True
            self.start_trigger_args = self._start_trigger_args()

    def _start_trigger_args(self) -> StartTriggerArgs:
        trigger = self.trigger_class()
        kwargs = trigger.kwargs_for(
            self,
            job_id=self.job_id,
            end_task=True,
            max_records_not_processed=self.max_records_not_processed,
            skip_on_timeout=self.soft_fail or getattr(self, "never_fail", False),
            skip_on_failure=getattr(self, "never_fail", False),
            **self._trigger_schedule(),
        )
        return StartTriggerArgs(
            trigger_cls=f"{trigger.__module__}.{trigger.__qualname__}",
            trigger_kwargs=kwargs,
            next_method="execute_complete",
            next_kwargs=None,
            timeout=self._trigger_timeout(),
        )

    def _trigger_schedule(self) -> dict[str, Any]:
        schedule = polling.PollSchedule.covering(self.timeout, self.poke_interval)
        return {"waiter_delay": self.poke_interval, "waiter_max_attempts": schedule.waiter_max_attempts}

    def _trigger_timeout(self) -> datetime.timedelta:
        # Later than the trigger's own deadline, whose error names the last status seen.
        return datetime.timedelta(seconds=self.timeout + max(60, 2 * self.poke_interval))

    def _check_inputs(self) -> None:
        validation.refuse_rendered_none(self.workflow_name, "workflow_name")
        self.family.check_workflow_name(self.workflow_name, "workflow_name")
        self.lineage_job_id = validation.check_job_id(self.job_id)

    def execute(self, context: Context) -> Any:
        self._check_inputs()
        if self.start_from_trigger_requested and not self.start_from_trigger:
            self.log.info(
                "start_from_trigger needs Airflow 3.3 or later, which renders templated fields in the "
                "triggerer; this Airflow starts the sensor on a worker, which defers to the triggerer"
            )
        self._store_link(context)
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as timeout:
                raise AirflowSensorTimeout(f"{timeout} {self._last_seen()}") from None
        with self._skipped_if_never_fail():
            done = self.poke(context)
        if done.is_done:
            return done.xcom_value
        trigger = self.trigger_class()
        self.defer(
            trigger=trigger(**trigger.kwargs_for(self, job_id=self.job_id, **self._trigger_schedule())),
            method_name="execute_complete",
            timeout=self._trigger_timeout(),
        )

    def poke(self, context: Context) -> PokeReturnValue:
        self._check_inputs()
        try:
            state = self.hook.describe_job(self.family, self.workflow_name, self.job_id)
        except errors.EntityResolutionRequestError as error:
            if error.category is not errors.ErrorCategory.TRANSIENT:
                raise
            # Throttling or an outage that outlasted botocore's retries: the sensor's timeout bounds it.
            self.log.warning("%s. The poke is missed: trying again at the next one", error)
            self._last_error = error
            return PokeReturnValue(is_done=False)
        self._last_state = state
        state.log(self.log)
        if not state.is_terminal:
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._finish(context, state))

    def _last_seen(self) -> str:
        state = getattr(self, "_last_state", None)
        seen = f"Last status seen of job {self.job_id}: {state.status}." if state else "No status was seen."
        error = getattr(self, "_last_error", None)
        return f"{seen} Last error: {error}" if error else seen

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> JobDescription:
        self.lineage_job_id = self.job_id
        with self._skipped_if_never_fail():
            try:
                state = events.state_from_event(self.family, event)
            except errors.EntityResolutionWaitTimeoutError as timeout:
                # As in poke mode, so that soft_fail applies to a deferred timeout too.
                raise AirflowSensorTimeout(str(timeout)) from None
            state.log(self.log)
            return self._finish(context, state)

    @contextmanager
    def _skipped_if_never_fail(self) -> Iterator[None]:
        """Skip rather than fail, with ``never_fail``, where Airflow's own poke loop does not run."""
        try:
            yield
        except AirflowSkipException:
            raise
        except Exception as error:
            if not getattr(self, "never_fail", False):
                raise
            raise AirflowSkipException(f"never_fail is set: {error}") from None

    def _finish(self, context: Context, state: JobState) -> JobDescription:
        self.lineage_job_id, self.lineage_state = state.job_id, state
        push_xcom(context, jobs.METRICS_XCOM_KEY, state.metrics)
        state.raise_if_rejected(self.gate)
        return state.description

    def _store_link(self, context: Context) -> None:
        EntityResolutionJobLink.store(
            context, self.hook, family=self.family, workflow_name=self.workflow_name, job_id=self.job_id
        )


class EntityResolutionIdMappingJobCompletedSensor(EntityResolutionJobCompletedSensor):
    """
    Wait until an ID mapping job is SUCCEEDED; fail the task, with the service's reason, if it FAILED.

    .. seealso::
        For more information on how to use this sensor, take a look at the guide:
        :ref:`howto/sensor:EntityResolutionIdMappingJobCompletedSensor`

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

    family_key = "id_mapping"


class EntityResolutionMatchingJobCompletedSensor(EntityResolutionJobCompletedSensor):
    """
    Wait until a matching job is SUCCEEDED; fail the task, with the service's reason, if it FAILED.

    .. seealso::
        For more information on how to use this sensor, take a look at the guide:
        :ref:`howto/sensor:EntityResolutionMatchingJobCompletedSensor`

    See :class:`EntityResolutionJobCompletedSensor` for the parameters. It also takes
    every parameter of Airflow's ``BaseSensorOperator``.

    .. code-block:: python

        EntityResolutionMatchingJobCompletedSensor(
            task_id="wait_for_matching",
            workflow_name="customer-matching",
            job_id="{{ ti.xcom_pull(task_ids='start_matching') }}",
            start_from_trigger=True,
        )
    """

    family_key = "matching"
