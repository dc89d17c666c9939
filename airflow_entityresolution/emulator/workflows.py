"""
The workflows and ID namespaces an emulator holds, and the Create, Get, List and Delete calls on them.

What each resource type is (its names, members and checks) is in
:mod:`airflow_entityresolution.emulator.resource_types`; this module keeps the resources.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_entityresolution.emulator.clock import Clock
from airflow_entityresolution.emulator.replies import ServiceError, checked, json_body, page, page_size
from airflow_entityresolution.emulator.resource_types import (
    ID_MAPPING_WORKFLOW,
    ID_NAMESPACE,
    MATCHING_WORKFLOW,
    RESOURCE_BY_COLLECTION,
    RESOURCE_OPERATIONS,
    RESOURCE_TYPES,
    WORKFLOW_TYPE_OF,
    ResourceType,
    ResourceVerb,
)


@dataclass(frozen=True)
class Resource:
    """
    One workflow or ID namespace, as its Create request or declaration defined it.

    :param type: what type of resource it is.
    :param name: its name.
    :param region: the region it lives in.
    :param arn: its ARN.
    :param definition: the Create members other than the name, as checked.
    :param created_at: when it was created, in epoch seconds.
    """

    type: ResourceType
    name: str
    region: str
    arn: str
    definition: Mapping[str, Any]
    created_at: float

    def description(self) -> dict[str, Any]:
        """The Get answer: the definition as created, with the name, ARN and timestamps."""
        return {**self._identity(), **copy.deepcopy(dict(self.definition))}

    def created(self) -> dict[str, Any]:
        """The Create answer: the Get answer less what the type's Create output lacks."""
        absent = self.type.absent_from_create
        return {member: value for member, value in self.description().items() if member not in absent}

    def summary(self) -> dict[str, Any]:
        """The resource's entry in a List answer."""
        return {**self._identity(), **self.type.summarise(self.definition)}

    def _identity(self) -> dict[str, Any]:
        return {
            self.type.name_member: self.name,
            self.type.arn_member: self.arn,
            "createdAt": self.created_at,
            # Nothing updates a resource: the emulator has no Update calls.
            "updatedAt": self.created_at,
        }


class ResourceStore:
    """
    The workflows and ID namespaces of one emulator account, and the calls that create, get,
    list and delete them.

    The calls raise :class:`~airflow_entityresolution.emulator.replies.ServiceError` as the
    service answers. Nothing here locks: the emulator calls it under its own lock.

    :param account_id: the account the resources belong to.
    :param clock: the clock that dates their creation.
    """

    def __init__(self, account_id: str, clock: Clock) -> None:
        self.account_id = account_id
        self._clock = clock
        self._resources: dict[tuple[ResourceType, str, str], Resource] = {}

    def find(self, resource_type: ResourceType, region: str, name: str | None) -> Resource | None:
        """The resource of this type, region and name, if there is one."""
        return self._resources.get((resource_type, region, name or ""))

    def add(
        self, resource_type: ResourceType, name: str, region: str, definition: dict[str, Any]
    ) -> Resource:
        """Keep a new resource, created now; the caller has checked that the name is free."""
        arn = resource_type.arn(self.account_id, region, name)
        resource = Resource(resource_type, name, region, arn, definition, self._clock.epoch_seconds())
        self._resources[(resource_type, region, name)] = resource
        return resource

    def declare(
        self, resource_type: ResourceType, name: str, region: str, definition: Mapping[str, Any] | None
    ) -> Resource:
        """Keep a resource a test declares, refusing with ``ValueError`` what it cannot declare."""
        resource_type.check_declared_name(name)
        stored = resource_type.checked_definition(definition, self.account_id, region, name)
        if self.find(resource_type, region, name) is not None:
            raise ValueError(f"The {resource_type.label} {name!r} is already declared in {region}.")
        return self.add(resource_type, name, region, stored)

    def create(self, resource_type: ResourceType, region: str, body: bytes) -> Resource:
        """Answer a Create: check its body, refuse a name in use, and keep the resource."""
        name, definition = checked(resource_type.read_create_request, json_body(body), "")
        if self.find(resource_type, region, name) is not None:
            raise ServiceError(
                "ConflictException", f"The {resource_type.label} {name} already exists in {region}."
            )
        return self.add(resource_type, name, region, definition)

    def existing(
        self, resource_type: ResourceType, region: str, reference: str | None, verb: ResourceVerb
    ) -> Resource:
        """The resource a Get or Delete path names; ResourceNotFoundException if there is none."""
        read_name = functools.partial(
            resource_type.name_in_path, verb=verb, region=region, account=self.account_id
        )
        resource = self.find(resource_type, region, checked(read_name, reference, resource_type.name_member))
        if resource is None:
            raise ServiceError(
                "ResourceNotFoundException",
                f"The {resource_type.label} {reference} does not exist in {region}.",
            )
        return resource

    def list_page(self, resource_type: ResourceType, region: str, query: Mapping[str, str]) -> dict[str, Any]:
        """Answer a List: the summaries of the region's resources of this type, oldest first."""
        size = page_size(query.get("maxResults"))
        oldest_first = [
            resource
            for (listed_type, listed_region, _), resource in self._resources.items()
            if listed_type is resource_type and listed_region == region
        ]
        listed, next_token = page(oldest_first, query.get("nextToken"), size, lambda resource: resource.name)
        answer: dict[str, Any] = {resource_type.summaries_member: [resource.summary() for resource in listed]}
        if next_token is not None:
            answer["nextToken"] = next_token
        return answer

    def delete(self, resource: Resource) -> dict[str, Any]:
        """Answer a Delete of a resource :meth:`existing` found."""
        del self._resources[(resource.type, resource.region, resource.name)]
        return {"message": f"Deleted the {resource.type.label} {resource.name}."}


__all__ = [
    "ID_MAPPING_WORKFLOW",
    "ID_NAMESPACE",
    "MATCHING_WORKFLOW",
    "RESOURCE_BY_COLLECTION",
    "RESOURCE_OPERATIONS",
    "RESOURCE_TYPES",
    "WORKFLOW_TYPE_OF",
    "Resource",
    "ResourceStore",
    "ResourceType",
    "ResourceVerb",
]
