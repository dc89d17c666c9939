"""Each workflow and ID namespace type's client calls and declaration, so that one test covers all three."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError
from emulator_clients import ACCOUNT, REGION, SERVICE_MODEL
from resource_definitions import ID_MAPPING_DEFINITION, ID_NAMESPACE_DEFINITION, MATCHING_DEFINITION

from airflow_entityresolution.emulator import EntityResolutionEmulator


@dataclass(frozen=True)
class ResourceCalls:
    """The client calls, declaration and a definition of one resource type, so one test covers all."""

    api_name: str
    name_member: str
    arn_member: str
    summaries_member: str
    declare: Callable[..., str]
    definition: dict[str, Any]

    def operation(self, verb: str) -> str:
        return f"{verb.capitalize()}{self.api_name}{'s' if verb == 'list' else ''}"

    def call(self, client: Any, verb: str, **parameters: Any) -> dict[str, Any]:
        answer: dict[str, Any] = getattr(client, xform_name(self.operation(verb)))(**parameters)
        answer.pop("ResponseMetadata", None)
        return answer

    def create(self, client: Any, name: str, **overrides: Any) -> dict[str, Any]:
        return self.call(client, "create", **{self.name_member: name, **self.definition, **overrides})

    def get(self, client: Any, name: str) -> dict[str, Any]:
        return self.call(client, "get", **{self.name_member: name})

    def delete(self, client: Any, name: str) -> dict[str, Any]:
        return self.call(client, "delete", **{self.name_member: name})

    def listed(self, client: Any, **parameters: Any) -> list[str]:
        return [
            summary[self.name_member]
            for summary in self.call(client, "list", **parameters)[self.summaries_member]
        ]

    def job_call(self, client: Any, verb: str, **parameters: Any) -> dict[str, Any]:
        """Call a workflow's job operation, such as ``StartMatchingJob``."""
        operation = f"{verb.capitalize()}{self.api_name.removesuffix('Workflow')}Job"
        answer: dict[str, Any] = getattr(client, xform_name(operation))(**parameters)
        return answer

    def arn(self, name: str, region: str = REGION) -> str:
        return f"arn:aws:entityresolution:{region}:{ACCOUNT}:{self.api_name.lower()}/{name}"

    def required_members(self) -> list[str]:
        shape = SERVICE_MODEL.operation_model(self.operation("create")).input_shape
        return [member for member in shape.required_members if member != self.name_member]


def resource_calls(emulator: EntityResolutionEmulator) -> dict[str, ResourceCalls]:
    return {
        "id_mapping_workflow": ResourceCalls(
            "IdMappingWorkflow",
            "workflowName",
            "workflowArn",
            "workflowSummaries",
            emulator.add_id_mapping_workflow,
            ID_MAPPING_DEFINITION,
        ),
        "matching_workflow": ResourceCalls(
            "MatchingWorkflow",
            "workflowName",
            "workflowArn",
            "workflowSummaries",
            emulator.add_matching_workflow,
            MATCHING_DEFINITION,
        ),
        "id_namespace": ResourceCalls(
            "IdNamespace",
            "idNamespaceName",
            "idNamespaceArn",
            "idNamespaceSummaries",
            emulator.add_id_namespace,
            ID_NAMESPACE_DEFINITION,
        ),
    }


def code_of(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def start_job(client: Any, workflow: ResourceCalls, name: str) -> str:
    return str(workflow.job_call(client, "start", workflowName=name)["jobId"])


def get_job(client: Any, workflow: ResourceCalls, name: str, job_id: str) -> dict[str, Any]:
    return workflow.job_call(client, "get", workflowName=name, jobId=job_id)
