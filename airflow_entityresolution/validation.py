"""
The API's input constraints, checked before any request is sent.

This module is the one place that knows the patterns of Entity Resolution job
inputs. The provider's classes call it after templates render, and the emulator
calls it to answer ``ValidationException`` the way the service does.

The service model writes the ID mapping workflow pattern as
``[a-zA-Z_0-9-=+/]*$|^arn:...``: its first alternative has no ``^``, so a
``re.search`` with it accepts every string. Each alternative here is matched
in full instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard, cast

JOB_ID = re.compile(r"[a-f0-9]{32}")
ID_MAPPING_WORKFLOW_NAME = re.compile(r"[a-zA-Z0-9_\-=+/]+")
ID_MAPPING_WORKFLOW_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-us-gov|aws-cn):entityresolution:"
    r"(?P<region>[a-z]{2}-[a-z]{1,10}-[0-9]):(?P<account>[0-9]{12}):"
    r"idmappingworkflow/(?P<name>[a-zA-Z0-9_\-]{1,255})"
)
# The service's EntityName: what Create* takes as a workflow or ID namespace name.
ENTITY_NAME = re.compile(r"[a-zA-Z0-9_\-]{1,255}")
MATCHING_WORKFLOW_NAME = ENTITY_NAME
# The service model writes ID namespace names with the same unanchored first alternative as ID mapping
# workflow names: each alternative is matched in full here too.
ID_NAMESPACE_NAME = re.compile(r"[a-zA-Z0-9_\-=+/]+")
ID_NAMESPACE_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-us-gov|aws-cn):entityresolution:"
    r"(?P<region>[a-z]{2}-[a-z]{1,10}-[0-9]):(?P<account>[0-9]{12}):"
    r"idnamespace/(?P<name>[a-zA-Z0-9_\-]{1,255})"
)
JOB_TYPES = ("BATCH", "INCREMENTAL", "DELETE_ONLY")
OUTPUT_S3_PATH = re.compile(r"s3://[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9](/.*)?")
ROLE_ARN = re.compile(r"arn:aws:iam::[0-9]{12}:role/?[a-zA-Z0-9_+=,.@\-/]+")
KMS_ARN = re.compile(r"arn:aws:kms:.*:[0-9]+:.*")
OUTPUT_SOURCE_KEYS = {"outputS3Path", "roleArn", "KMSArn"}

JOB_ID_FORM = "32 characters of 0-9 and a-f"
ID_MAPPING_WORKFLOW_FORM = (
    "a workflow name of letters, digits and _-=+/, or an ARN like "
    "arn:aws:entityresolution:us-east-1:123456789012:idmappingworkflow/my-workflow"
)
ENTITY_NAME_FORM = "1 to 255 characters of letters, digits, _ and -"
MATCHING_WORKFLOW_FORM = f"{ENTITY_NAME_FORM} (matching workflows have no ARN form)"
WORKFLOW_RESOURCE_FORM = f"a workflow name of {ENTITY_NAME_FORM}, or an ID mapping workflow ARN"
ID_NAMESPACE_FORM = (
    "an ID namespace name of letters, digits and _-=+/, or an ARN like "
    "arn:aws:entityresolution:us-east-1:123456789012:idnamespace/my-namespace"
)
OUTPUT_SOURCE_FORM = (
    'a list of exactly one mapping like [{"outputS3Path": "s3://bucket/prefix", '
    '"roleArn": "arn:aws:iam::123456789012:role/name"}], with an optional "KMSArn"'
)


class InvalidParameterError(ValueError):
    """
    A parameter breaks the API's constraints; raised before any request is sent.

    :param parameter: the name of the parameter, as the user wrote it.
    :param value: the value it had after templates rendered.
    :param expected: the form the API accepts.
    """

    def __init__(self, parameter: str, value: Any, expected: str) -> None:
        self.parameter = parameter
        self.value = value
        self.expected = expected
        super().__init__(f"Invalid {parameter}={value!r}: expected {expected}.")


def check_pattern(
    parameter: str, value: Any, pattern: re.Pattern[str], expected: str, max_length: int | None = None
) -> str:
    """Return ``value`` if it is a string of at most ``max_length`` that ``pattern`` matches in full."""
    too_long = max_length is not None and isinstance(value, str) and len(value) > max_length
    if not isinstance(value, str) or too_long or not pattern.fullmatch(value):
        raise InvalidParameterError(parameter, value, expected)
    return value


def refuse_rendered_none(value: Any, parameter: str) -> None:
    """
    Refuse the text ``"None"``, which is what a template that returned ``None`` renders to.

    The API would accept it as a workflow name, so without this a missing XCom or param
    would send a request about a workflow called ``None``.
    """
    if value == "None":
        raise InvalidParameterError(
            parameter, value, "a real value: a template rendered None (a missing XCom or param?)"
        )


def check_job_id(value: Any, parameter: str = "job_id") -> str:
    """Return ``value`` if it is a job ID, else raise :class:`InvalidParameterError`."""
    return check_pattern(parameter, value, JOB_ID, JOB_ID_FORM)


def is_id_mapping_workflow_name(value: Any) -> TypeGuard[str]:
    """Tell whether ``value`` is a valid ID mapping workflow name or workflow ARN."""
    return isinstance(value, str) and bool(
        ID_MAPPING_WORKFLOW_NAME.fullmatch(value) or ID_MAPPING_WORKFLOW_ARN.fullmatch(value)
    )


def check_id_mapping_workflow_name(value: Any, parameter: str = "workflow_name") -> str:
    """Return ``value`` if it names an ID mapping workflow (name or ARN), else raise."""
    if not is_id_mapping_workflow_name(value):
        raise InvalidParameterError(parameter, value, ID_MAPPING_WORKFLOW_FORM)
    return value


def workflow_arn_parts(value: str) -> dict[str, str] | None:
    """Return the ``partition``, ``region``, ``account`` and ``name`` of a workflow ARN, or ``None``."""
    match = ID_MAPPING_WORKFLOW_ARN.fullmatch(value)
    return match.groupdict() if match else None


def check_matching_workflow_name(value: Any, parameter: str = "workflow_name") -> str:
    """Return ``value`` if it names a matching workflow, else raise."""
    return check_pattern(parameter, value, MATCHING_WORKFLOW_NAME, MATCHING_WORKFLOW_FORM)


def workflow_resource_name(value: Any, parameter: str = "workflow_name") -> str:
    """
    Return the name that Get*Workflow takes for a workflow named by name or by ID mapping workflow ARN.

    The job calls take an ID mapping workflow's ARN, but GetIdMappingWorkflow takes only a name.
    """
    parts = workflow_arn_parts(value) if isinstance(value, str) else None
    name = parts["name"] if parts else value
    return check_pattern(parameter, name, ENTITY_NAME, WORKFLOW_RESOURCE_FORM)


def check_id_namespace_name(value: Any, parameter: str = "id_namespace_name") -> str:
    """Return ``value`` if it names an ID namespace (name or ARN), else raise."""
    if not isinstance(value, str) or not (
        ID_NAMESPACE_NAME.fullmatch(value) or ID_NAMESPACE_ARN.fullmatch(value)
    ):
        raise InvalidParameterError(parameter, value, ID_NAMESPACE_FORM)
    return value


def check_job_type(value: Any, parameter: str = "job_type") -> str | None:
    """Return ``value`` if it is ``None`` or one of the API's job types, else raise."""
    if value is not None and value not in JOB_TYPES:
        raise InvalidParameterError(parameter, value, f"None or one of {', '.join(JOB_TYPES)}")
    # `in` does not narrow: the value is None or equal to one of the strings of JOB_TYPES.
    return cast("str | None", value)


