"""
The emulator's facade: :class:`EntityResolutionEmulator`, the in-memory service tests drive.

Nothing here speaks HTTP: :mod:`airflow_entityresolution.emulator.server` turns each request
into an :class:`ApiCall`, hands it to :meth:`EntityResolutionEmulator.handle` and writes the
:class:`Reply` it gets back. The emulator holds the parts that decide an answer (the jobs in
:mod:`~airflow_entityresolution.emulator.job_table`, the workflows and ID namespaces in
:mod:`~airflow_entityresolution.emulator.workflows`, the faults, the rate limit and the request
log) behind one lock, because tests drive it from their own thread while the server answers
from another. The names this module has always exported are still importable from it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

from airflow_entityresolution.emulator.clock import Clock, SystemClock
from airflow_entityresolution.emulator.dispatch import Operations
from airflow_entityresolution.emulator.faults import ArmedFaults, Fault, FaultType, answer_with_fault
from airflow_entityresolution.emulator.job_records import JobSnapshot
from airflow_entityresolution.emulator.job_table import Concurrency, JobTable
from airflow_entityresolution.emulator.replies import ERROR_STATUS, Reply, ServiceError
from airflow_entityresolution.emulator.request_log import (
    DEFAULT_REQUEST_LOG_LIMIT,
    RecordedRequest,
    RequestLog,
)
from airflow_entityresolution.emulator.resource_types import ID_NAMESPACE, WORKFLOW_TYPE_OF, ResourceType
from airflow_entityresolution.emulator.scenarios import (
    Scenario,
    emulator_options,
    id_namespace_declarations,
    read_scenario,
    workflow_declarations,
)
from airflow_entityresolution.emulator.scripts import JobScript, check_script_metrics
from airflow_entityresolution.emulator.self_starts import SelfStarts
from airflow_entityresolution.emulator.throttling import RateLimit
from airflow_entityresolution.emulator.wire import DEFAULT_REGION, ApiCall, airflow_connection_json
from airflow_entityresolution.emulator.workflows import ResourceStore
from airflow_entityresolution.jobs import ID_MAPPING, MATCHING, JobFamily, JobStatus
from airflow_entityresolution.renamed import serve_old_names

DEFAULT_ACCOUNT_ID = "123456789012"


class EntityResolutionEmulator:
    """
    An in-memory AWS Entity Resolution job service.

    :class:`~airflow_entityresolution.emulator.server.EmulatorServer` serves it over HTTP.
    Declare workflows, script how their jobs run, inject faults, then read what
    clients asked for in :attr:`requests`. Every method is safe to call from any
    thread while the server runs.

    :param account_id: the account the emulated service belongs to.
    :param concurrency: what a start does while another job of the same family is
        QUEUED or RUNNING in the region: ``"reject"`` answers ConflictException
        (the service allows one such job at a time), ``"queue"`` keeps the new
        job QUEUED until the earlier ones end, ``"unlimited"`` ignores the quota.
        A job a workflow starts by itself has no caller to refuse: it waits under ``"reject"`` too.
    :param rate_limit_per_second: answer ThrottlingException to requests above this
        rate, per account and region (a token bucket holding one second's worth);
        ``None`` for no limit.
    :param request_log_limit: how many of the newest requests :attr:`requests` keeps, so
        that long benchmarks run in bounded memory; ``None`` keeps all. :meth:`count`
        counts every request regardless.
    :param clock: what jobs, self-starts, the rate limit and timestamps follow: the system's
        by default, a :class:`~airflow_entityresolution.emulator.ManualClock` to move by hand.
    """

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT_ID,
        concurrency: Concurrency = "reject",
        rate_limit_per_second: float | None = None,
        request_log_limit: int | None = DEFAULT_REQUEST_LOG_LIMIT,
        clock: Clock | None = None,
    ) -> None:
        clock = clock or SystemClock()
        self._jobs = JobTable(account_id, concurrency, clock)
        self._rate_limit = RateLimit(rate_limit_per_second)
        self.account_id = account_id
        self.endpoint_url: str | None = None
        self._lock = threading.Lock()
        self._resources = ResourceStore(account_id, clock)
        self._operations = Operations(self._jobs, self._resources)
        self._faults = ArmedFaults()
        self._self_starts = SelfStarts(self._jobs, clock)
        self._log = RequestLog(request_log_limit, clock)

    @property
    def concurrency(self) -> Concurrency:
        """What a start does while another job of its family is unfinished in the region; settable."""
        return self._jobs.concurrency

    @concurrency.setter
    def concurrency(self, concurrency: Concurrency) -> None:
        with self._lock:
            # The jobs due by now start under the quota that held when they were due.
            self._self_starts.read_clock()
            self._jobs.concurrency = concurrency

    @property
    def rate_limit_per_second(self) -> float | None:
        """The rate above which requests are throttled, per region; ``None`` for none; settable."""
        return self._rate_limit.per_second

    @rate_limit_per_second.setter
    def rate_limit_per_second(self, rate_limit_per_second: float | None) -> None:
        self._rate_limit.per_second = rate_limit_per_second

    @classmethod
    def from_scenario(cls, scenario: Scenario, clock: Clock | None = None) -> EntityResolutionEmulator:
        """
        Build an emulator from a scenario, or from the path of a JSON file holding one.

        :mod:`airflow_entityresolution.emulator.scenarios` documents a scenario's keys.

        :param scenario: the scenario mapping, or the path of a JSON file that holds one.
        :param clock: the emulator's clock, as the constructor takes it.
        """
        spec = read_scenario(scenario)
        emulator = cls(**emulator_options(spec), clock=clock)
        for workflow in workflow_declarations(spec):
            declared = (workflow.name, workflow.region, workflow.definition, workflow.script)
            emulator._add_resource(WORKFLOW_TYPE_OF[workflow.family], *declared)
            where = {"region": workflow.region, "family": workflow.family.key}
            emulator.script_next_jobs(workflow.name, *workflow.next_jobs, **where)
            for start in workflow.self_started_jobs:
                emulator.start_job_after(workflow.name, start.after_seconds, start.script, **where)
        for namespace in id_namespace_declarations(spec):
            emulator.add_id_namespace(namespace.name, namespace.region, namespace.definition)
        return emulator

    def add_id_mapping_workflow(
        self,
        name: str,
        script: JobScript | None = None,
        region: str = DEFAULT_REGION,
        definition: Mapping[str, Any] | None = None,
    ) -> str:
        """
        Declare an ID mapping workflow and return its ARN.

        Without a definition it gets
        :func:`~airflow_entityresolution.emulator.default_definitions.default_id_mapping_definition`.

        :param name: the workflow name.
        :param script: how its jobs run unless :meth:`script_next_jobs` says otherwise.
        :param region: the region it lives in.
        :param definition: the members of a CreateIdMappingWorkflow request but ``workflowName``,
            e.g. ``{"inputSourceConfig": [...], "idMappingTechniques": {...}}``, checked as the
            service checks a Create: a ``ValueError`` names the member at fault.
        """
        return self._add_resource(
            WORKFLOW_TYPE_OF[ID_MAPPING], name, region, definition, script or JobScript()
        )

    def add_matching_workflow(
        self,
        name: str,
        script: JobScript | None = None,
        region: str = DEFAULT_REGION,
        definition: Mapping[str, Any] | None = None,
    ) -> str:
        """
        Declare a matching workflow and return its ARN.

        Without a definition it gets
        :func:`~airflow_entityresolution.emulator.default_definitions.default_matching_definition`.

        :param name: the workflow name.
        :param script: how its jobs run unless :meth:`script_next_jobs` says otherwise.
        :param region: the region it lives in.
        :param definition: the members of a CreateMatchingWorkflow request but ``workflowName``,
            e.g. ``{"inputSourceConfig": [...], "outputSourceConfig": [...], "resolutionTechniques":
            {...}, "roleArn": "..."}``, checked as the service checks a Create: a ``ValueError``
            names the member at fault.
        """
        return self._add_resource(WORKFLOW_TYPE_OF[MATCHING], name, region, definition, script or JobScript())

    def add_id_namespace(
        self, name: str, region: str = DEFAULT_REGION, definition: Mapping[str, Any] | None = None
    ) -> str:
        """
        Declare an ID namespace and return its ARN.

        Without a definition it gets
        :func:`~airflow_entityresolution.emulator.default_definitions.default_id_namespace_definition`.

        :param name: the namespace name.
        :param region: the region it lives in.
        :param definition: the members of a CreateIdNamespace request but ``idNamespaceName``,
            e.g. ``{"type": "TARGET"}``, checked as the service checks a Create: a ``ValueError``
            names the member at fault.
        """
        return self._add_resource(ID_NAMESPACE, name, region, definition)

    def script_next_jobs(
        self,
        workflow_name: str,
        *scripts: JobScript,
        region: str | None = None,
        family: str | None = None,
    ) -> None:
        """
        Queue scripts for the next jobs of a workflow, consumed one per start, first in first out.

        Once they are used up, starts fall back to the workflow's own script.

        :param workflow_name: the workflow's name.
        :param scripts: the scripts, for the next starts in order.
        :param region: the workflow's region, needed only if the name is declared in several.
        :param family: ``"id_mapping"`` or ``"matching"``, needed only if both families use the name.
        """
        with self._lock:
            # A job due by now took its script already, even if nothing asked since.
            self._self_starts.read_clock()
            self._jobs.script_next_jobs(workflow_name, scripts, region, family)

    def data_arrived(
        self, workflow_name: str, script: JobScript | None = None, region: str | None = None
    ) -> str:
        """
        Tell a matching workflow that new data arrived: it starts a job now, as :meth:`start_job_after` says.

        :param workflow_name: the name of a matching workflow whose definition has
            ``"incrementalRunConfig": {"incrementalRunType": "IMMEDIATE"}``; ``ValueError`` for others.
        :param script: how the job runs; ``None`` for the workflow's next script, as a Start takes it.
        :param region: the workflow's region, needed only if the name is declared in several.
        :return: the job's ID.
        """
        with self._lock:
            return self._self_starts.on_new_data(
                self._jobs.declared_workflow(workflow_name, region, MATCHING.key), script
            )

    def start_job_after(
        self,
        workflow_name: str,
        seconds: float,
        script: JobScript | None = None,
        *,
        region: str | None = None,
        family: str | None = None,
    ) -> str:
        """
        Have a workflow start a job by itself ``seconds`` from now, and return the ID it will have.

        No Start call is logged; Get and List show the job as any other. It waits QUEUED while its
        family is busy in the region, as ``concurrency`` says; a deleted workflow starts nothing.

        :param workflow_name: the workflow's name.
        :param seconds: how long from now, on the emulator's clock.
        :param script: how the job runs; ``None`` for the workflow's next script when it starts.
        :param region: the workflow's region, needed only if the name is declared in several.
        :param family: ``"id_mapping"`` or ``"matching"``, needed only if both families use the name.
        """
        with self._lock:
            workflow = self._jobs.declared_workflow(workflow_name, region, family)
            return self._self_starts.plan(workflow, script, seconds)

    def finish_job(
        self, job_id: str, status: str = JobStatus.SUCCEEDED, error_message: str | None = None
    ) -> None:
        """
        End a job now, whatever its script says.

        :param job_id: the job to end; it must not have ended already.
        :param status: SUCCEEDED or FAILED.
        :param error_message: the error message of a FAILED job; defaults to its script's.
        """
        with self._lock:
            self._jobs.finish(job_id, status, error_message, self._self_starts.read_clock())

    def jobs(self, workflow_name: str | None = None) -> list[JobSnapshot]:
        """
        Snapshot the jobs, oldest first.

        :param workflow_name: only the jobs of workflows of this name; ``None`` for all.
        """
        with self._lock:
            return self._jobs.snapshots(workflow_name, self._self_starts.read_clock())

    def inject(self, *faults: Fault) -> None:
        """
        Arm faults; a request consumes the first armed fault that matches it.

        :param faults: the faults, in the order they take effect.
        """
        with self._lock:
            self._faults.arm(faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        """The request log, oldest first."""
        with self._lock:
            return self._log.requests

    def count(self, operation: str, workflow_name: str | None = None) -> int:
        """
        Count the requests of an operation since the start or the last :meth:`reset`.

        :param operation: the operation name, e.g. ``"GetIdMappingJob"``.
        :param workflow_name: only requests for this workflow or ID namespace (by name or ARN;
            a Create counts under the name its body carries); ``None`` for all.
        """
        with self._lock:
            return self._log.count(operation, workflow_name)

    def reset(self) -> None:
        """Forget jobs, queued scripts, planned self-starts, faults, the rate limit's state and the log."""
        with self._lock:
            self._jobs.clear()
            self._self_starts.clear()
            self._faults.clear()
            self._rate_limit.clear()
            self._log.clear()

    def airflow_connection(self, conn_id: str = "aws_default", region_name: str = DEFAULT_REGION) -> str:
        """
        Return an Airflow AWS connection, as JSON, that points at the served emulator.

        Set it as ``AIRFLOW_CONN_<CONN_ID>`` to make that connection reach the emulator.

        :param conn_id: the connection it is meant for; named in its description.
        :param region_name: the region its clients sign for.
        """
        if self.endpoint_url is None:
            raise RuntimeError("The emulator is not served: start an EmulatorServer with it first.")
        return airflow_connection_json(self.endpoint_url, conn_id, region_name)

    def handle(self, call: ApiCall) -> Reply:
        """
        Answer one request and log it.

        :param call: the request, as the server parsed it.
        """
        with self._lock:
            now = self._self_starts.read_clock()
            fault = None
            if not self._rate_limit.admits(call.region, now):
                reply = ServiceError("ThrottlingException", "Rate exceeded").reply()
            elif (fault := self._faults.take(call)) is not None:
                reply = answer_with_fault(fault, call, functools.partial(self._operations.answer, call, now))
            else:
                reply = self._operations.answer(call, now)
            self._log.record(call, reply, fault)
            return reply

    def _add_resource(
        self,
        resource_type: ResourceType,
        name: str,
        region: str,
        definition: Mapping[str, Any] | None,
        script: JobScript | None = None,
    ) -> str:
        if resource_type.job_family is not None and script is not None:
            check_script_metrics(resource_type.job_family, script)
        with self._lock:
            resource = self._resources.declare(resource_type, name, region, definition)
            return self._jobs.keep_workflow(resource, script).arn


__all__ = [
    "ERROR_STATUS",
    "ApiCall",
    "EntityResolutionEmulator",
    "Fault",
    "FaultType",
    "JobFamily",
    "JobScript",
    "JobSnapshot",
    "RecordedRequest",
    "Reply",
    "ServiceError",
]

__getattr__ = serve_old_names(__name__, {"FaultKind": "FaultType", "JobKind": "JobFamily"}, globals())
