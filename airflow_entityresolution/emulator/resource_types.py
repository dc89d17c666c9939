"""The three resource types (the two kinds of workflow, ID namespaces): their names, paths and members."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_entityresolution.emulator.checks import Structure
from airflow_entityresolution.emulator.default_definitions import (
    default_id_mapping_definition,
    default_id_namespace_definition,
    default_matching_definition,
)
from airflow_entityresolution.emulator.definitions import (
    ID_MAPPING_WORKFLOW_DEFINITION,
    ID_NAMESPACE_DEFINITION,
    MATCHING_WORKFLOW_DEFINITION,
)
from airflow_entityresolution.jobs import ID_MAPPING, MATCHING, JobKind
from airflow_entityresolution.validation import (
    ID_MAPPING_WORKFLOW_ARN,
    ID_NAMESPACE_ARN,
    ID_NAMESPACE_FORM,
    ID_NAMESPACE_NAME,
    InvalidParameterError,
    check_entity_name,
    check_pattern,
)


class ResourceVerb(StrEnum):
    """The four calls every workflow and ID namespace resource offers."""

    CREATE = "Create"
    GET = "Get"
    LIST = "List"
    DELETE = "Delete"


def _no_extras(definition: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _matching_summary(definition: Mapping[str, Any]) -> dict[str, Any]:
    return {"resolutionType": definition["resolutionTechniques"]["resolutionType"]}


def _id_namespace_summary(definition: Mapping[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {"type": definition["type"]}
    if "description" in definition:
        summary["description"] = definition["description"]
    if "idMappingWorkflowProperties" in definition:
        summary["idMappingWorkflowProperties"] = [
            {"idMappingType": properties["idMappingType"]}
            for properties in definition["idMappingWorkflowProperties"]
        ]
    return summary


# Compared and hashed by identity: there are three, and their checks hold mappings.
@dataclass(frozen=True, eq=False)
class ResourceType:
    """
    One kind of resource the emulator creates, gets, lists and deletes.

    The API derives the rest of its words from two: the operations and paths from ``api_name``
    (``CreateIdNamespace``, ``/idnamespaces``), the members from ``member_prefix``
    (``idNamespaceName``, ``idNamespaceArn``, ``idNamespaceSummaries``).

    :param api_name: the word in operation names, as in ``Create{api_name}``.
    :param member_prefix: the start of its members' names, as in ``{member_prefix}Name``.
    :param label: how messages name the type, such as ``ID namespace``.
    :param check_definition: checks the Create members other than the name.
    :param default_definition: the definition of a resource declared without one, from the
        account, region and name.
    :param summarise: the members of a List summary taken from the definition, beyond the
        name, ARN and timestamps.
    :param absent_from_create: the Get answer's members that a Create answer lacks.
    :param job_kind: the kind of the jobs its resources run; ``None`` for ID namespaces.
    :param arn_pattern: the ARN form a Get may name a resource by; ``None`` if Get takes names only.
    :ivar collection: the first path segment, as in ``/{collection}/{name}``.
    :ivar name_member: the member that names a resource, in requests and answers.
    :ivar arn_member: the member that carries its ARN in answers.
    :ivar summaries_member: the member of a List answer that holds the summaries.
    """

    api_name: str
    member_prefix: str
    label: str
    check_definition: Structure
    default_definition: Callable[[str, str, str], dict[str, Any]]
    summarise: Callable[[Mapping[str, Any]], dict[str, Any]]
    absent_from_create: frozenset[str]
    job_kind: JobKind | None = None
    arn_pattern: re.Pattern[str] | None = None
    collection: str = field(init=False)
    name_member: str = field(init=False)
    arn_member: str = field(init=False)
    summaries_member: str = field(init=False)

    def __post_init__(self) -> None:
        derived = {
            "collection": f"{self.api_name.lower()}s",
            "name_member": f"{self.member_prefix}Name",
            "arn_member": f"{self.member_prefix}Arn",
            "summaries_member": f"{self.member_prefix}Summaries",
        }
        for attribute, value in derived.items():
            object.__setattr__(self, attribute, value)

    def operation(self, verb: ResourceVerb) -> str:
        """Name the operation, such as ``GetMatchingWorkflow`` or ``ListIdNamespaces``."""
        plural = "s" if verb is ResourceVerb.LIST else ""
        return f"{verb.value}{self.api_name}{plural}"

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self.operation(verb) for verb in ResourceVerb)

    def arn(self, account: str, region: str, name: str) -> str:
        """The ARN of the resource ``name`` of ``account`` in ``region``."""
        return f"arn:aws:entityresolution:{region}:{account}:{self.api_name.lower()}/{name}"

    def check_declared_name(self, name: str) -> None:
        """
        Refuse a name a test cannot declare, raising ``ValueError``.

        A workflow takes what its job calls take, so ID mapping workflow names may hold ``=+/``,
        which a Create over HTTP refuses: tests of path encoding declare such names in Python.
        """
        check = self.job_kind.check_workflow_name if self.job_kind else check_entity_name
        try:
            check(name, "name")
        except InvalidParameterError as error:
            raise ValueError(str(error)) from error
        if ID_MAPPING_WORKFLOW_ARN.fullmatch(name):
            raise ValueError(f"Declare a workflow by its name, not by an ARN: {name!r}.")

    def checked_definition(
        self, definition: Mapping[str, Any] | None, account: str, region: str, name: str
    ) -> dict[str, Any]:
        """
        Check a definition declared in Python or a scenario, or make the default one.

        Raises :class:`~airflow_entityresolution.validation.InvalidParameterError`, a
        ``ValueError``, naming the member at fault.
        """
        if definition is None:
            return self.default_definition(account, region, name)
        if not isinstance(definition, Mapping):
            raise InvalidParameterError("definition", definition, f"a mapping of {self.label} Create members")
        checked: dict[str, Any] = self.check_definition(definition, "")
        return checked

    def read_create_request(self, body: Any, parameter: str = "") -> tuple[str, dict[str, Any]]:
        """Check a Create request body; return the name and the definition it carries."""
        if not isinstance(body, Mapping):
            raise InvalidParameterError("the request body", body, "a JSON object")
        name = check_entity_name(body.get(self.name_member), self.name_member)
        members = {member: value for member, value in body.items() if member != self.name_member}
        return name, self.check_definition(members, parameter)

    def name_in_create_body(self, body: bytes) -> str | None:
        """The name a Create request body carries, if it is JSON with a string there."""
        try:
            document = json.loads(body)
        except ValueError:
            return None
        name = document.get(self.name_member) if isinstance(document, dict) else None
        return name if isinstance(name, str) else None

    def name_in_path(
        self, reference: Any, parameter: str, *, verb: ResourceVerb, region: str, account: str
    ) -> str | None:
        """
        Check the name a Get or Delete path carries and return it.

        An ARN, where the call takes one, gives its name if it is of ``account`` in ``region``,
        and ``None`` (a resource that cannot exist) otherwise.
        """
        if verb is not ResourceVerb.GET or self.arn_pattern is None:
            return check_entity_name(reference, parameter)
        if isinstance(reference, str) and (arn := self.arn_pattern.fullmatch(reference)) is not None:
            return name_in_arn(arn, region, account)
        # GetIdNamespace takes a name of this form or an ID namespace ARN; the other calls an EntityName.
        return check_pattern(parameter, reference, ID_NAMESPACE_NAME, ID_NAMESPACE_FORM)


def name_in_arn(arn: re.Match[str], region: str, account: str) -> str | None:
    """The name an ARN match gives, if the ARN is of ``account`` in ``region``; else ``None``."""
    return arn["name"] if (arn["region"], arn["account"]) == (region, account) else None


def _workflow_type(
    job_kind: JobKind,
    check_definition: Structure,
    default_definition: Callable[[str, str, str], dict[str, Any]],
    summarise: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> ResourceType:
    """The resource type of one kind's workflows: the two kinds' are named and answered alike."""
    return ResourceType(
        f"{job_kind.api_name}Workflow",
        "workflow",
        f"{job_kind.label} workflow",
        check_definition,
        default_definition,
        summarise,
        absent_from_create=frozenset({"createdAt", "updatedAt", "tags"}),
        job_kind=job_kind,
    )


ID_MAPPING_WORKFLOW = _workflow_type(
    ID_MAPPING, ID_MAPPING_WORKFLOW_DEFINITION, default_id_mapping_definition, _no_extras
)
MATCHING_WORKFLOW = _workflow_type(
    MATCHING, MATCHING_WORKFLOW_DEFINITION, default_matching_definition, _matching_summary
)
ID_NAMESPACE = ResourceType(
    "IdNamespace",
    "idNamespace",
    "ID namespace",
    ID_NAMESPACE_DEFINITION,
    default_id_namespace_definition,
    _id_namespace_summary,
    absent_from_create=frozenset(),
    arn_pattern=ID_NAMESPACE_ARN,
)
RESOURCE_TYPES: tuple[ResourceType, ...] = (ID_MAPPING_WORKFLOW, MATCHING_WORKFLOW, ID_NAMESPACE)
RESOURCE_BY_COLLECTION: Mapping[str, ResourceType] = {kind.collection: kind for kind in RESOURCE_TYPES}
WORKFLOW_TYPE_OF: Mapping[JobKind, ResourceType] = {
    kind.job_kind: kind for kind in RESOURCE_TYPES if kind.job_kind is not None
}
RESOURCE_OPERATIONS: frozenset[str] = frozenset().union(*(kind.operations for kind in RESOURCE_TYPES))
