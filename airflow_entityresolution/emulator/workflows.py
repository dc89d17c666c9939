"""The emulator's workflow and ID namespace resources: their definitions, checks, defaults and calls."""

from __future__ import annotations

import copy
import functools
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from airflow_entityresolution.emulator.replies import ServiceError, checked, json_body, page, page_size
from airflow_entityresolution.jobs import ID_MAPPING, MATCHING, JobKind
from airflow_entityresolution.validation import (
    ID_MAPPING_WORKFLOW_ARN,
    ID_NAMESPACE_ARN,
    ID_NAMESPACE_FORM,
    ID_NAMESPACE_NAME,
    InvalidParameterError,
    check_entity_name,
    check_kms_arn,
    check_pattern,
    check_role_arn,
    check_s3_path,
)

# Checks a value found at a member path; returns it as stored, or raises InvalidParameterError.
Check = Callable[[Any, str], Any]

INPUT_SOURCE_ARN = re.compile(
    r"arn:(aws|aws-us-gov|aws-cn):entityresolution:[a-z]{2}-[a-z]{1,10}-[0-9]:[0-9]{12}:"
    r"(idnamespace|matchingworkflow)/[a-zA-Z0-9_\-]{1,255}"
    r"|arn:(aws|aws-us-gov|aws-cn):glue:[a-z]{2}-[a-z]{1,10}-[0-9]:[0-9]{12}:"
    r"table/[a-zA-Z0-9_\-]{1,255}/[a-zA-Z0-9_\-]{1,255}"
)
PROVIDER_SERVICE_ARN = re.compile(
    r"arn:(aws|aws-us-gov|aws-cn):entityresolution:[a-z]{2}-[a-z]{1,10}-[0-9]::"
    r"providerservice/[a-zA-Z0-9_\-]{1,255}/[a-zA-Z0-9_\-]{1,255}"
)
PROFILE_DOMAIN_ARN = re.compile(
    r"arn:(aws|aws-us-gov|aws-cn):profile:[a-z]{2}-[a-z]{1,10}-[0-9]:[0-9]{12}:domains/[a-zA-Z0-9_\-]{1,255}"
)
PROFILE_OBJECT_TYPE_ARN = re.compile(PROFILE_DOMAIN_ARN.pattern + r"/object-types/[a-zA-Z0-9_\-]{1,255}")
ATTRIBUTE_NAME = re.compile(r"[a-zA-Z0-9_\- ]*")
ANY_TEXT = re.compile(r".*", re.DOTALL)

# What the default definitions read and write, derived from the account, region and name.
DEFAULT_GLUE_DATABASE = "entity_resolution"
DEFAULT_ROLE_NAME = "EntityResolutionWorkflowRole"
DEFAULT_MATCH_KEY = "email"


class ResourceVerb(StrEnum):
    """The four calls every workflow and ID namespace resource offers."""

    CREATE = "Create"
    GET = "Get"
    LIST = "List"
    DELETE = "Delete"


# --- checks of a Create request's members, built from the service model's shapes ---------------


def text(
    pattern: re.Pattern[str] = ANY_TEXT, expected: str = "a string", max_length: int | None = None
) -> Check:
    """Check a string that ``pattern`` matches in full, of at most ``max_length`` characters."""
    return lambda value, parameter: check_pattern(parameter, value, pattern, expected, max_length)


def empty_or(check: Check) -> Check:
    """Check a string that is empty, or that ``check`` accepts (the model's ``$|^...`` patterns)."""
    return lambda value, parameter: value if value == "" else check(value, parameter)


def choice(*values: str) -> Check:
    """Check one of an enum's ``values``."""

    def check(value: Any, parameter: str) -> str:
        if value not in values:
            raise InvalidParameterError(parameter, value, f"one of {', '.join(values)}")
        return str(value)

    return check


def flag(value: Any, parameter: str) -> bool:
    """Check a boolean."""
    if not isinstance(value, bool):
        raise InvalidParameterError(parameter, value, "true or false")
    return value