def check_output_source_config(
    value: Any, parameter: str = "output_source_config"
) -> list[dict[str, str]] | None:
    """Return ``value`` as a list of one output source, ``None`` if absent, else raise."""
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 1:
        raise InvalidParameterError(parameter, value, OUTPUT_SOURCE_FORM)
    source = value[0]
    if not isinstance(source, Mapping) or not set(source) <= OUTPUT_SOURCE_KEYS:
        raise InvalidParameterError(parameter, value, OUTPUT_SOURCE_FORM)
    check_s3_path(source.get("outputS3Path"), f"{parameter}[0].outputS3Path")
    check_role_arn(source.get("roleArn"), f"{parameter}[0].roleArn")
    if "KMSArn" in source:
        check_kms_arn(source["KMSArn"], f"{parameter}[0].KMSArn")
    return [dict(source)]


def check_entity_name(value: Any, parameter: str = "name") -> str:
    """Return ``value`` if it can name a workflow or ID namespace in a Create* request, else raise."""
    return check_pattern(parameter, value, ENTITY_NAME, ENTITY_NAME_FORM)


def check_s3_path(value: Any, parameter: str = "outputS3Path") -> str:
    """Return ``value`` if it is an S3 URI the API takes as an output path, else raise."""
    expected = "an S3 URI like s3://bucket/prefix, at most 1024 characters"
    return check_pattern(parameter, value, OUTPUT_S3_PATH, expected, max_length=1024)


