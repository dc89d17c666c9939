"""The hook: every request the provider sends to the Entity Resolution API, blocking and asynchronously."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Mapping
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from botocore.config import Config

from airflow_entityresolution.lazy import LazyModule

if TYPE_CHECKING:
    # Dev-only stubs: nothing imports them at run time.
    from types_aiobotocore_entityresolution.client import (
        EntityResolutionClient as AsyncEntityResolutionClient,
    )
    from types_boto3_entityresolution.client import EntityResolutionClient
    from types_boto3_entityresolution.type_defs import (
        GetIdMappingJobOutputTypeDef,
        GetMatchingJobOutputTypeDef,
        ListIdMappingJobsOutputTypeDef,
        ListMatchingJobsOutputTypeDef,
        StartIdMappingJobOutputTypeDef,
        StartMatchingJobOutputTypeDef,
    )

    from airflow_entityresolution import clients, errors, jobs, polling, validation
    from airflow_entityresolution.jobs import JobFamily, JobState, TaskLog
    from airflow_entityresolution.polling import PollSchedule
    from airflow_entityresolution.shapes import (
        IdNamespaceDescription,
        JobDescription,
        JobSummary,
        WorkflowDescription,
    )

    GetJobOutput: TypeAlias = GetIdMappingJobOutputTypeDef | GetMatchingJobOutputTypeDef
    StartJobOutput: TypeAlias = StartIdMappingJobOutputTypeDef | StartMatchingJobOutputTypeDef
    ListJobsOutput: TypeAlias = ListIdMappingJobsOutputTypeDef | ListMatchingJobsOutputTypeDef
    ListJobsMethod: TypeAlias = Literal["list_id_mapping_jobs", "list_matching_jobs"]
else:
    # Imported when a method first needs them, not when a DAG file imports the hook (DAG-parse cost).
    clients = LazyModule("airflow_entityresolution.clients")
    errors = LazyModule("airflow_entityresolution.errors")
    jobs = LazyModule("airflow_entityresolution.jobs")
    polling = LazyModule("airflow_entityresolution.polling")
    validation = LazyModule("airflow_entityresolution.validation")

DEFAULT_RETRIES: dict[str, Any] = {"mode": "adaptive", "max_attempts": 10}
"""botocore's retry settings unless the user's ``botocore_config`` or connection sets ``retries``.

