"""The definition a workflow or ID namespace declared without one gets, from its account, region, name."""

from __future__ import annotations

import copy
import re
from typing import Any

# What the default definitions read and write, derived from the account, region and name.
DEFAULT_GLUE_DATABASE = "entity_resolution"
DEFAULT_ROLE_NAME = "EntityResolutionWorkflowRole"
DEFAULT_MATCH_KEY = "email"


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
    """
    A rule-based ID mapping workflow over one Glue table, writing under an S3 prefix of its name.

    A SOURCE input from the Glue table ``arn:aws:glue:{region}:{account}:table/entity_resolution/{name}``
    with schema ``{name}``, output to ``s3://entity-resolution-{account}-{region}/{name}/``, one rule
    matching on ``email``, and the role ``arn:aws:iam::{account}:role/EntityResolutionWorkflowRole``
    (characters other than letters, digits, ``_`` and ``-`` in ``name`` become ``_``).
    """
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
    """
    A rule-matching workflow over one Glue table, writing its match key under an S3 prefix of its name.

    An input from the Glue table ``arn:aws:glue:{region}:{account}:table/entity_resolution/{name}``
    with schema ``{name}``, normalized, output of the ``email`` column to
    ``s3://entity-resolution-{account}-{region}/{name}/``, one rule matching on ``email``, and the
    role ``arn:aws:iam::{account}:role/EntityResolutionWorkflowRole``.
    """
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
    """
    A SOURCE ID namespace over one Glue table.

    An input from the Glue table ``arn:aws:glue:{region}:{account}:table/entity_resolution/{name}``
    with schema ``{name}``, and the role ``arn:aws:iam::{account}:role/EntityResolutionWorkflowRole``.
    """
    return {
        "type": "SOURCE",
        "inputSourceConfig": [
            {"inputSourceARN": _default_input_arn(account, region, name), "schemaName": _entity_safe(name)}
        ],
        "roleArn": _default_role_arn(account),
    }
