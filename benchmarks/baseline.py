"""
The baseline: the same wait written the way the Amazon provider writes its job waits.

A hook subclass of ``AwsBaseHook`` whose ``waiter_path`` points at a custom waiter over
GetIdMappingJob, and a subclass of ``AwsBaseWaiterTrigger`` that uses it, as the Amazon
provider's ``triggers/comprehend.py`` and ``waiters/comprehend.json`` do. Every wait opens
its own aiobotocore client, and so its own connection pool. Used only by the benchmarks.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger

WAITER_PATH = Path(__file__).resolve().parent / "waiters" / "entityresolution.json"
WAITER_NAME = "id_mapping_job_complete"


class BaselineEntityResolutionHook(AwsBaseHook):
    """An Amazon-provider-style hook for Entity Resolution, with its custom waiters in ``benchmarks/``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "entityresolution"
        super().__init__(*args, **kwargs)

    @cached_property
    def waiter_path(self) -> os.PathLike[str] | None:
        return WAITER_PATH


class BaselineIdMappingJobCompletedTrigger(AwsBaseWaiterTrigger):
    """
    Trigger when an ID mapping job is complete, the Amazon provider's way.

    :param workflow_name: the job's workflow.
    :param job_id: the job's ID.
    :param waiter_delay: seconds between polls.
    :param waiter_max_attempts: the number of polls before the wait gives up.
    :param aws_conn_id: The Airflow connection used for AWS credentials.
    :param region_name: The AWS region where the job runs.
    :param verify: Whether or not to verify SSL certificates.
    :param botocore_config: Configuration dictionary (key-values) for the botocore client.
    """

    def __init__(
        self,
        *,
        workflow_name: str,
        job_id: str,
        waiter_delay: int = 60,
        waiter_max_attempts: int = 720,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
    ) -> None:
        super().__init__(
            serialized_fields={"workflow_name": workflow_name, "job_id": job_id},
            waiter_name=WAITER_NAME,
            waiter_args={"workflowName": workflow_name, "jobId": job_id},
            failure_message="Entity Resolution ID mapping job failed.",
            status_message="Status of Entity Resolution ID mapping job is",
            status_queries=["status", "errorDetails.errorMessage"],
            return_key="job_id",
            return_value=job_id,
            waiter_delay=waiter_delay,
            waiter_max_attempts=waiter_max_attempts,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )

    def hook(self) -> AwsBaseHook:
        # Older Amazon provider releases (9.8 among them) declare hook() abstract, as their triggers did.
        return BaselineEntityResolutionHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )
