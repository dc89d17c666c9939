"""
What an Entity Resolution task reports to OpenLineage: the workflow's sources in, the job's output out.

The OpenLineage provider's listener calls ``get_openlineage_facets_on_complete`` (or
``..._on_failure``) on a finished operator or sensor, on the worker, after the job ended; both
land in :func:`task_lineage`. It reads the workflow once (Get*Workflow), and each ID namespace the
workflow reads from once (GetIdNamespace), and names every dataset as the OpenLineage naming
spec does: a Glue table is ``arn:aws:glue:{region}:{account}`` / ``table/{database}/{table}``,
an S3 location ``s3://{bucket}`` / its key prefix. Lineage never changes a task's outcome: what
it cannot read it leaves out, with one warning and an ``extractionError`` run facet saying why.

The OpenLineage provider is imported only here, and only when the listener calls: the package
runs without it.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_entityresolution import errors, validation

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

    from airflow_entityresolution.hooks import EntityResolutionHook
    from airflow_entityresolution.jobs import JobFamily, JobState, TaskLog
    from airflow_entityresolution.shapes import JobDescription, WorkflowDescription

RUN_FACET = "entityResolutionJob"
"""The key of the run facet that names the job, its workflow, family, final status and metrics."""

ARN = re.compile(
    r"arn:(?P<partition>[a-z-]+):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>[0-9]*):"
    r"(?P<resource>.+)"
)
S3_PATH = re.compile(r"s3://(?P<bucket>[^/]+)/?(?P<key>.*)")
OPENLINEAGE_MODULES = (
    "airflow.providers.openlineage",
    "airflow.providers.common.compat.openlineage",
    "openlineage",
)


@dataclass(frozen=True, order=True)
class DatasetName:
    """
    A dataset as the OpenLineage naming spec names it.

    :param namespace: where it lives, such as ``arn:aws:glue:us-east-1:123456789012`` or ``s3://bucket``.
    :param name: what it is there, such as ``table/customers/crm``.
    """

    namespace: str
    name: str


@dataclass
class JobLineage:
    """
    What one task reports: its datasets, the job's facts, and what it had to leave out.

    :param inputs: the datasets the workflow reads.
    :param outputs: the datasets the job writes.
    :param job: the run facet's members: job ID, workflow, family, status, metrics, error message.
    :param skipped: why each part that is missing is missing, one sentence each.
    """

    inputs: list[DatasetName] = field(default_factory=list)
    outputs: list[DatasetName] = field(default_factory=list)
    job: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def source_dataset(arn: str) -> DatasetName:
    """
    Name an input source ARN's dataset: a Glue table by the naming spec, any other ARN as what it is.

    Any other resource keeps its ARN's own parts, ``arn:{partition}:{service}:{region}:{account}`` and
    the resource, so that nothing is dropped; text that is no ARN at all is named by itself.
    """
    parts = ARN.fullmatch(arn)
    if parts is None:
        return DatasetName("unknown", arn)
    # A Glue table's resource, table/{database}/{table}, is already the name the spec gives it.
    namespace = f"arn:{parts['partition']}:{parts['service']}:{parts['region']}:{parts['account']}"
    return DatasetName(namespace, parts["resource"])


def s3_dataset(path: str) -> DatasetName:
    """Name an S3 location by the naming spec: namespace ``s3://{bucket}``, name its key prefix."""
    parts = S3_PATH.fullmatch(path)
    if parts is None:
        return DatasetName("unknown", path)
    return DatasetName(f"s3://{parts['bucket']}", parts["key"].strip("/") or "/")


def id_namespace_name(arn: str) -> str | None:
    """The name of the ID namespace an input source ARN points to, or ``None`` for another resource."""
    parts = validation.ID_NAMESPACE_ARN.fullmatch(arn)
    return parts["name"] if parts else None


def collect(
    hook: EntityResolutionHook,
    family: JobFamily,
    workflow_name: str,
    job_id: str | None,
    state: JobState | None,
) -> JobLineage:
    """
    Gather a task's lineage: one Get*Workflow, and one GetIdNamespace per ID namespace it reads.

    :param hook: the task's hook, whose connection and role make the calls.
    :param family: the job family.
    :param workflow_name: the workflow, as the task names it.
    :param job_id: the job, if one was started or watched.
    :param state: the job's last observation, if the task saw one.
    """
    lineage = JobLineage(job=_job_facts(family, workflow_name, job_id, state))
    description: JobDescription | dict[str, Any] = state.description if state else {}
    lineage.outputs = _dedupe(
        s3_dataset(path) for path in _output_paths(description.get("outputSourceConfig"))
    )
    try:
        workflow = hook.get_workflow(family, workflow_name)
    except (errors.EntityResolutionRequestError, validation.InvalidParameterError) as error:
        what = "its inputs" if lineage.outputs else "its inputs and outputs"
        lineage.skipped.append(f"{what}, since the workflow could not be read: {error}")
        return lineage
    lineage.inputs = _dedupe(_input_datasets(hook, workflow, lineage.skipped))
    if not lineage.outputs:
        lineage.outputs = _dedupe(
            s3_dataset(path) for path in _output_paths(workflow.get("outputSourceConfig"))
        )
    return lineage


def _job_facts(
    family: JobFamily, workflow_name: str, job_id: str | None, state: JobState | None
) -> dict[str, Any]:
    facts: dict[str, Any] = {"jobId": job_id, "workflowName": workflow_name, "kind": family.key}
    if state is not None:
        facts.update(status=state.status, metrics=dict(state.metrics or {}), errorMessage=state.error_message)
    return facts