Adaptive mode retries ThrottlingException, 5xx answers and dropped connections with
exponential backoff and full jitter, and adds a client-side rate limiter that slows down
once the service throttles. Every wait in a triggerer shares one client, so that limiter
spaces the requests of all of them: BENCHMARKS.md measures it against standard mode."""


BOTOCORE_SINCE: dict[str, tuple[str, str]] = {"jobType": ("job_type", "1.40.37")}
"""Start request members newer than the oldest botocore supported: the parameter, and the botocore
release whose service model first has the member."""


def botocore_version() -> str:
    from botocore import __version__

    version: str = __version__
    return version


class EntityResolutionHook(AwsBaseHook):
    """
    Interact with AWS Entity Resolution jobs through boto3 and aiobotocore.

    .. seealso::
        For more information on how to use this hook, take a look at the guide:
        :ref:`howto/hook:EntityResolutionHook`

    Takes every argument of :class:`~airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook`
    except ``client_type``, so connections work as for any Amazon provider hook: role
    assumption, region, ``endpoint_url`` in the connection extra, ``verify``, botocore config.
    Unless ``config`` or the connection sets ``retries``, requests retry with
    :data:`DEFAULT_RETRIES`. Every method checks its inputs against the API's
    constraints before it sends a request, and raises
    :class:`~airflow_entityresolution.errors.EntityResolutionRequestError` with the
    service's message when a request fails for good.

    :param aws_conn_id: The Airflow connection used for AWS credentials, an Amazon provider ``aws``
        connection. If ``None``, boto3's default credential chain is used.
    :param region_name: AWS region name; if not given, the connection's or boto3's default.
    :param verify: Whether to verify SSL certificates, or the path of a CA bundle to verify them with.
    :param config: botocore client configuration, as a ``Config`` or a dict of its arguments
        (what the operators, sensors and triggers call ``botocore_config``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "entityresolution"
        super().__init__(*args, **kwargs)
        self._config_key = repr(kwargs.get("config"))

    @classmethod
    def from_trigger_arguments(cls, arguments: Mapping[str, Any]) -> EntityResolutionHook:
        """
        The hook a trigger's serialized arguments name, the one way every trigger builds its hook.

        :param arguments: ``aws_conn_id``, ``region_name``, ``verify`` and ``botocore_config``, and
            any other argument of the trigger, which is ignored.
        """
        return cls(
            aws_conn_id=arguments["aws_conn_id"],
            region_name=arguments["region_name"],
            verify=arguments["verify"],
            config=arguments["botocore_config"],
        )

    @property
    def config(self) -> Config:
        """The connection's botocore config, with :data:`DEFAULT_RETRIES` where it sets none."""
        # A copy: botocore rewrites the retries mapping it is given in place.
        return Config(retries=dict(DEFAULT_RETRIES)).merge(super().config)

    if TYPE_CHECKING:
        # AwsBaseHook types its client as boto3's, which has no types; the stubs know this service's calls.
        @cached_property
        def conn(self) -> EntityResolutionClient: ...

    @property
    def client_key(self) -> tuple[Hashable, ...]:
        """What distinguishes the clients this hook's arguments build, for sharing them."""
        return (self.aws_conn_id, self._region_name, self._verify, self._config_key)

    # Blocking API, for operators and sensors in a worker.

    def get_job(self, family: JobFamily, workflow_name: str, job_id: str) -> JobDescription:
        """Return the Get*Job response of ``family`` as plain JSON, without ``ResponseMetadata``."""
        family.check_workflow_name(workflow_name, "workflow_name")
        validation.check_job_id(job_id)
        with errors.translated_errors(family.get_operation, workflow_name, job_id):
            response: GetJobOutput = _call(self.conn, family.get_operation)(
                workflowName=workflow_name, jobId=job_id
            )
        return jobs.job_description(response)

    def describe_job(self, family: JobFamily, workflow_name: str, job_id: str) -> JobState:
        """Fetch a job and wrap it in a :class:`~airflow_entityresolution.jobs.JobState`."""
        return jobs.JobState(family, workflow_name, job_id, self.get_job(family, workflow_name, job_id))

    def wait_for_job(
        self,
        family: JobFamily,
        workflow_name: str,
        job_id: str,
        *,
        waiter_delay: float,
        waiter_max_attempts: int,
        log: TaskLog | None = None,
    ) -> JobState:
        """
        Block until the job is SUCCEEDED or FAILED and return its final state.

        Raises :class:`~airflow_entityresolution.errors.EntityResolutionWaitTimeoutError`
        when ``waiter_max_attempts`` polls pass without a terminal status.
        """
        schedule = polling.PollSchedule(waiter_delay, waiter_max_attempts)
        log = log or self.log
        state = None
        for delay in schedule:
            time.sleep(delay)
            state = self._answered_poll(schedule, family, workflow_name, job_id, log)
            state.log(log)
            if state.is_terminal:
                return state
        raise schedule.timeout_error(state)

    def _answered_poll(
        self, schedule: PollSchedule, family: JobFamily, workflow_name: str, job_id: str, log: TaskLog
    ) -> JobState:
        while True:
            try:
                return self.describe_job(family, workflow_name, job_id)
            except errors.EntityResolutionRequestError as error:
                time.sleep(schedule.missed(error, log))

    def get_id_mapping_job(self, workflow_name: str, job_id: str) -> JobDescription:
        """
        Return the GetIdMappingJob response, without ``ResponseMetadata``.

        Timestamps come back as ISO-8601 strings, so the result can go to XCom as it is.

        :param workflow_name: the ID mapping workflow's name or ARN.
        :param job_id: the job's ID.
        """
        return self.get_job(jobs.ID_MAPPING, workflow_name, job_id)

    def get_matching_job(self, workflow_name: str, job_id: str) -> JobDescription:
        """
        Return the GetMatchingJob response, without ``ResponseMetadata``.

        Timestamps come back as ISO-8601 strings, so the result can go to XCom as it is.

        :param workflow_name: the matching workflow's name (matching workflows have no ARN form).
        :param job_id: the job's ID.
        """
        return self.get_job(jobs.MATCHING, workflow_name, job_id)

    def check_start_request(self, family: JobFamily, request: dict[str, Any]) -> None:
        """
        Refuse, before any request, start members that the family or the installed botocore lacks.

        An older botocore would refuse the member itself, with ``Unknown parameter in input``,
        and only once the task is running: the message here names the botocore it needs.
        """
        if unknown := set(request) - family.start_body_members:
            allowed = ", ".join(sorted(family.start_body_members)) or "nothing"
            raise validation.InvalidParameterError(
                "request",
                request,
                f"members of a {family.start_operation} request: {allowed}; not {sorted(unknown)}",
            )
        known = self.conn.meta.service_model.operation_model(family.start_operation).input_shape.members
        for member in sorted(set(request) - set(known)):
            parameter, since = BOTOCORE_SINCE[member]
            raise validation.InvalidParameterError(
                parameter,
                request[member],
                f"no {parameter} with botocore {botocore_version()}: {family.start_operation} takes "
                f"{member} from botocore {since} on, so upgrade botocore or leave {parameter} unset",
            )

    def start_job(self, family: JobFamily, workflow_name: str, request: dict[str, Any] | None = None) -> str:
        """
        Send one Start*Job request of ``family`` and return the new job's ID.

        :param family: the job family.
        :param workflow_name: the workflow's name (or, for ID mapping, its ARN).
        :param request: the request's other members, already checked, such as ``jobType``.
        """
        family.check_workflow_name(workflow_name, "workflow_name")
        self.check_start_request(family, request or {})
        with errors.translated_errors(family.start_operation, workflow_name):
            response: StartJobOutput = _call(self._start_client, family.start_operation)(
                workflowName=workflow_name, **(request or {})
            )
        return response["jobId"]

    @staticmethod
    def id_mapping_start_request(
        job_type: str | None = None, output_source_config: list[dict[str, str]] | None = None
    ) -> dict[str, Any]:
        """Check an ID mapping job's start parameters and return them as request members."""
        request: dict[str, Any] = {}
        if validation.check_job_type(job_type) is not None:
            request["jobType"] = job_type
        if (outputs := validation.check_output_source_config(output_source_config)) is not None:
            request["outputSourceConfig"] = outputs
        return request

    def start_id_mapping_job(
        self,
        workflow_name: str,
        job_type: str | None = None,
        output_source_config: list[dict[str, str]] | None = None,
    ) -> str:
        """
        Start an ID mapping job and return its ID.

        :param workflow_name: the ID mapping workflow's name or ARN.
        :param job_type: ``BATCH``, ``INCREMENTAL`` or ``DELETE_ONLY``; the service's default if ``None``.
            Needs botocore 1.40.37 or later.
        :param output_source_config: one output source, like
            ``[{"outputS3Path": "s3://bucket/prefix", "roleArn": "arn:aws:iam::...:role/name"}]``.
        """
        return self.start_job(
            jobs.ID_MAPPING, workflow_name, self.id_mapping_start_request(job_type, output_source_config)
        )

    def start_matching_job(self, workflow_name: str) -> str:
        """
        Start a matching job and return its ID. The job takes its inputs and output from the workflow.

        :param workflow_name: the matching workflow's name.
        """
        return self.start_job(jobs.MATCHING, workflow_name)

    @cached_property
    def _start_client(self) -> EntityResolutionClient:
        """
        A client that sends each start once.

        The API takes no idempotency token: botocore re-sending a start whose answer was
        lost (a read timeout, a dropped connection) would start a second job. A caller
        that gets a transient error from a start looks for the job instead (see the operator).
        """
        retries = {key: value for key, value in (self.config.retries or {}).items() if key != "max_attempts"}
        once = Config(retries={**retries, "total_max_attempts": 1})
        client: EntityResolutionClient = self.get_client_type(
            region_name=self.region_name, config=self.config.merge(once)
        )
        return client

    def list_jobs(self, family: JobFamily, workflow_name: str) -> list[JobSummary]:
        """Return the summaries of every job of a workflow, newest first, as plain JSON."""
        family.check_workflow_name(workflow_name, "workflow_name")
        # The name comes from the JobFamily table, so the stubs' overloads cannot see which one it is.
        paginator = self.conn.get_paginator(cast("ListJobsMethod", _method(family.list_operation)))
        with errors.translated_errors(family.list_operation, workflow_name):
            pages = list(paginator.paginate(workflowName=workflow_name))
        return [jobs.job_description(job) for page in pages for job in page.get("jobs", [])]

    def list_id_mapping_jobs(self, workflow_name: str) -> list[JobSummary]:
        """
        Return the summaries of every job of an ID mapping workflow, as plain JSON.

        :param workflow_name: the ID mapping workflow's name or ARN.
        """
        return self.list_jobs(jobs.ID_MAPPING, workflow_name)

    def list_matching_jobs(self, workflow_name: str) -> list[JobSummary]:
        """
        Return the summaries of every job of a matching workflow, as plain JSON.

        :param workflow_name: the matching workflow's name.
        """
        return self.list_jobs(jobs.MATCHING, workflow_name)

    def newest_job(self, family: JobFamily, workflow_name: str) -> JobSummary | None:
        """Return the summary of the workflow's most recently started job, if it has any."""
        family.check_workflow_name(workflow_name, "workflow_name")
        with errors.translated_errors(family.list_operation, workflow_name):
            response: ListJobsOutput = _call(self.conn, family.list_operation)(
                workflowName=workflow_name, maxResults=1
            )
        found = response.get("jobs", [])
        return jobs.job_description(found[0]) if found else None

    def find_unfinished_job(self, family: JobFamily, workflow_name: str) -> JobSummary | None:
        """Return the summary of the workflow's newest job that has not ended, if any."""
        family.check_workflow_name(workflow_name, "workflow_name")
        with errors.translated_errors(family.list_operation, workflow_name):
            response: ListJobsOutput = _call(self.conn, family.list_operation)(workflowName=workflow_name)
        for summary in response.get("jobs", []):
            described = jobs.job_description(summary)
            if not jobs.JobState(family, workflow_name, described["jobId"], described).is_terminal:
                return described
        return None

    def get_workflow(self, family: JobFamily, workflow_name: str) -> WorkflowDescription:
        """
        Return the Get*Workflow answer of ``family`` as plain JSON: its input and output sources, its role.

        :param family: the family of the workflow's jobs.
        :param workflow_name: the workflow's name, or an ID mapping workflow's ARN (GetIdMappingWorkflow
            takes only the name, which is read from it).
        """
        name = validation.workflow_resource_name(workflow_name)
        with errors.translated_errors(family.get_workflow_operation, name):
            response = _call(self.conn, family.get_workflow_operation)(workflowName=name)
        return cast("WorkflowDescription", jobs.plain_answer(response))

    def get_id_namespace(self, name: str) -> IdNamespaceDescription:
        """
        Return the GetIdNamespace answer as plain JSON: the namespace's type and its input sources.

        :param name: the ID namespace's name or ARN.
        """
        validation.check_id_namespace_name(name, "name")
        with errors.translated_errors("GetIdNamespace", name, resource="ID namespace"):
            response = self.conn.get_id_namespace(idNamespaceName=name)
        return cast("IdNamespaceDescription", jobs.plain_answer(response))

    # Asynchronous API, for triggers in the triggerer's event loop.

    def shared_async_client(self) -> AbstractAsyncContextManager[AsyncEntityResolutionClient]:
        """
        Lease the aiobotocore client shared by every wait in this event loop with the same settings.

        Use as ``async with hook.shared_async_client() as client``; the last lease closes it.
        """
        return clients.shared_async_clients.lease(self)

    async def async_describe_job(
        self, client: AsyncEntityResolutionClient, family: JobFamily, workflow_name: str, job_id: str
    ) -> JobState:
        """Fetch a job through an aiobotocore ``client`` and wrap it in a ``JobState``."""
        family.check_workflow_name(workflow_name, "workflow_name")
        validation.check_job_id(job_id)
        with errors.translated_errors(family.get_operation, workflow_name, job_id):
            response: GetJobOutput = await _call(client, family.get_operation)(
                workflowName=workflow_name, jobId=job_id
            )
        return jobs.JobState(family, workflow_name, job_id, jobs.job_description(response))

    async def async_list_jobs(
        self, client: AsyncEntityResolutionClient, family: JobFamily, workflow_name: str
    ) -> list[JobSummary]:
        """The asynchronous twin of :meth:`list_jobs`, through an aiobotocore ``client``: every page."""
        family.check_workflow_name(workflow_name, "workflow_name")
        paginator = client.get_paginator(cast("ListJobsMethod", _method(family.list_operation)))
        with errors.translated_errors(family.list_operation, workflow_name):
            pages = [page async for page in paginator.paginate(workflowName=workflow_name)]
        return [jobs.job_description(job) for page in pages for job in page.get("jobs", [])]

    async def async_wait_for_job(
        self,
        family: JobFamily,
        workflow_name: str,
        job_id: str,
        *,
        waiter_delay: float,
        waiter_max_attempts: int,
        log: TaskLog | None = None,
    ) -> JobState:
        """
        The asynchronous twin of :meth:`wait_for_job`, on the shared client.

        It logs the first status and every change, and an unchanged status again every
        10 minutes, not at every poll: each line a trigger logs wakes the triggerer's
        supervisor loop, which queries the metadata DB each time.
        """
        schedule = polling.PollSchedule(waiter_delay, waiter_max_attempts)
        log = log or self.log
        status_log = polling.StatusLog(log)
        state = None
        async with self.shared_async_client() as client:
            for delay in schedule:
                await asyncio.sleep(delay)
                state = await self._async_answered_poll(client, schedule, family, workflow_name, job_id, log)
                status_log(state)
                if state.is_terminal:
                    return state
        raise schedule.timeout_error(state)

    async def _async_answered_poll(
        self,
        client: AsyncEntityResolutionClient,
        schedule: PollSchedule,
        family: JobFamily,
        workflow_name: str,
        job_id: str,
        log: TaskLog,
    ) -> JobState:
        while True:
            try:
                return await self.async_describe_job(client, family, workflow_name, job_id)
            except errors.EntityResolutionRequestError as error:
                await asyncio.sleep(schedule.missed(error, log))


def _method(operation: str) -> str:
    """botocore's client method name for an API operation, such as ``get_id_mapping_job``."""
    from botocore import xform_name

    name: str = xform_name(operation)
    return name


def _call(client: EntityResolutionClient | AsyncEntityResolutionClient, operation: str) -> Callable[..., Any]:
    """
    The client's method for an API operation of the JobFamily table.

    The operation is picked at run time, so the stubs cannot tell which method it is: callers
    annotate the answer with the union of the operations' output shapes.
    """
    method: Callable[..., Any] = getattr(client, _method(operation))
    return method
