"""
The shapes of what the job API answers and what a trigger sends, as typed dictionaries.

They follow the service's shapes in the ``types-boto3-entityresolution`` stubs, with timestamps
as ISO-8601 strings so they can go to XCom as they are. Only type checkers need them: the
provider's own modules import them under ``TYPE_CHECKING``, so a DAG file does not load them.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class JobMetrics(TypedDict, total=False):
    """
    A job's ``metrics``: the members of the API's ``IdMappingJobMetrics`` and ``JobMetrics``.

    The service sends only the members it has figures for; while a job runs, often only ``inputRecords``.
    """

    inputRecords: int
    totalRecordsProcessed: int
    recordsNotProcessed: int
    deleteRecordsProcessed: int
    # Matching jobs only.
    matchIDs: int
    # ID mapping jobs only.
    totalMappedRecords: int
    totalMappedSourceRecords: int
    totalMappedTargetRecords: int
    uniqueRecordsLoaded: int
    newMappedRecords: int
    newMappedSourceRecords: int
    newMappedTargetRecords: int
    newUniqueRecordsLoaded: int
    mappedRecordsRemoved: int
    mappedSourceRecordsRemoved: int
    mappedTargetRecordsRemoved: int


class ErrorDetails(TypedDict, total=False):
    """A FAILED job's ``errorDetails``."""

    errorMessage: str


class OutputSource(TypedDict):
    """One entry of a job's ``outputSourceConfig``."""

    outputS3Path: str
    roleArn: str
    KMSArn: NotRequired[str]


class JobSummary(TypedDict):
    """
    One job of a List*Jobs answer, as plain JSON: timestamps are ISO-8601 strings.

    ``status`` is a :class:`~airflow_entityresolution.jobs.JobStatus` value, or a status the
    API may add later.
    """

    jobId: str
    status: str
    startTime: str
    endTime: NotRequired[str]


class JobDescription(JobSummary, total=False):
    """
    A Get*Job answer as plain JSON: timestamps are ISO-8601 strings and ``ResponseMetadata``
    is left out, so it can go to XCom as it is.
    """

    metrics: JobMetrics
    errorDetails: ErrorDetails
    outputSourceConfig: list[OutputSource]
    # ID mapping jobs only: BATCH, INCREMENTAL or DELETE_ONLY.
    jobType: str


class InputSource(TypedDict):
    """
    One entry of a workflow's or an ID namespace's ``inputSourceConfig``.

    ``inputSourceARN`` is a Glue table's ARN, or, in an ID mapping workflow, an ID namespace's.
    """

    inputSourceARN: str
    schemaName: NotRequired[str]
    # ID mapping workflows only: SOURCE or TARGET.
    type: NotRequired[str]
    # Matching workflows only.
    applyNormalization: NotRequired[bool]


class WorkflowOutputSource(TypedDict, total=False):
    """One entry of a workflow's ``outputSourceConfig``; a matching workflow's lists its ``output`` too."""

    outputS3Path: str
    KMSArn: str
    applyNormalization: bool
    output: list[dict[str, object]]


class WorkflowDescription(TypedDict):
    """
    A GetIdMappingWorkflow or GetMatchingWorkflow answer as plain JSON: timestamps are ISO-8601
    strings and ``ResponseMetadata`` is left out.
    """

    workflowName: str
    workflowArn: str
    inputSourceConfig: list[InputSource]
    createdAt: str
    updatedAt: str
    outputSourceConfig: NotRequired[list[WorkflowOutputSource]]
    roleArn: NotRequired[str]
    description: NotRequired[str]
    incrementalRunConfig: NotRequired[dict[str, object]]
    tags: NotRequired[dict[str, str]]
    # ID mapping workflows only.
    idMappingTechniques: NotRequired[dict[str, object]]
    # Matching workflows only.
    resolutionTechniques: NotRequired[dict[str, object]]


class IdNamespaceDescription(TypedDict):
    """A GetIdNamespace answer as plain JSON, like :class:`WorkflowDescription`."""

    idNamespaceName: str
    idNamespaceArn: str
    # SOURCE or TARGET.
    type: str
    createdAt: str
    updatedAt: str
    inputSourceConfig: NotRequired[list[InputSource]]
    roleArn: NotRequired[str]
    description: NotRequired[str]
    idMappingWorkflowProperties: NotRequired[list[dict[str, object]]]
    tags: NotRequired[dict[str, str]]


Outcome = Literal["succeeded", "failed", "timeout", "error"]


class JobEvent(TypedDict):
    """
    The payload of the event a trigger sends the task it resumes; see
    :class:`~airflow_entityresolution.triggers.EntityResolutionJobCompletedTrigger`.

    ``status`` follows the Amazon provider's triggers: ``"success"`` when the job SUCCEEDED,
    ``"error"`` otherwise, so code written against them reads these events too. ``outcome``
    tells the other endings apart.
    """

    status: Literal["success", "error"]
    outcome: Outcome
    kind: str  # the job family's label; "kind" is the event's key since 0.1.0, which consumers read
    workflow_name: str
    job_id: str
    job: JobDescription | None
    message: str | None