def document(value: Any, parameter: str) -> Any:
    """Check a free-form document member: any JSON value, stored as a copy."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(parameter, value, "a JSON value") from None
    return copy.deepcopy(value)


def items(member: Check, min_items: int = 0, max_items: int | None = None) -> Check:
    """Check a list of ``min_items`` to ``max_items`` values that ``member`` accepts."""
    expected = (
        f"a list of {min_items} to {max_items} items" if max_items else f"a list of {min_items} or more items"
    )

    def check(value: Any, parameter: str) -> list[Any]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise InvalidParameterError(parameter, value, expected)
        if len(value) < min_items or (max_items is not None and len(value) > max_items):
            raise InvalidParameterError(parameter, value, expected)
        return [member(item, f"{parameter}[{index}]") for index, item in enumerate(value)]

    return check


@dataclass(frozen=True)
class Structure:
    """
    Check an object with every ``required`` member, any ``optional`` ones, and no others.

    :param required: the check of each member the object must have.
    :param optional: the check of each member it may have.
    """

    required: Mapping[str, Check]
    optional: Mapping[str, Check] = field(default_factory=dict)

    @property
    def members(self) -> Mapping[str, Check]:
        return {**self.required, **self.optional}

    def __call__(self, value: Any, parameter: str) -> dict[str, Any]:
        members = self.members
        if not isinstance(value, Mapping):
            raise InvalidParameterError(parameter or "the request", value, "an object")
        for name, member in value.items():
            if name not in members:
                raise InvalidParameterError(
                    _member_path(parameter, name), member, f"one of the members {', '.join(sorted(members))}"
                )
        for name in self.required:
            if name not in value:
                raise InvalidParameterError(_member_path(parameter, name), None, "a value: it is required")
        return {name: members[name](item, _member_path(parameter, name)) for name, item in value.items()}


def tag_map(value: Any, parameter: str) -> dict[str, str]:
    """Check a TagMap: at most 200 tags, keys of 1 to 128 characters, values of at most 256."""
    expected = "a mapping of at most 200 tags, keys of 1 to 128 characters and values of at most 256"
    if not isinstance(value, Mapping) or len(value) > 200:
        raise InvalidParameterError(parameter, value, expected)
    for key, tag in value.items():
        if not (isinstance(key, str) and 1 <= len(key) <= 128 and isinstance(tag, str) and len(tag) <= 256):
            raise InvalidParameterError(f"{parameter}[{key!r}]", tag, expected)
    return dict(value)


def _member_path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


DESCRIPTION = text(max_length=255, expected="a description of at most 255 characters")
INPUT_SOURCE = text(INPUT_SOURCE_ARN, "a Glue table, matching workflow or ID namespace ARN")
ID_NAMESPACE_TYPE = choice("SOURCE", "TARGET")
ID_MAPPING_TYPE = choice("PROVIDER", "RULE_BASED")
ATTRIBUTE_MATCHING_MODEL = choice("ONE_TO_ONE", "MANY_TO_MANY")
RECORD_MATCHING_MODEL = choice("ONE_SOURCE_TO_ONE_TARGET", "MANY_SOURCE_TO_ONE_TARGET")
ATTRIBUTE = text(ATTRIBUTE_NAME, "up to 255 letters, digits, spaces, _ and -", max_length=255)
RULES = items(Structure({"ruleName": ATTRIBUTE, "matchingKeys": items(ATTRIBUTE, 0, 15)}), 1, 25)
PROVIDER_ARN = text(PROVIDER_SERVICE_ARN, "a provider service ARN", max_length=255)
PROVIDER_PROPERTIES = Structure(
    {"providerServiceArn": PROVIDER_ARN},
    {
        "providerConfiguration": document,
        "intermediateSourceConfiguration": Structure({"intermediateS3Path": check_s3_path}),
    },
)
ID_MAPPING_TECHNIQUES = Structure(
    {"idMappingType": ID_MAPPING_TYPE},
    {
        "ruleBasedProperties": Structure(
            {
                "ruleDefinitionType": ID_NAMESPACE_TYPE,
                "attributeMatchingModel": ATTRIBUTE_MATCHING_MODEL,
                "recordMatchingModel": RECORD_MATCHING_MODEL,
            },
            {"rules": RULES},
        ),
        "providerProperties": PROVIDER_PROPERTIES,
    },
)
RESOLUTION_TECHNIQUES = Structure(
    {"resolutionType": choice("RULE_MATCHING", "ML_MATCHING", "PROVIDER")},
    {
        "ruleBasedProperties": Structure(
            {"rules": RULES, "attributeMatchingModel": ATTRIBUTE_MATCHING_MODEL},
            {"matchPurpose": choice("IDENTIFIER_GENERATION", "INDEXING")},
        ),
        "ruleConditionProperties": Structure(
            {"rules": items(Structure({"ruleName": ATTRIBUTE, "condition": text(max_length=2048)}), 1, 25)},
            {"matchingConfig": Structure({}, {"enableTransitiveMatching": flag})},
        ),
        "enableRealTimeMatching": flag,
        "providerProperties": PROVIDER_PROPERTIES,
    },
)
COMMON_OPTIONAL_MEMBERS: Mapping[str, Check] = {"description": DESCRIPTION, "tags": tag_map}
ID_MAPPING_WORKFLOW_DEFINITION = Structure(
    {
        "inputSourceConfig": items(
            Structure(
                {"inputSourceARN": INPUT_SOURCE}, {"schemaName": check_entity_name, "type": ID_NAMESPACE_TYPE}
            ),
            1,
            20,
        ),
        "idMappingTechniques": ID_MAPPING_TECHNIQUES,
    },
    {
        **COMMON_OPTIONAL_MEMBERS,
        "outputSourceConfig": items(
            Structure({"outputS3Path": check_s3_path}, {"KMSArn": check_kms_arn}), 1, 1
        ),
        "incrementalRunConfig": Structure({}, {"incrementalRunType": choice("ON_DEMAND")}),
        "roleArn": empty_or(check_role_arn),
    },
)
MATCHING_WORKFLOW_DEFINITION = Structure(
    {
        "inputSourceConfig": items(
            Structure(
                {"inputSourceARN": INPUT_SOURCE, "schemaName": check_entity_name},
                {"applyNormalization": flag},
            ),
            1,
            20,
        ),
        "outputSourceConfig": items(
            Structure(
                {"output": items(Structure({"name": ATTRIBUTE}, {"hashed": flag}), 0, 750)},
                {
                    "outputS3Path": empty_or(check_s3_path),
                    "KMSArn": check_kms_arn,
                    "applyNormalization": flag,
                    "customerProfilesIntegrationConfig": Structure(
                        {
                            "domainArn": text(PROFILE_DOMAIN_ARN, "a Customer Profiles domain ARN"),
                            "objectTypeArn": text(
                                PROFILE_OBJECT_TYPE_ARN, "a Customer Profiles object type ARN"
                            ),
                        }
                    ),
                },
            ),
            1,
            1,
        ),
        "resolutionTechniques": RESOLUTION_TECHNIQUES,
        # The model gives this roleArn no pattern, unlike every other.
        "roleArn": text(),
    },
    {
        **COMMON_OPTIONAL_MEMBERS,
        "incrementalRunConfig": Structure({}, {"incrementalRunType": choice("IMMEDIATE")}),
    },
)
ID_NAMESPACE_DEFINITION = Structure(
    {"type": ID_NAMESPACE_TYPE},
    {
        **COMMON_OPTIONAL_MEMBERS,
        "inputSourceConfig": items(
            Structure({"inputSourceARN": INPUT_SOURCE}, {"schemaName": check_entity_name}), 0, 20
        ),
        "idMappingWorkflowProperties": items(
            Structure(
                {"idMappingType": ID_MAPPING_TYPE},
                {
                    "ruleBasedProperties": Structure(
                        {},
                        {
                            "rules": RULES,
                            "ruleDefinitionTypes": items(ID_NAMESPACE_TYPE),
                            "attributeMatchingModel": ATTRIBUTE_MATCHING_MODEL,
                            "recordMatchingModels": items(RECORD_MATCHING_MODEL),
                        },
                    ),
                    "providerProperties": Structure(
                        {"providerServiceArn": PROVIDER_ARN}, {"providerConfiguration": document}
                    ),
                },
            ),
            1,
            1,
        ),
        "roleArn": check_role_arn,
    },
)


# --- default definitions -------------------------------------------------------------------------


def _entity_safe(name: str) -> str:
    """``name`` as a Glue table or schema name: an ID mapping workflow name may also hold ``=+/``."""
    return re.sub(r"[^a-zA-Z0-9_\-]", "_", name)[:255]


def _default_input_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:glue:{region}:{account}:table/{DEFAULT_GLUE_DATABASE}/{_entity_safe(name)}"


def _default_output_path(account: str, region: str, name: str) -> str:
    return f"s3://entity-resolution-{account}-{region}/{_entity_safe(name)}/"


def _default_role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{DEFAULT_ROLE_NAME}"


DEFAULT_RULES = ({"ruleName": f"match-on-{DEFAULT_MATCH_KEY}", "matchingKeys": [DEFAULT_MATCH_KEY]},)


def default_id_mapping_definition(account: str, region: str, name: str) -> dict[str, Any]:
    """A rule-based ID mapping workflow over one Glue table, writing under an S3 prefix of its name."""
    return {
        "inputSourceConfig": [
            {
                "inputSourceARN": _default_input_arn(account, region, name),
                "schemaName": _entity_safe(name),
                "type": "SOURCE",
            }
        ],
        "outputSourceConfig": [{"outputS3Path": _default_output_path(account, region, name)}],
        "idMappingTechniques": {
            "idMappingType": "RULE_BASED",
            "ruleBasedProperties": {
                "rules": copy.deepcopy(list(DEFAULT_RULES)),
                "ruleDefinitionType": "SOURCE",
                "attributeMatchingModel": "ONE_TO_ONE",
                "recordMatchingModel": "ONE_SOURCE_TO_ONE_TARGET",
            },
        },
        "roleArn": _default_role_arn(account),
    }


def default_matching_definition(account: str, region: str, name: str) -> dict[str, Any]:
    """A rule-matching workflow over one Glue table, writing its match key under an S3 prefix of its name."""
    return {
        "inputSourceConfig": [
            {
                "inputSourceARN": _default_input_arn(account, region, name),
                "schemaName": _entity_safe(name),
                "applyNormalization": True,
            }
        ],
        "outputSourceConfig": [
            {
                "outputS3Path": _default_output_path(account, region, name),
                "output": [{"name": DEFAULT_MATCH_KEY}],
                "applyNormalization": True,
            }
        ],
        "resolutionTechniques": {
            "resolutionType": "RULE_MATCHING",
            "ruleBasedProperties": {
                "rules": copy.deepcopy(list(DEFAULT_RULES)),
                "attributeMatchingModel": "ONE_TO_ONE",
            },
        },
        "roleArn": _default_role_arn(account),
    }


def default_id_namespace_definition(account: str, region: str, name: str) -> dict[str, Any]:
    """A SOURCE ID namespace over one Glue table."""
    return {
        "type": "SOURCE",
        "inputSourceConfig": [
            {"inputSourceARN": _default_input_arn(account, region, name), "schemaName": _entity_safe(name)}
        ],
        "roleArn": _default_role_arn(account),
    }


# --- the three resource types ---------------------------------------------------------------------


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


@dataclass(frozen=True)
class Resource:
    """
    One workflow or ID namespace, as its Create request or declaration defined it.

    :param type: what kind of resource it is.
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
    """

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._resources: dict[tuple[ResourceType, str, str], Resource] = {}

    def find(self, resource_type: ResourceType, region: str, name: str | None) -> Resource | None:
        """The resource of this type, region and name, if there is one."""
        return self._resources.get((resource_type, region, name or ""))

    def add(
        self, resource_type: ResourceType, name: str, region: str, definition: dict[str, Any]
    ) -> Resource:
        """Keep a new resource, created now; the caller has checked that the name is free."""
        arn = resource_type.arn(self.account_id, region, name)
        resource = Resource(resource_type, name, region, arn, definition, time.time())
        self._resources[(resource_type, region, name)] = resource
        return resource

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
