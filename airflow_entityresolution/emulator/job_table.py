"""
The jobs of one emulator: their Start, Get and List calls, the one-job quota and queued jobs' clocks.

Nothing here locks: the emulator calls it under its own lock. Jobs are kept in the order they
started, those their workflows started by themselves included, so that the newest is the last.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from airflow_entityresolution.emulator.clock import Clock
from airflow_entityresolution.emulator.definitions import runs_on_new_data
from airflow_entityresolution.emulator.job_records import ForcedEnd, Job, JobSnapshot
from airflow_entityresolution.emulator.replies import ServiceError, checked, json_body, page, page_size
from airflow_entityresolution.emulator.resource_types import name_in_arn
from airflow_entityresolution.emulator.scripts import (
    DEFAULT_ERROR_MESSAGE,
    JobScript,
    ScriptedWorkflow,
    check_script_metrics,
)
from airflow_entityresolution.emulator.wire import ApiCall
from airflow_entityresolution.emulator.workflows import Resource
from airflow_entityresolution.jobs import TERMINAL_STATUSES, JobFamily, JobStatus
from airflow_entityresolution.validation import (
    ID_MAPPING_WORKFLOW_ARN,
    check_job_id,
    check_job_type,
    check_output_source_config,
)

Concurrency = Literal["reject", "queue", "unlimited"]
CONCURRENCY_MODES: tuple[str, ...] = ("reject", "queue", "unlimited")


class JobTable:
    """
    The workflows' scripts and the jobs started on them, and the job calls that start, get and list them.

    The calls raise :class:`~airflow_entityresolution.emulator.replies.ServiceError` as the
    service answers.

    :param account_id: the account the workflows belong to.
    :param concurrency: what a start does while another job of the same family is QUEUED or
        RUNNING in the region, as :class:`~airflow_entityresolution.emulator.state.EntityResolutionEmulator`
        takes it.
    :param clock: the clock that dates the jobs.
    """

    def __init__(self, account_id: str, concurrency: Concurrency, clock: Clock) -> None:
        if concurrency not in CONCURRENCY_MODES:
            raise ValueError(f"concurrency must be one of {CONCURRENCY_MODES}, not {concurrency!r}.")
        self.account_id = account_id
        self.concurrency = concurrency
        self._clock = clock
        self._workflows: dict[tuple[JobFamily, str, str], ScriptedWorkflow] = {}
        self._jobs: dict[str, Job] = {}

    def keep_workflow(self, resource: Resource, script: JobScript | None = None) -> Resource:
        """Give a new workflow what its jobs need: its scripts, found by family, region and name."""
        family = resource.type.job_family
        if family is not None:
            workflow = ScriptedWorkflow(
                family,
                resource.name,
                resource.region,
                script or JobScript(),
                runs_on_new_data=runs_on_new_data(resource.definition),
            )
            self._workflows[(family, resource.region, resource.name)] = workflow
        return resource

    def forget_workflow(self, resource: Resource, now: float) -> None:
        """Forget a workflow's scripts, so that starts on it are refused; refuse while a job runs."""
        family = resource.type.job_family
        if family is None:
            return
        workflow = self._workflows[(family, resource.region, resource.name)]
        for job in self._jobs.values():
            if job.workflow is workflow and not self._has_ended(job, now):
                # The model's ConflictException, whose examples include "Workflow is currently running".
                raise ServiceError(
                    "ConflictException",
                    f"The {family.label} workflow {workflow.name} cannot be deleted: its job "
                    f"{job.job_id} is {job.status_at(now)}.",
                )
        del self._workflows[(family, resource.region, resource.name)]

    def script_next_jobs(
        self, workflow_name: str, scripts: Sequence[JobScript], region: str | None, family: str | None
    ) -> None:
        """Queue scripts for the next starts on a workflow declared by that name."""
        workflow = self.declared_workflow(workflow_name, region, family)
        for script in scripts:
            check_script_metrics(workflow.family, script)
        workflow.next_scripts.extend(scripts)

    def finish(self, job_id: str, status: str, error_message: str | None, now: float) -> None:
        """End a job that has not ended yet, with ``status``."""
        if status not in TERMINAL_STATUSES:
            raise ValueError(f"A job ends SUCCEEDED or FAILED, not {status!r}.")
        job = self._jobs.get(job_id)
        if job is None:
            raise KeyError(f"No job {job_id!r}.")
        self._start_clock(job, now)
        if job.status_at(now) in TERMINAL_STATUSES:
            raise ValueError(f"Job {job_id} has already ended {job.status_at(now)}.")
        if status == JobStatus.FAILED:
            error_message = error_message or job.script.error_message or DEFAULT_ERROR_MESSAGE
        else:
            error_message = None
        job.forced = ForcedEnd(status, error_message, now)

    def snapshots(self, workflow_name: str | None, now: float) -> list[JobSnapshot]:
        """Snapshot the jobs of workflows of this name, or all of them, oldest first."""
        selected = [job for job in self._jobs.values() if workflow_name in (None, job.workflow.name)]
        for job in selected:
            self._start_clock(job, now)
        return [job.snapshot(now) for job in selected]

    def clear(self) -> None:
        """Forget the jobs and the queued scripts; keep the workflows and their own scripts."""
        self._jobs.clear()
        for workflow in self._workflows.values():
            workflow.next_scripts.clear()

    def start(self, family: JobFamily, call: ApiCall, now: float) -> dict[str, Any]:
        """Answer a Start: a new job, QUEUED behind another if the quota says so."""
        checked(family.check_workflow_name, call.workflow_name, "workflowName")
        body = _start_body(family, call.body)
        workflow = self._resolve_workflow(family, call)
        waits_for = self._job_to_wait_for(family, workflow.region, now)
        job = self._keep_job(
            workflow,
            workflow.take_script(),
            uuid.uuid4().hex,
            now,
            waits_for,
            job_type=body.get("jobType"),
            output_source_config=_as_tuple(body.get("outputSourceConfig")),
        )
        payload: dict[str, Any] = {"jobId": job.job_id}
        if family.reports_job_type:
            echoed = {"outputSourceConfig": body.get("outputSourceConfig"), "jobType": job.job_type}
            payload.update({name: value for name, value in echoed.items() if value is not None})
        return payload

    def self_start(
        self, workflow: ScriptedWorkflow, script: JobScript | None, job_id: str, at: float
    ) -> None:
        """
        Start a job as its workflow does by itself, with no Start call to answer.

        With no caller to refuse, the job waits QUEUED behind the family's unfinished job in the
        region, unless the concurrency is ``"unlimited"``. A workflow deleted since the start was
        planned starts nothing.

        :param workflow: the workflow that starts it.
        :param script: how it runs; ``None`` takes the workflow's next script, as a Start does.
        :param job_id: its ID.
        :param at: when it starts, on the monotonic clock; no earlier than any job kept.
        """
        if self._workflows.get((workflow.family, workflow.region, workflow.name)) is not workflow:
            return
        waits_for = self._queue_behind(workflow.family, workflow.region, at)
        self._keep_job(workflow, script or workflow.take_script(), job_id, at, waits_for, self_started=True)

    def get(self, family: JobFamily, call: ApiCall, now: float) -> dict[str, Any]:
        """Answer a Get: the job's description as of ``now``."""
        checked(family.check_workflow_name, call.workflow_name, "workflowName")
        checked(check_job_id, call.job_id, "jobId")
        workflow = self._resolve_workflow(family, call)
        job = self._jobs.get(call.job_id or "")
        if job is None or job.workflow is not workflow:
            raise ServiceError(
                "ResourceNotFoundException", f"Job {call.job_id} of workflow {workflow.name} not found."
            )
        self._start_clock(job, now)
        return job.description(now)

    def list_page(self, family: JobFamily, call: ApiCall, now: float) -> dict[str, Any]:
        """Answer a List: a page of the workflow's jobs, newest first."""
        checked(family.check_workflow_name, call.workflow_name, "workflowName")
        size = page_size(call.query.get("maxResults"))
        workflow = self._resolve_workflow(family, call)
        newest_first = [job for job in reversed(self._jobs.values()) if job.workflow is workflow]
        listed, next_token = page(newest_first, call.query.get("nextToken"), size, lambda job: job.job_id)
        for job in listed:
            self._start_clock(job, now)
        payload: dict[str, Any] = {"jobs": [job.summary(now) for job in listed]}
        if next_token is not None:
            payload["nextToken"] = next_token
        return payload

    def declared_workflow(self, name: str, region: str | None, family: str | None) -> ScriptedWorkflow:
        """The workflow of this name, in ``region`` and of ``family`` where given; ``KeyError`` if none."""
        candidates = [
            workflow
            for (workflow_family, workflow_region, workflow_name), workflow in self._workflows.items()
            if workflow_name == name
            and region in (None, workflow_region)
            and family in (None, workflow_family.key)
        ]
        if not candidates:
            raise KeyError(f"No workflow {name!r} is declared (region={region}, family={family}).")
        if len(candidates) > 1:
            raise ValueError(f"Several workflows are named {name!r}: pass region= and family= to pick one.")
        return candidates[0]

    def _resolve_workflow(self, family: JobFamily, call: ApiCall) -> ScriptedWorkflow:
        """Find the workflow a request names, by name or by an ARN of this account and region."""
        reference = call.workflow_name or ""
        name: str | None = reference
        arn = ID_MAPPING_WORKFLOW_ARN.fullmatch(reference)
        if arn is not None:
            name = name_in_arn(arn, call.region, self.account_id)
        workflow = self._workflows.get((family, call.region, name)) if name is not None else None
        if workflow is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"The {family.label} workflow {reference} does not exist in {call.region}.",
            )
        return workflow

    def _job_to_wait_for(self, family: JobFamily, region: str, now: float) -> Job | None:
        """Apply the one-job-per-family-and-region quota to a Start: the job it must wait for, if any."""
        if self.concurrency == "reject" and (unfinished := self._unfinished_jobs(family, region, now)):
            busy = unfinished[0]
            raise ServiceError(
                "ConflictException",
                f"Cannot start another {family.label} job: job {busy.job_id} of workflow "
                f"{busy.workflow.name} is {busy.status_at(now)}, and {region} runs one "
                f"{family.label} job at a time per account.",
            )
        return self._queue_behind(family, region, now)

    def _queue_behind(self, family: JobFamily, region: str, now: float) -> Job | None:
        """The job a new one waits QUEUED behind: the family's newest unfinished one in the region, if any."""
        if self.concurrency == "unlimited":
            return None
        unfinished = self._unfinished_jobs(family, region, now)
        return unfinished[-1] if unfinished else None

    def _unfinished_jobs(self, family: JobFamily, region: str, now: float) -> list[Job]:
        return [
            job
            for job in self._jobs.values()
            if job.family is family and job.workflow.region == region and not self._has_ended(job, now)
        ]

    def _keep_job(
        self,
        workflow: ScriptedWorkflow,
        script: JobScript,
        job_id: str,
        at: float,
        waits_for: Job | None,
        job_type: str | None = None,
        output_source_config: Sequence[Mapping[str, str]] | None = None,
        self_started: bool = False,
    ) -> Job:
        """Keep a new job, started at ``at``; its script's clock starts then unless it waits for another."""
        job = Job(
            job_id=job_id,
            workflow=workflow,
            script=script,
            created_at=at,
            created_wall=self._clock.wall_time(at),
            job_type=job_type,
            output_source_config=output_source_config or script.output_source_config,
            clock_start=None if waits_for else at,
            waits_for=waits_for,
            self_started=self_started,
        )
        self._jobs[job_id] = job
        return job

    def _has_ended(self, job: Job, now: float) -> bool:
        self._start_clock(job, now)
        return job.ended_by(now)

    def _start_clock(self, job: Job, now: float) -> None:
        """Start the clock of a queued job, and of those it waits behind, once their turn came."""
        waiting: list[Job] = []
        while job.clock_start is None and job.forced is None and job.waits_for is not None:
            waiting.append(job)
            job = job.waits_for
        for successor in reversed(waiting):
            if not job.ended_by(now):
                return
            successor.clock_start = job.scripted_end()
            successor.waits_for = None
            job = successor


def _as_tuple(config: list[dict[str, str]] | None) -> tuple[Mapping[str, str], ...] | None:
    return None if config is None else tuple(config)


def _start_body(family: JobFamily, raw: bytes) -> dict[str, Any]:
    body = json_body(raw)
    if not isinstance(body, dict):
        raise ServiceError("ValidationException", "The request body must be a JSON object.")
    unknown = set(body) - family.start_body_members
    if unknown:
        raise ServiceError(
            "ValidationException", f"Unknown members in the request body: {', '.join(sorted(unknown))}."
        )
    if "jobType" in body:
        checked(check_job_type, body["jobType"], "jobType")
    if "outputSourceConfig" in body:
        body["outputSourceConfig"] = checked(
            check_output_source_config, body["outputSourceConfig"], "outputSourceConfig"
        )
    return body
