"""A request off the wire, the operations and collections it can name, and the connection that reaches it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from airflow_entityresolution.emulator.resource_types import RESOURCE_OPERATIONS, ResourceType, ResourceVerb
from airflow_entityresolution.jobs import JOB_FAMILIES, JobFamily, Verb
from airflow_entityresolution.validation import ID_MAPPING_WORKFLOW_ARN, ID_NAMESPACE_ARN

DEFAULT_REGION = "us-east-1"

FAMILY_BY_COLLECTION: Mapping[str, JobFamily] = {family.collection: family for family in JOB_FAMILIES}
OPERATIONS: frozenset[str] = (
    frozenset(family.operation(verb) for family in JOB_FAMILIES for verb in Verb) | RESOURCE_OPERATIONS
)


@dataclass(frozen=True)
class ApiCall:
    """
    One request, as the server parsed it off the wire.

    :param method: the HTTP method.
    :param path: the raw request path, as sent.
    :param region: the region of the request's SigV4 credential scope.
    :param access_key_id: the access key ID the request was signed with, if it was signed.
    :param family: the job family its path addresses; ``None`` unless it is a job call.
    :param verb: the job call it makes; ``None`` unless it is a job call.
    :param workflow_name: the percent-decoded ``workflowName`` (or ``idNamespaceName``) path
        segment; for a Create, the name its body carries.
    :param job_id: the percent-decoded ``jobId`` path segment of a Get.
    :param query: the query string parameters.
    :param body: the request body.
    :param resource: the workflow or ID namespace type its path addresses; ``None`` unless it
        is a call on such a resource.
    :param resource_verb: the resource call it makes; ``None`` unless it is one.
    """

    method: str
    path: str
    region: str = DEFAULT_REGION
    access_key_id: str | None = None
    family: JobFamily | None = None
    verb: Verb | None = None
    workflow_name: str | None = None
    job_id: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    resource: ResourceType | None = None
    resource_verb: ResourceVerb | None = None

    @property
    def operation(self) -> str | None:
        """The operation name, e.g. ``StartMatchingJob``; ``None`` for an unknown path."""
        if self.resource is not None and self.resource_verb is not None:
            return self.resource.operation(self.resource_verb)
        if self.family is None or self.verb is None:
            return None
        return self.family.operation(self.verb)


def workflow_name_of(reference: str | None) -> str | None:
    """Name the workflow or ID namespace a request refers to, resolving their ARNs."""
    arn = ID_MAPPING_WORKFLOW_ARN.fullmatch(reference or "") or ID_NAMESPACE_ARN.fullmatch(reference or "")
    return arn["name"] if arn else reference


def airflow_connection_json(endpoint_url: str, conn_id: str, region_name: str) -> str:
    """An Airflow AWS connection, as JSON, whose clients reach the emulator at ``endpoint_url``."""
    return json.dumps(
        {
            "conn_type": "aws",
            "description": f"{conn_id}: AWS Entity Resolution emulator",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": region_name, "endpoint_url": endpoint_url},
        }
    )
