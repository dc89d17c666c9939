"""The operator extra link that opens an Entity Resolution job in the AWS console."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink

from airflow_entityresolution.compat import push_xcom
from airflow_entityresolution.lazy import LazyModule

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from airflow_entityresolution import validation
    from airflow_entityresolution.compat import Context
    from airflow_entityresolution.jobs import JobFamily
else:
    # Imported on first use, not when a DAG file imports this module (DAG-parse cost).
    validation = LazyModule("airflow_entityresolution.validation")

log = logging.getLogger(__name__)


class EntityResolutionJobLink(BaseAwsLink):
    """
    "Entity Resolution Job": the job's page in the AWS Entity Resolution console.

    .. seealso::
        For more information on how to use this link, take a look at the guide:
        :ref:`howto/link:EntityResolutionJobLink`

    The console is the one of the connection's region and partition (``aws``, ``aws-cn``
    or ``aws-us-gov``), or of the workflow ARN's when the task names the workflow by ARN.
    The operators and sensors store what the link needs in XCom once they know the job,
    so it works for ID mapping and matching jobs alike.
    """

    name: ClassVar[str] = "Entity Resolution Job"
    key: ClassVar[str] = "entityresolution_job"
    format_str: ClassVar[str] = (
        BASE_AWS_CONSOLE_LINK
        + "/entityresolution/home?region={region_name}#/{collection}/{workflow}/jobs/{job_id}"
    )

    @property
    def xcom_key(self) -> str:
        """The XCom Airflow 3 serves the link's URL from; Airflow 2's ``BaseOperatorLink`` lacks the name."""
        return f"_link_{type(self).__name__}"

    @classmethod
    def xcom_value(
        cls, *, family: JobFamily, workflow_name: str, job_id: str, region_name: str, aws_partition: str
    ) -> dict[str, Any]:
        """What ``get_link`` formats the link from, as it is stored in XCom."""
        arn = validation.workflow_arn_parts(workflow_name)
        if arn is not None:
            region_name, aws_partition, workflow_name = arn["region"], arn["partition"], arn["name"]
        return {
            "region_name": region_name,
            "aws_domain": cls.get_aws_domain(aws_partition),
            "collection": family.collection,
            # ID mapping workflow names may hold "/", "=" and "+": they must stay one fragment segment.
            "workflow": quote(workflow_name, safe=""),
            "job_id": job_id,
        }

    @classmethod
    def store(
        cls, context: Context, hook: AwsBaseHook, *, family: JobFamily, workflow_name: str, job_id: str
    ) -> None:
        """Push the link's XCom for the running task instance, in ``hook``'s region and partition."""
        try:
            value = cls.xcom_value(
                family=family,
                workflow_name=workflow_name,
                job_id=job_id,
                region_name=hook.conn_region_name,
                aws_partition=hook.conn_partition,
            )
        except Exception as error:
            # A link is a convenience: a connection that cannot name its region must not fail the job's task.
            log.warning("No console link for job %s: %s", job_id, error)
            return
        push_xcom(context, cls.key, value)