def check_role_arn(value: Any, parameter: str = "roleArn") -> str:
    """Return ``value`` if it is an IAM role ARN of 32 to 512 characters, else raise."""
    role_arn = check_pattern(
        parameter,
        value,
        ROLE_ARN,
        "an IAM role ARN of 32 to 512 characters like arn:aws:iam::123456789012:role/name",
        max_length=512,
    )
    if len(role_arn) < 32:
        raise InvalidParameterError(parameter, role_arn, "an IAM role ARN of 32 to 512 characters")
    return role_arn


def check_kms_arn(value: Any, parameter: str = "KMSArn") -> str:
    """Return ``value`` if it is a KMS key ARN, else raise."""
    return check_pattern(
        parameter, value, KMS_ARN, "a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/id"
    )


def check_max_records_not_processed(value: Any, parameter: str = "max_records_not_processed") -> None:
    """
    Raise :class:`InvalidParameterError` unless ``value`` is ``None``, a count or a fraction.

    A whole number (``int``) is a count of records; a ``float`` from 0.0 to 1.0 is a
    fraction of ``inputRecords``.
    """
    if value is None:
        return
    count = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    fraction = isinstance(value, float) and 0.0 <= value <= 1.0
    if not (count or fraction):
        raise InvalidParameterError(
            parameter,
            value,
            "None, a whole number of records >= 0 (like 100), or a fraction of inputRecords "
            "from 0.0 to 1.0 (like 0.01)",
        )


def check_output_asset(uri: Any, parameter: str = "output_asset") -> str:
    """Return ``uri`` if it can be an asset outlet: an S3 output path written out in the DAG."""
    expected = (
        "False, an S3 URI written out in the DAG like 's3://bucket/prefix/' (not a template: "
        "outlets are read when the DAG is parsed), or True on the ID mapping operator with "
        "output_source_config naming an outputS3Path"
    )
    if isinstance(uri, str) and "{{" in uri:
        raise InvalidParameterError(parameter, uri, expected)
    return check_pattern(parameter, uri, OUTPUT_S3_PATH, expected, max_length=1024)


def check_seconds(
    value: Any, parameter: str, *, positive: bool = False, at_most: float | None = None
) -> float:
    """Return ``value`` if finite seconds >= 0 (> 0 if ``positive``; <= ``at_most``), else raise."""
    number = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not number or value < 0 or (positive and value == 0) or (at_most is not None and value > at_most):
        expected = f"a number of seconds {'>' if positive else '>='} 0"
        raise InvalidParameterError(
            parameter, value, expected if at_most is None else f"{expected} and <= {at_most:g}"
        )
    return float(value)


def check_waiter_settings(waiter_delay: Any, waiter_max_attempts: Any) -> None:
    """Raise :class:`InvalidParameterError` unless the two describe a possible wait."""
    check_seconds(waiter_delay, "waiter_delay")
    if (
        isinstance(waiter_max_attempts, bool)
        or not isinstance(waiter_max_attempts, int)
        or waiter_max_attempts < 1
    ):
        raise InvalidParameterError("waiter_max_attempts", waiter_max_attempts, "a whole number >= 1")
