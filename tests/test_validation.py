"""The API's input constraints: valid inputs pass, invalid ones get an error naming parameter, value, form."""

from __future__ import annotations

import re

import botocore.session
import pytest

from airflow_entityresolution import validation
from airflow_entityresolution.validation import InvalidParameterError

GOOD_ARN = "arn:aws:entityresolution:us-east-1:123456789012:idmappingworkflow/customer-mapping"
ROLE = "arn:aws:iam::123456789012:role/EntityResolutionJobRole"


@pytest.mark.parametrize(
    "name",
    ["customer-id-mapping", "a", "A_b-c=d+e/f", GOOD_ARN, GOOD_ARN.replace(":aws:", ":aws-cn:")],
)
def test_id_mapping_workflow_names_the_api_accepts(name):
    assert validation.check_id_mapping_workflow_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "has space",
        "semi;colon",
        "caf\u00e9",
        "arn:aws:entityresolution:us-east-1:123456789012:matchingworkflow/x",
        "arn:aws:entityresolution:us-east-1:1234:idmappingworkflow/x",
        None,
        42,
    ],
)
def test_id_mapping_workflow_names_the_api_refuses(name):
    with pytest.raises(InvalidParameterError) as info:
        validation.check_id_mapping_workflow_name(name)
    assert info.value.parameter == "workflow_name"
    assert repr(name) in str(info.value)
    assert "idmappingworkflow" in str(info.value)


def test_the_model_pattern_pitfall_is_avoided():
    """
    From botocore 1.39 on the model's first alternative has no ``^``: a search with it accepts
    anything; ours must not. Older models anchor it, and agree with ours.
    """
    model = botocore.session.get_session().get_service_model("entityresolution")
    pattern = model.operation_model("GetIdMappingJob").input_shape.members["workflowName"].metadata["pattern"]
    assert bool(re.search(pattern, "has space; drop table")) == (not pattern.startswith("^"))
    assert not validation.is_id_mapping_workflow_name("has space; drop table")


@pytest.mark.parametrize("job_id", ["0" * 32, "0123456789abcdef0123456789abcdef"])
def test_job_ids_the_api_accepts(job_id):
    assert validation.check_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", ["", "0" * 31, "0" * 33, "0123456789ABCDEF0123456789ABCDEF", None, "None"])
def test_job_ids_the_api_refuses(job_id):
    with pytest.raises(
        InvalidParameterError, match=r"Invalid job_id=.*expected 32 characters of 0-9 and a-f"
    ):
        validation.check_job_id(job_id)


def test_matching_workflow_names_have_no_arn_form():
    assert validation.check_matching_workflow_name("m" * 255)
    for bad in ["", "m" * 256, "a/b", GOOD_ARN]:
        with pytest.raises(InvalidParameterError, match="no ARN form"):
            validation.check_matching_workflow_name(bad)


def test_job_types():
    assert validation.check_job_type(None) is None
    assert validation.check_job_type("INCREMENTAL") == "INCREMENTAL"
    with pytest.raises(
        InvalidParameterError, match=r"Invalid job_type='batch': expected None or one of BATCH"
    ):
        validation.check_job_type("batch")


def test_a_valid_output_source_config_passes_through():
    config = [
        {"outputS3Path": "s3://my-bucket/out/", "roleArn": ROLE, "KMSArn": "arn:aws:kms:us-east-1:1:key/k"}
    ]
    assert validation.check_output_source_config(config) == config
    assert validation.check_output_source_config(None) is None


@pytest.mark.parametrize(
    ("config", "parameter"),
    [
        ({"outputS3Path": "s3://my-bucket/out", "roleArn": ROLE}, "output_source_config"),
        ([], "output_source_config"),
        ([{"outputS3Path": "s3://b1/x", "roleArn": ROLE}] * 2, "output_source_config"),
        ([{"outputS3Path": "s3://my-bucket/x", "roleArn": ROLE, "extra": 1}], "output_source_config"),
        ([{"roleArn": ROLE}], "output_source_config[0].outputS3Path"),
        ([{"outputS3Path": "my-bucket/x", "roleArn": ROLE}], "output_source_config[0].outputS3Path"),
        ([{"outputS3Path": "s3://my-bucket/x"}], "output_source_config[0].roleArn"),
        (
            [{"outputS3Path": "s3://my-bucket/x", "roleArn": "arn:aws:iam::1:role/x"}],
            "output_source_config[0].roleArn",
        ),
        (
            [{"outputS3Path": "s3://my-bucket/x", "roleArn": ROLE, "KMSArn": "key"}],
            "output_source_config[0].KMSArn",
        ),
        ("[]", "output_source_config"),
    ],
)
def test_malformed_output_source_configs_name_the_broken_part(config, parameter):
    with pytest.raises(InvalidParameterError) as info:
        validation.check_output_source_config(config)
    assert info.value.parameter == parameter
    assert str(info.value).startswith(f"Invalid {parameter}=")


def test_waiter_settings():
    validation.check_waiter_settings(0, 1)
    validation.check_waiter_settings(2.5, 10)
    with pytest.raises(InvalidParameterError, match="waiter_delay"):
        validation.check_waiter_settings(-1, 10)
    with pytest.raises(InvalidParameterError, match="waiter_max_attempts"):
        validation.check_waiter_settings(1, 0)
