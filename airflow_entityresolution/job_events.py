"""
Event triggers that announce every job of a workflow that ends, whoever started it (Airflow 3 only).

Import the classes from :mod:`airflow_entityresolution.triggers`; on Airflow 2.11, which has
no asset watchers, that import raises an ``ImportError`` saying so.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_entityresolution.compat import AdvanceItem, SharedStreamProducer
from airflow_entityresolution.errors import EntityResolutionRequestError, ErrorCategory
from airflow_entityresolution.events import event_from_state
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING, MATCHING, JobFamily, JobState, check_end_statuses
from airflow_entityresolution.validation import check_seconds
from airflow_entityresolution.watermark import (
    HORIZON,
    Watermark,
    end_moment,
    identity_digest,
    load_watermark,
    save_watermark,
    watermark_key,
)

if TYPE_CHECKING:
    from types_aiobotocore_entityresolution.client import (
        EntityResolutionClient as AsyncEntityResolutionClient,
    )

    from airflow_entityresolution.jobs import TaskLog
    from airflow_entityresolution.shapes import JobDescription

COMMIT_DELAY_SECONDS = 5.0
"""Without ack mode, how long announced jobs stay pending before the watermark takes them, at any interval.

Longer than two of the triggerer's syncs and a pass of its supervisor loop, which is how long
an event takes to reach the metadata DB; a watermark written sooner could get there first."""

PUBLIC_MODULE = "airflow_entityresolution.triggers"
LISTING_SETTINGS = ("aws_conn_id", "region_name", "verify", "botocore_config", "waiter_delay")
"""Besides the family and the workflow, what decides how a poll lists the jobs: alike, watchers share it."""


@dataclass
class EndedJobs:
    """
    One poll of a workflow: the raw event of the shared stream, the same object for every watcher.

    :param ended: the summaries of the workflow's jobs that have ended, oldest end first.
    :param describe: Get*Job, once per job for all the watchers that announce it.
    :param announced: each watcher's pending jobs when it took this poll, committed once it is advanced.
    """

    ended: list[JobState]
    describe: Callable[[str], Awaitable[JobState]]
    announced: list[tuple[Watermark, list[str]]] = field(default_factory=list)


def _once_per_job(
    hook: EntityResolutionHook, client: AsyncEntityResolutionClient, family: JobFamily, workflow_name: str
) -> Callable[[str], Awaitable[JobState]]:
    described: dict[str, asyncio.Task[JobState]] = {}

    def describe(job_id: str) -> Awaitable[JobState]:
        task = described.get(job_id)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = described[job_id] = asyncio.ensure_future(
                hook.async_describe_job(client, family, workflow_name, job_id)
            )
        return asyncio.shield(task)

    return describe


async def poll_ended_jobs(
    family: JobFamily, kwargs: dict[str, Any], log: TaskLog
) -> AsyncIterator[EndedJobs]:
    """
    List the workflow's jobs every ``waiter_delay`` seconds, forever, and yield those that ended.

    A List that still fails after botocore's retries is tried again at the next interval: a
    transient failure (throttling, a 5xx, the network) with a warning, any other (access denied,
    no such workflow) with an error, so that a watcher outlives a fix of its role or workflow.
    Raising would not stop it: the triggerer starts a failed watcher again at once.
    """
    hook = EntityResolutionHook.from_trigger_arguments(kwargs)
    workflow_name: str = kwargs["workflow_name"]
    async with hook.shared_async_client() as client:
        while True:
            try:
                summaries = await hook.async_list_jobs(client, family, workflow_name)
            except EntityResolutionRequestError as error:
                log_request_error(log, error, f"Listing the jobs again in {kwargs['waiter_delay']:.1f}s")
            else:
                states = [
                    JobState(family, workflow_name, job["jobId"], cast("JobDescription", job))
                    for job in summaries
                ]
                # A summary without endTime has not ended, whatever it says: the next poll sees it again.
                ended = [state for state in states if state.is_terminal and "endTime" in state.description]
                ended.sort(key=lambda state: end_moment(state.description["endTime"]))
                yield EndedJobs(ended, _once_per_job(hook, client, family, workflow_name))
            await asyncio.sleep(kwargs["waiter_delay"])


def log_request_error(log: TaskLog, error: EntityResolutionRequestError, then: str) -> None:
    """Log a request that failed for good: a warning if it may pass by itself, else an error to act on."""
    level = log.warning if error.category is ErrorCategory.TRANSIENT else log.error
    level("%s. %s", error, then)


async def commit_announced(ended_jobs: EndedJobs) -> None:
    """Take the jobs the watchers announced from this poll into their watermarks, now they are persisted."""
    for watermark, job_ids in ended_jobs.announced:
        if watermark.commit(job_ids):
            await save_watermark(watermark)


class EntityResolutionJobEventTrigger(BaseEventTrigger):
    """
    Announce, once each, the jobs of a workflow that end with one of ``statuses``, whoever started them.

    .. seealso::
        For more information on how to use this trigger, take a look at the guide:
        :ref:`howto/job_events:EntityResolutionJobEventTrigger`

    For an ``AssetWatcher``: every announcement becomes an asset event whose ``extra`` is
    ``{"from_trigger": True, "payload": ...}``. The payload is the one the task triggers send
    (see :class:`~airflow_entityresolution.triggers.EntityResolutionJobCompletedTrigger`):
    ``job_id``, ``workflow_name``, ``kind``, ``outcome`` (``succeeded`` or ``failed``), ``job``
    (the final Get*Job description, with ``status``, ``endTime`` and ``metrics``), ``message``
    (the service's ``errorMessage`` of a FAILED job) and ``status`` (``success``, or ``error`` for
    a FAILED job, as in the Amazon provider's events).

    What it announced is kept in an Airflow Variable, ``entityresolution-watermark-<hash>``, so a
    restarted or another triggerer announces nothing twice and misses nothing that ended meanwhile.
    A new watcher announces nothing that ended before its first poll, but inside ``look_back``.

    :param workflow_name: the workflow whose jobs to announce.
    :param statuses: the end statuses to announce: ``SUCCEEDED``, ``FAILED``, or both.
    :param waiter_delay: seconds between the polls (ListJobs, every page).
    :param look_back: on a watcher's first poll, also announce the jobs that ended in these last seconds,
        at most seven days (604800).
    :param aws_conn_id: The Airflow connection used for AWS credentials, an Amazon provider ``aws``
        connection. If ``None``, boto3's default credential chain is used.
    :param region_name: AWS region name; if not given, the connection's or boto3's default.
    :param verify: Whether to verify SSL certificates, or the path of a CA bundle to verify them with.
    :param botocore_config: A dict of botocore ``Config`` arguments for the client.
    """

    family: ClassVar[JobFamily]

    def __init__(
        self,
        workflow_name: str,
        statuses: Sequence[str] = ("SUCCEEDED",),
        waiter_delay: float = 60,
        look_back: float = 0,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        # Airflow leaves BaseTrigger.__init__ unannotated.
        super().__init__()  # type: ignore[no-untyped-call]
        self.workflow_name = self.family.check_workflow_name(workflow_name, "workflow_name")
        self.statuses = check_end_statuses(statuses)
        self.waiter_delay = check_seconds(waiter_delay, "waiter_delay", positive=True)
        self.look_back = check_seconds(look_back, "look_back", at_most=HORIZON.total_seconds())
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self._watermark: Watermark | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # Plain JSON, sorted statuses: the stored row must hash as the DAG's watcher does, or it is replaced.
        return (
            f"{PUBLIC_MODULE}.{type(self).__qualname__}",
            {
                "workflow_name": self.workflow_name,
                "statuses": self.statuses,
                "waiter_delay": self.waiter_delay,
                "look_back": self.look_back,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    @property
    def watermark_key(self) -> str:
        """The Variable that keeps what this watcher announced: one per distinct trigger, as a Trigger row."""
        return watermark_key({"family": self.family.key, **self.serialize()[1]})

    def shared_stream_key(self) -> Hashable:
        """
        What one poll serves on Airflow 3.3: the same jobs listed the same way, at the same interval.

        The connection settings are hashed: Airflow logs the key, and a ``botocore_config`` may
        hold a proxy's password.
        """
        kwargs = self.serialize()[1]
        listing = {name: kwargs[name] for name in LISTING_SETTINGS}
        return ("airflow_entityresolution", self.family.key, self.workflow_name, identity_digest(listing))

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SharedStreamProducer:
        return _EndedJobsProducer(cls, kwargs)

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        async for ended_jobs in shared_stream:
            async for event in self._announcements(ended_jobs):
                yield event

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll alone, as Airflow 3.0 to 3.2 run event triggers: commit after a delay, not when confirmed."""
        async for ended_jobs in poll_ended_jobs(self.family, self.serialize()[1], self.log):
            async for event in self._announcements(ended_jobs):
                yield event
            if ended_jobs.announced:
                await asyncio.sleep(COMMIT_DELAY_SECONDS)
                await commit_announced(ended_jobs)

    @property
    def watermark_description(self) -> str:
        """The description of this watcher's Variable, which a user sees beside it."""
        return (
            f"Jobs announced by the Entity Resolution event trigger on the {self.family.label} workflow "
            f"{self.workflow_name!r} ({', '.join(self.statuses)}). "
            "To start the watcher over from now: pause the DAGs scheduled on its asset, delete this, unpause."
        )

    async def _announcements(self, ended_jobs: EndedJobs) -> AsyncIterator[TriggerEvent]:
        watermark = self._watermark or await self._load_or_baseline(ended_jobs)
        for summary in ended_jobs.ended:
            end_time = summary.description["endTime"]
            if summary.status not in self.statuses or not watermark.is_new(summary.job_id, end_time):
                continue
            try:
                state = await ended_jobs.describe(summary.job_id)
            except EntityResolutionRequestError as error:
                log_request_error(self.log, error, f"Announcing job {summary.job_id} at a later poll")
                continue
            if not state.is_terminal or state.status != summary.status:
                # Get*Job may lag behind the List that showed the job ended: ask again next time.
                self.log.info(
                    "Job %s is %s by Get*Job: announcing it at a later poll", state.job_id, state.status
                )
                continue
            yield TriggerEvent(event_from_state(state))
            watermark.announce(summary.job_id, end_time)
        if watermark.pending:
            # Every pending job, not only this poll's: one whose poll advanced unclean is committed later.
            ended_jobs.announced.append((watermark, list(watermark.pending)))

    async def _load_or_baseline(self, ended_jobs: EndedJobs) -> Watermark:
        key = self.watermark_key
        watermark = await load_watermark(key)
        if watermark is None:
            ended = {state.job_id: state.description["endTime"] for state in ended_jobs.ended}
            now = datetime.datetime.now(datetime.UTC)
            watermark = Watermark.baseline(key, ended, self.look_back, now, self.watermark_description)
            # Written before anything is announced: a watcher that restarted before it would skip nothing.
            await save_watermark(watermark)
            self.log.info("Watching workflow %r from now on: watermark %s", self.workflow_name, key)
        else:
            watermark.description = self.watermark_description
        self._watermark = watermark
        return watermark


class _EndedJobsProducer(SharedStreamProducer):
    """The poll of a shared stream in ack mode: advanced once the announcements from a poll are persisted."""

    def __init__(self, trigger_class: type[EntityResolutionJobEventTrigger], kwargs: dict[str, Any]) -> None:
        self.trigger_class = trigger_class
        self.kwargs = kwargs

    async def open_stream(self) -> AsyncIterator[tuple[Any, Any]]:
        trigger = self.trigger_class(**self.kwargs)
        async for ended_jobs in poll_ended_jobs(trigger.family, self.kwargs, trigger.log):
            yield ended_jobs, ended_jobs

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        for item in batch:
            # An unclean outcome commits nothing: the watchers' pending jobs ride on their next poll.
            if item.outcome.is_clean:
                await commit_announced(item.broker_payload)


class EntityResolutionIdMappingJobEventTrigger(EntityResolutionJobEventTrigger):
    """
    Announce, once each, the ID mapping jobs of a workflow that end with one of ``statuses``.

    .. seealso::
        For more information on how to use this trigger, take a look at the guide:
        :ref:`howto/job_events:EntityResolutionJobEventTrigger`

    See :class:`~airflow_entityresolution.job_events.EntityResolutionJobEventTrigger` for the parameters
    and the event's payload.
    """

    family = ID_MAPPING


class EntityResolutionMatchingJobEventTrigger(EntityResolutionJobEventTrigger):
    """
    Announce, once each, the matching jobs of a workflow that end with one of ``statuses``.

    .. seealso::
        For more information on how to use this trigger, take a look at the guide:
        :ref:`howto/job_events:EntityResolutionJobEventTrigger`

    See :class:`~airflow_entityresolution.job_events.EntityResolutionJobEventTrigger` for the parameters
    and the event's payload.
    """

    family = MATCHING