def _output_paths(config: Iterable[Any] | None) -> list[str]:
    return [entry["outputS3Path"] for entry in config or () if entry.get("outputS3Path")]


def _input_datasets(
    hook: EntityResolutionHook, workflow: WorkflowDescription, skipped: list[str]
) -> Iterable[DatasetName]:
    # Each source once, so that a namespace listed twice costs one GetIdNamespace.
    for arn in dict.fromkeys(source["inputSourceARN"] for source in workflow.get("inputSourceConfig", [])):
        namespace = id_namespace_name(arn)
        if namespace is None:
            yield source_dataset(arn)
        else:
            yield from _namespace_datasets(hook, arn, namespace, skipped)


def _namespace_datasets(
    hook: EntityResolutionHook, arn: str, name: str, skipped: list[str]
) -> Iterable[DatasetName]:
    """An ID namespace's own sources; the namespace itself when it has none or cannot be read."""
    try:
        sources = hook.get_id_namespace(name).get("inputSourceConfig", [])
    except errors.EntityResolutionRequestError as error:
        skipped.append(f"the sources of ID namespace {name!r}, reported as the namespace itself: {error}")
        sources = []
    if not sources:
        yield source_dataset(arn)
    for source in sources:
        yield source_dataset(source["inputSourceARN"])


def _dedupe(datasets: Iterable[DatasetName]) -> list[DatasetName]:
    return list(dict.fromkeys(datasets))


def task_lineage(
    hook: EntityResolutionHook,
    family: JobFamily,
    workflow_name: str,
    job_id: str | None,
    state: JobState | None,
    log: TaskLog,
) -> OperatorLineage[Any, Any] | None:
    """
    Answer the OpenLineage listener for a finished task; never raise.

    Logs one warning when it reports nothing (no OpenLineage provider, or an unexpected error) or
    leaves a part out (the role may not read the workflow or a namespace).

    :param hook: the task's hook.
    :param family: the job family.
    :param workflow_name: the workflow, as the task names it.
    :param job_id: the job, if one was started or watched.
    :param state: the job's last observation, if the task saw one.
    :param log: the task's logger.
    """
    subject = f"{family.label} workflow {workflow_name!r}"
    try:
        openlineage = _openlineage()
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith(OPENLINEAGE_MODULES):
            raise
        log.warning(
            "OpenLineage: lineage of %s skipped: apache-airflow-providers-openlineage is not installed (%s)",
            subject,
            error,
        )
        return None
    try:
        collected = collect(hook, family, workflow_name, job_id, state)
    except Exception as error:
        log.warning("OpenLineage: lineage of %s skipped: %s", subject, error)
        return None
    if collected.skipped:
        log.warning("OpenLineage: lineage of %s left out %s", subject, "; and ".join(collected.skipped))
    return operator_lineage(openlineage, collected)


@dataclass(frozen=True)
class _OpenLineage:
    """The OpenLineage classes lineage is built of, imported when the listener first calls."""

    OperatorLineage: Any
    Dataset: Any
    ErrorMessageRunFacet: Any
    ExtractionErrorRunFacet: Any
    Error: Any
    JobRunFacet: Any


@functools.cache
def _openlineage() -> _OpenLineage:
    import attrs
    from airflow.providers.openlineage.extractors import OperatorLineage

    # Only once the provider imported: without it, common-compat's facet module loads placeholders.
    facets = importlib.import_module("airflow.providers.common.compat.openlineage.facet")

    @attrs.define
    class EntityResolutionJobRunFacet(facets.RunFacet):  # type: ignore[misc, name-defined]
        """The Entity Resolution job a task ran or watched: its workflow, family, final status and metrics."""

        jobId: str | None
        workflowName: str
        kind: str  # the family's key, under the key the payloads of 0.1.0 use
        status: str | None = None
        metrics: dict[str, int] = attrs.field(factory=dict)
        errorMessage: str | None = None

    return _OpenLineage(
        OperatorLineage,
        facets.Dataset,
        facets.ErrorMessageRunFacet,
        facets.ExtractionErrorRunFacet,
        facets.Error,
        EntityResolutionJobRunFacet,
    )


def operator_lineage(openlineage: _OpenLineage, lineage: JobLineage) -> OperatorLineage[Any, Any]:
    """Build the listener's answer: datasets, the job's run facet, and the error and extraction facets."""
    run_facets: dict[str, Any] = {RUN_FACET: openlineage.JobRunFacet(**lineage.job)}
    if lineage.job.get("errorMessage"):
        run_facets["errorMessage"] = openlineage.ErrorMessageRunFacet(
            message=lineage.job["errorMessage"], programmingLanguage="python"
        )
    if lineage.skipped:
        run_facets["extractionError"] = openlineage.ExtractionErrorRunFacet(
            totalTasks=1,
            failedTasks=1,
            errors=[openlineage.Error(errorMessage=reason) for reason in lineage.skipped],
        )
    result: OperatorLineage[Any, Any] = openlineage.OperatorLineage(
        inputs=[openlineage.Dataset(namespace=d.namespace, name=d.name) for d in lineage.inputs],
        outputs=[openlineage.Dataset(namespace=d.namespace, name=d.name) for d in lineage.outputs],
        run_facets=run_facets,
    )
    return result
