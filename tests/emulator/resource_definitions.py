"""One definition of each workflow and ID namespace type, and a scenario that declares them."""

from __future__ import annotations

from typing import Any

from emulator_clients import ACCOUNT, REGION

ROLE = f"arn:aws:iam::{ACCOUNT}:role/entity-resolution-workflows"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RULES = [{"ruleName": "email and phone", "matchingKeys": ["email", "phone"]}]


def glue_table(table: str) -> str:
    return f"arn:aws:glue:{REGION}:{ACCOUNT}:table/crm/{table}"


# One definition of each type, with every kind of member, that every profile's botocore can send.
ID_MAPPING_DEFINITION: dict[str, Any] = {
    "description": "Customers to the loyalty programme's IDs",
    "inputSourceConfig": [
        {"inputSourceARN": glue_table("customers"), "schemaName": "customers", "type": "SOURCE"},
        {
            "inputSourceARN": f"arn:aws:entityresolution:{REGION}:{ACCOUNT}:idnamespace/loyalty",
            "type": "TARGET",
        },
    ],
    "outputSourceConfig": [{"outputS3Path": "s3://entity-bucket/id-mapping/", "KMSArn": KMS}],
    "idMappingTechniques": {
        "idMappingType": "PROVIDER",
        "providerProperties": {
            "providerServiceArn": f"arn:aws:entityresolution:{REGION}::providerservice/LiveRamp/Assignment",
            "providerConfiguration": {"region": "eu", "limits": [1, 2]},
            "intermediateSourceConfiguration": {"intermediateS3Path": "s3://entity-bucket/intermediate/"},
        },
    },
    "roleArn": ROLE,
    "tags": {"team": "identity"},
}
MATCHING_DEFINITION: dict[str, Any] = {
    "description": "People across the CRM and the shop",
    "inputSourceConfig": [
        {"inputSourceARN": glue_table("crm_people"), "schemaName": "people", "applyNormalization": True},
        {"inputSourceARN": glue_table("shop_people"), "schemaName": "people"},
    ],
    "outputSourceConfig": [
        {
            "outputS3Path": "s3://entity-bucket/matching/",
            "KMSArn": KMS,
            "output": [{"name": "email", "hashed": True}, {"name": "phone"}],
            "applyNormalization": False,
        }
    ],
    "resolutionTechniques": {
        "resolutionType": "RULE_MATCHING",
        "ruleBasedProperties": {"rules": RULES, "attributeMatchingModel": "MANY_TO_MANY"},
    },
    "incrementalRunConfig": {"incrementalRunType": "IMMEDIATE"},
    "roleArn": ROLE,
    "tags": {"team": "crm"},
}
ID_NAMESPACE_DEFINITION: dict[str, Any] = {
    "description": "Loyalty programme IDs",
    "type": "TARGET",
    "inputSourceConfig": [{"inputSourceARN": glue_table("loyalty"), "schemaName": "loyalty"}],
    "idMappingWorkflowProperties": [
        {
            "idMappingType": "RULE_BASED",
            "ruleBasedProperties": {
                "rules": RULES,
                "ruleDefinitionTypes": ["TARGET"],
                "attributeMatchingModel": "ONE_TO_ONE",
                "recordMatchingModels": ["ONE_SOURCE_TO_ONE_TARGET"],
            },
        }
    ],
    "roleArn": ROLE,
    "tags": {"team": "identity"},
}


SCENARIO: dict[str, Any] = {
    "id_mapping_workflows": {
        "orders": {"running_seconds": 0, "definition": ID_MAPPING_DEFINITION},
    },
    "matching_workflows": {"people": {"region": "eu-west-1", "definition": MATCHING_DEFINITION}},
    "id_namespaces": {
        "loyalty": {"definition": ID_NAMESPACE_DEFINITION},
        "crm": {},
    },
}
