"""The checks of each resource type's Create members: the service model's shapes, member by member."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airflow_entityresolution.emulator.checks import (
    Check,
    Structure,
    choice,
    document,
    empty_or,
    flag,
    items,
    tag_map,
    text,
)
from airflow_entityresolution.validation import (
    check_entity_name,
    check_kms_arn,
    check_role_arn,
    check_s3_path,
)

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

# The incremental run type of a matching workflow the service runs whenever new data arrives.
IMMEDIATE = "IMMEDIATE"

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
        "incrementalRunConfig": Structure({}, {"incrementalRunType": choice(IMMEDIATE)}),
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


def runs_on_new_data(definition: Mapping[str, Any]) -> bool:
    """Tell whether the service starts a workflow's jobs by itself whenever new data arrives."""
    return bool(definition.get("incrementalRunConfig", {}).get("incrementalRunType") == IMMEDIATE)
