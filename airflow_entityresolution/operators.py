"""Operators that start Entity Resolution jobs and wait for them to end."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import conf

from airflow_entityresolution import validation
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING, JobState, state_from_event
from airflow_entityresolution.triggers import EntityResolutionIdMappingJobCompletedTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

JOB_DESCRIPTION_XCOM_KEY = "job_description"
"""The XCom key under which the operators push the final job description."""


class EntityResolutionStartIdMappingJobOperator(AwsBaseOperator[EntityResolutionHook]):
    """
    Start an Entity Resolution ID mapping job and, by default, wait for it to end.

    The return value (XCom) is the job ID. Once the job ends, its final description
    (status, metrics, times, output) is pushed to XCom under ``job_description``. If the
    job ends FAILED, the task fails with the service's ``errorDetails.errorMessage``,
    the job ID and the workflow name.

    :param workflow_name: the ID mapping workflow's name or ARN. (templated)
    :param job_type: ``BATCH``, ``INCREMENTAL`` or ``DELETE_ONLY``; the workflow's default if
        ``None``. (templated)
    :param output_source_config: one output source, like
        ``[{"outputS3Path": "s3://bucket/prefix", "roleArn": "arn:aws:iam::123456789012:role/name"}]``;
        the workflow's own if ``None``. (templated)
    :param wait_for_completion: Wait for the job to end. If ``False`` the task ends once
        the job has started.
    :param waiter_delay: Seconds between polls while waiting.
    :param waiter_max_attempts: The number of polls before the wait gives up.
    :param deferrable: Wait in the triggerer instead of a worker slot.
        Defaults to ``[operators] default_deferrable``.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: AWS region name; if not given, the connection's or boto3's default.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for the botocore client.
    """

    aws_hook_class = EntityResolutionHook
    template_fields: Sequence[str] = aws_template_fields("workflow_name", "job_type", "output_source_config")
    template_fields_renderers: ClassVar[dict[str, str]] = {"output_source_config": "json"}

    def __init__(
        self,
        *,
        workflow_name: str,
        job_type: str | None = None,
        output_source_config: list[dict[str, str]] | None = None,
        wait_for_completion: bool = True,
        waiter_delay: float = 60,
        waiter_max_attempts: int = 720,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workflow_name = workflow_name
        self.job_type = job_type
        self.output_source_config = output_source_config
        self.wait_for_completion = wait_for_completion
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.deferrable = deferrable

    def _check_inputs(self) -> None:
        validation.check_id_mapping_workflow_name(self.workflow_name)
        validation.check_job_type(self.job_type)
        validation.check_output_source_config(self.output_source_config)
        validation.check_waiter_settings(self.waiter_delay, self.waiter_max_attempts)

    def execute(self, context: Context) -> str:
        self._check_inputs()
        job_id = self.hook.start_id_mapping_job(
            workflow_name=self.workflow_name,
            job_type=self.job_type,
            output_source_config=self.output_source_config,
        )
        self.log.info(
            "Started Entity Resolution ID mapping job %s of workflow %r", job_id, self.workflow_name
        )
        if not self.wait_for_completion:
            return job_id
        if self.deferrable:
            self.defer(
                trigger=EntityResolutionIdMappingJobCompletedTrigger(
                    workflow_name=self.workflow_name,
                    job_id=job_id,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
                # The trigger gives up on its own; this bounds a triggerer that cannot run it at all.
                timeout=datetime.timedelta(seconds=self.waiter_delay * self.waiter_max_attempts + 600),
            )
        state = self.hook.wait_for_job(
            ID_MAPPING,
            self.workflow_name,
            job_id,
            waiter_delay=self.waiter_delay,
            waiter_max_attempts=self.waiter_max_attempts,
            log=self.log,
        )
        return self._finish(context, state)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        state = state_from_event(ID_MAPPING, event)
        state.log(self.log)
        return self._finish(context, state)

    def _finish(self, context: Context, state: JobState) -> str:
        context["ti"].xcom_push(key=JOB_DESCRIPTION_XCOM_KEY, value=state.description)
        state.raise_if_failed()
        return state.job_id
