"""Operators that start Entity Resolution jobs and wait for them to end."""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_entityresolution.compat import Asset, conf, push_xcom
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.lazy import LazyModule
from airflow_entityresolution.links import EntityResolutionJobLink
from airflow_entityresolution.tasks import JobTask

if TYPE_CHECKING:
    from airflow_entityresolution import errors, events, jobs, records, validation
    from airflow_entityresolution.compat import Context
    from airflow_entityresolution.jobs import JobState
    from airflow_entityresolution.records import StartOnce
else:
    # Imported on first use, not when a DAG file imports this module (DAG-parse cost).
    errors = LazyModule("airflow_entityresolution.errors")
    events = LazyModule("airflow_entityresolution.events")
    jobs = LazyModule("airflow_entityresolution.jobs")
    records = LazyModule("airflow_entityresolution.records")
    validation = LazyModule("airflow_entityresolution.validation")

WhenBusy = Literal["wait", "fail"]
WHEN_BUSY_CHOICES: tuple[str, ...] = get_args(WhenBusy)


class EntityResolutionStartJobOperator(JobTask, AwsBaseOperator[EntityResolutionHook]):
    """
    Start an Entity Resolution job and, by default, wait for it to end.

    .. seealso::
        For more information on how to use this operator, take a look at the guide:
        :ref:`howto/operator:EntityResolutionStartJobOperator`

    Subclasses name the job family in ``family_key``,
    which picks their trigger, and the members of its start request in ``start_request``.

    The return value (XCom) is the job ID. Once the job ends, its final description
    (status, metrics, times, output) is pushed to XCom under ``job_description`` and its
    final metrics under ``metrics``. If the job ends FAILED, the task fails with the
    service's ``errorDetails.errorMessage``, the job ID and the workflow name.

    A job is never started twice for one task instance: if an earlier try started a job
    and died before its outcome was known, the next try waits for that job instead (see
    :ref:`howto/operator:start_once`). The account runs one job at a time; ``when_busy``
    says what a start that the service refuses as busy does.

    :param workflow_name: the workflow's name. (templated)
    :param wait_for_completion: Wait for the job to end. If ``False`` the task ends once
        the job has started.
    :param waiter_delay: Seconds between polls while waiting, and between start attempts
        while the workflow is busy.
    :param waiter_max_attempts: The number of polls before a wait gives up (about 12 hours at
        the default delay).
    :param when_busy: What to do when the service refuses the start because a job is already
        running (``ConflictException`` or ``ExceedsLimitException``): ``"wait"`` (the default)
        tries again every ``waiter_delay`` seconds, deferred when ``deferrable``, until the
        start succeeds or ``waiter_max_attempts`` tries pass; ``"fail"`` fails the task at
        once with a message naming the running job.
    :param max_records_not_processed: fail the task when the job SUCCEEDED but its
        ``recordsNotProcessed`` is over this: a whole number is a count of records, a
        ``float`` from 0.0 to 1.0 a fraction of ``inputRecords``. ``None`` (the default)
        checks nothing. Any other value is refused when the DAG is parsed.
    :param output_asset: Declare the job's output location as an Airflow asset outlet (a
        dataset on Airflow 2.11), so that DAGs scheduled on it run once the job SUCCEEDED
        and passed the metrics gate: an S3 URI such as ``"s3://bucket/prefix/"``, or, on the
        ID mapping operator, ``True`` for the ``outputS3Path`` of ``output_source_config``.
        Outlets are read when the DAG is parsed, so the location must be written out: a
        templated one is refused, and so is ``output_asset`` with ``wait_for_completion=False``.
        The asset event's ``extra`` names ``workflow_name``, ``job_id`` and ``kind``.
    :param deferrable: Wait in the triggerer instead of a worker slot.
        Defaults to ``[operators] default_deferrable``.
    :param aws_conn_id: The Airflow connection used for AWS credentials, an Amazon provider ``aws``
        connection. If ``None``, boto3's default credential chain is used.
    :param region_name: AWS region name; if not given, the connection's or boto3's default.
    :param verify: Whether to verify SSL certificates, or the path of a CA bundle to verify them with.
    :param botocore_config: A dict of botocore ``Config`` arguments for the client, such as
        ``{"retries": {"max_attempts": 20}}`` (the hook calls it ``config``).
    """

    aws_hook_class = EntityResolutionHook
    template_fields: Sequence[str] = aws_template_fields("workflow_name")
    operator_extra_links = (EntityResolutionJobLink(),)

    def __init__(
        self,
        *,
        workflow_name: str,
        wait_for_completion: bool = True,
        waiter_delay: float = 60,
        waiter_max_attempts: int = 720,
        when_busy: WhenBusy = "wait",
        max_records_not_processed: int | float | None = None,
        output_asset: bool | str = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_name = workflow_name
        self.wait_for_completion = wait_for_completion
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.when_busy = when_busy
        if max_records_not_processed is not None:  # Without a limit there is nothing to check, or import.
            validation.check_max_records_not_processed(max_records_not_processed)
        self.max_records_not_processed = max_records_not_processed
        self.deferrable = deferrable
        self.output_asset = self._declare_output_asset(output_asset)

    def _declare_output_asset(self, output_asset: bool | str) -> Asset | None:
        """Add the output location to the task's outlets; DAGs are scheduled on it before any run."""
        if output_asset is False:
            return None
        if not self.wait_for_completion:
            # A task that ends once the job starts would announce output that does not exist yet.
            raise validation.InvalidParameterError(
                "output_asset", output_asset, "False when wait_for_completion=False"
            )
        uri = self.output_location() if output_asset is True else output_asset
        asset = Asset(validation.check_output_asset(uri))
        self.outlets = [*self.outlets, asset]
        return asset

    def output_location(self) -> str | None:
        """The job's output location as the task states it, for ``output_asset=True``."""
        return None

    def check_inputs(self) -> None:
        """Check the rendered parameters against the API's constraints, before any request."""
        validation.refuse_rendered_none(self.workflow_name, "workflow_name")
        self.family.check_workflow_name(self.workflow_name, "workflow_name")
        validation.check_waiter_settings(self.waiter_delay, self.waiter_max_attempts)
        if self.when_busy not in WHEN_BUSY_CHOICES:
            raise validation.InvalidParameterError("when_busy", self.when_busy, "'wait' or 'fail'")
        self.hook.check_start_request(self.family, self.start_request())

    def start_request(self) -> dict[str, Any]:
        """The family's Start*Job request members beyond the workflow's name, checked."""
        return {}

    def send_start(self) -> str:
        """Send the family's Start*Job request once and return the new job's ID."""
        return self.hook.start_job(self.family, self.workflow_name, self.start_request())

    def execute(self, context: Context) -> str:
        return self.execute_when_free(context)

    def execute_when_free(self, context: Context, event: Any = None, busy_tries: int = 0) -> str:
        """Start the job (or adopt the one an earlier try started), wait for it as configured, and finish."""
        self.check_inputs()
        start_once = self._start_once(context)
        earlier = start_once.claim()
        if earlier is not None:
            job_id = start_once.adopt(earlier)
        else:
            job_id = self._start_when_free(start_once, busy_tries)
        self.lineage_job_id = job_id
        EntityResolutionJobLink.store(
            context, self.hook, family=self.family, workflow_name=self.workflow_name, job_id=job_id
        )
        if earlier is not None and earlier.is_terminal:
            return self._finish(context, start_once, earlier)
        if not self.wait_for_completion:
            start_once.release()
            return job_id
        return self._finish(context, start_once, self._wait(job_id))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        start_once = self._start_once(context)
        # Airflow 3.0 keeps a deferred task's next method and its trigger's event when the task fails
        # after resuming and is retried (apache/airflow#56704, fixed in 3.1 by apache/airflow#56731):
        # the retry resumes here with the earlier try's event instead of running execute(). A try
        # that did not defer itself starts from the beginning, and so takes over the earlier try's job.
        earlier_try = start_once.written_by_an_earlier_try()
        if earlier_try is not None:
            self.log.warning(
                "Resumed with the event of try %s's deferral, which this Airflow keeps across retries "
                "(apache/airflow#56704): ignoring it and running this try from the start",
                earlier_try,
            )
            return self.execute(context)
        state = events.state_from_event(self.family, event)
        state.log(self.log)
        return self._finish(context, start_once, state)

    def _start_once(self, context: Context) -> StartOnce:
        return records.StartOnce(
            context,
            hook=self.hook,
            family=self.family,
            workflow_name=self.workflow_name,
            send=self.send_start,
            log=self.log,
        )

    def _start_when_free(self, start_once: StartOnce, busy_tries: int) -> str:
        """Start the job, starting again while the service refuses as busy, as ``when_busy`` says."""
        while True:
            try:
                return start_once.start()
            except errors.EntityResolutionRequestError as refused:
                if refused.category is errors.ErrorCategory.PERMANENT:
                    raise
                busy_tries += 1
                self._fail_or_log_refused_start(refused, busy_tries)
                if self.deferrable:
                    self._defer_start(busy_tries)
                time.sleep(self.waiter_delay)

    def _wait(self, job_id: str) -> JobState:
        """Wait for the job to end: here, or in the triggerer, resuming in :meth:`execute_complete`."""
        if self.deferrable:
            trigger = self.trigger_class()
            self.defer(
                trigger=trigger(
                    **trigger.kwargs_for(
                        self,
                        job_id=job_id,
                        waiter_delay=self.waiter_delay,
                        waiter_max_attempts=self.waiter_max_attempts,
                    )
                ),
                method_name="execute_complete",
                # The trigger gives up on its own; this bounds a triggerer that cannot run it at all.
                timeout=datetime.timedelta(seconds=self.waiter_delay * self.waiter_max_attempts + 600),
            )
        return self.hook.wait_for_job(
            self.family,
            self.workflow_name,
            job_id,
            waiter_delay=self.waiter_delay,
            waiter_max_attempts=self.waiter_max_attempts,
            log=self.log,
        )

    def _fail_or_log_refused_start(self, error: errors.EntityResolutionRequestError, busy_tries: int) -> None:
        """Fail if ``when_busy`` says so or the tries ran out; otherwise say why the start waits."""
        if error.category is errors.ErrorCategory.TRANSIENT:
            if busy_tries >= self.waiter_max_attempts:
                raise error
            self.log.warning("%s; no job was started: trying again in %gs", error, self.waiter_delay)
            return
        try:
            running = self.hook.find_unfinished_job(self.family, self.workflow_name)
        except errors.EntityResolutionRequestError as listing:
            # Naming the running job is a courtesy: a role that may not list jobs still waits or fails.
            self.log.warning("Could not list the workflow's jobs to name the running one: %s", listing)
            running = None
        busy = errors.EntityResolutionWorkflowBusyError(
            workflow_name=self.workflow_name, running_job=running, cause=error, tries=busy_tries
        )
        if self.when_busy == "fail" or busy_tries >= self.waiter_max_attempts:
            raise busy
        self.log.info("%s; trying again in %gs (when_busy='wait')", busy, self.waiter_delay)

    def _defer_start(self, busy_tries: int) -> None:
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        self.defer(
            trigger=TimeDeltaTrigger(datetime.timedelta(seconds=self.waiter_delay)),
            method_name="execute_when_free",
            kwargs={"busy_tries": busy_tries},
        )

    def _finish(self, context: Context, start_once: StartOnce, state: JobState) -> str:
        self.lineage_job_id, self.lineage_state = state.job_id, state
        push_xcom(context, jobs.JOB_DESCRIPTION_XCOM_KEY, state.description)
        push_xcom(context, jobs.METRICS_XCOM_KEY, state.metrics)
        start_once.release()
        state.raise_if_rejected(self.gate)
        if self.output_asset is not None and "outlet_events" in context:
            context["outlet_events"][self.output_asset].extra.update(
                {"workflow_name": self.workflow_name, "job_id": state.job_id, "kind": self.family.key}
            )
        return state.job_id


class EntityResolutionStartIdMappingJobOperator(EntityResolutionStartJobOperator):
    """
    Start an Entity Resolution ID mapping job and, by default, wait for it to end.

    .. seealso::
        For more information on how to use this operator, take a look at the guide:
        :ref:`howto/operator:EntityResolutionStartIdMappingJobOperator`

    See :class:`EntityResolutionStartJobOperator` for what it returns, pushes and
    guarantees, and for its other parameters.

    :param workflow_name: the ID mapping workflow's name or ARN. (templated)
    :param job_type: ``BATCH``, ``INCREMENTAL`` or ``DELETE_ONLY``; the workflow's default if
        ``None``. Needs botocore 1.40.37 or later, and fails before any request with an older
        one. (templated)
    :param output_source_config: exactly one output source, with ``outputS3Path``, ``roleArn``
        and an optional ``KMSArn``, like
        ``[{"outputS3Path": "s3://bucket/prefix", "roleArn": "arn:aws:iam::123456789012:role/name"}]``;
        the workflow's own if ``None``. (templated)

    .. code-block:: python

        EntityResolutionStartIdMappingJobOperator(
            task_id="start_job",
            workflow_name="customer-id-mapping",
            deferrable=True,
        )
    """

    family_key = "id_mapping"
    template_fields: Sequence[str] = aws_template_fields("workflow_name", "job_type", "output_source_config")
    template_fields_renderers: ClassVar[dict[str, str]] = {"output_source_config": "json"}

    def __init__(
        self,
        *,
        workflow_name: str,
        job_type: str | None = None,
        output_source_config: list[dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.job_type = job_type
        self.output_source_config = output_source_config
        super().__init__(workflow_name=workflow_name, **kwargs)

    def output_location(self) -> str | None:
        sources = self.output_source_config
        if isinstance(sources, list) and len(sources) == 1 and isinstance(sources[0], dict):
            return sources[0].get("outputS3Path")
        return None

    def start_request(self) -> dict[str, Any]:
        return EntityResolutionHook.id_mapping_start_request(self.job_type, self.output_source_config)


class EntityResolutionStartMatchingJobOperator(EntityResolutionStartJobOperator):
    """
    Start an Entity Resolution matching job and, by default, wait for it to end.

    .. seealso::
        For more information on how to use this operator, take a look at the guide:
        :ref:`howto/operator:EntityResolutionStartMatchingJobOperator`

    A matching job takes its inputs and output location from its workflow. See
    :class:`EntityResolutionStartJobOperator` for what it returns, pushes and guarantees,
    and for its other parameters.

    :param workflow_name: the matching workflow's name: matching workflows have no ARN form,
        and an ARN is refused before any request. (templated)

    .. code-block:: python

        EntityResolutionStartMatchingJobOperator(
            task_id="match_customers",
            workflow_name="customer-matching",
            max_records_not_processed=0.01,
            output_asset="s3://example-bucket/matching-output/",
            deferrable=True,
        )
    """

    family_key = "matching"
