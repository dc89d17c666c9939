"""
The bad-input sweep: the provider's validators against the API's own patterns, in both directions.

Each pattern is read from botocore's service model, never copied. Hypothesis generates strings
from the pattern (valid ones) and from arbitrary text and near misses (mostly invalid ones), and
the validator must accept exactly what the model accepts. Malformed ``output_source_config``
values, and template fields that render empty, ``None`` or ``"None"``, must fail with an
:class:`InvalidParameterError` that names the parameter, before any request reaches the emulator.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import botocore.session
import pytest
from airflow_sdk import DAG
from botocore.model import Shape
from conftest import task_states
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_entityresolution import validation
from airflow_entityresolution.emulator import EntityResolutionEmulator
from airflow_entityresolution.errors import EntityResolutionRequestError
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator
from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor
from airflow_entityresolution.validation import InvalidParameterError

PROPERTY = settings(max_examples=200, deadline=None)
WORKFLOW = "customer-id-mapping"
ROLE = "arn:aws:iam::123456789012:role/EntityResolutionJobRole"
GOOD_SOURCE = {"outputS3Path": "s3://my-bucket/out/", "roleArn": ROLE}


@cache
def model() -> Any:
    return botocore.session.get_session().get_service_model("entityresolution")


def input_member(operation: str, member: str) -> Shape:
    return model().operation_model(operation).input_shape.members[member]


def output_source_member(member: str) -> Shape:
    return input_member("StartIdMappingJob", "outputSourceConfig").member.members[member]


def split_top_level(pattern: str) -> list[str]:
    """Split a regex on the ``|`` that are outside groups, character classes and escapes."""
    alternatives, current, depth, in_class, escaped = [], [], 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            alternatives.append("".join(current))
            current = []
            continue
        current.append(char)
    alternatives.append("".join(current))
    return alternatives


def alternatives(shape: Shape) -> list[str]:
    return split_top_level(shape.metadata["pattern"])


def model_accepts(shape: Shape, value: Any) -> bool:
    """What the model allows: a string that fully matches one alternative, within min and max length."""
    if not isinstance(value, str):
        return False
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max", float("inf"))
    if not low <= len(value) <= high:
        return False
    # The model's patterns are ECMA-262 regexes, where \d means [0-9] only: match as ASCII.
    return any(re.fullmatch(alternative, value, re.ASCII) for alternative in alternatives(shape))


ID_MAPPING_NAME = input_member("GetIdMappingJob", "workflowName")
MATCHING_NAME = input_member("GetMatchingJob", "workflowName")
JOB_ID = input_member("GetIdMappingJob", "jobId")
S3_PATH = output_source_member("outputS3Path")
ROLE_ARN = output_source_member("roleArn")
KMS_ARN = output_source_member("KMSArn")


def from_model(shape: Shape) -> st.SearchStrategy[str]:
    """Strings each generated from one alternative of the model's pattern, kept within its lengths."""
    generated = st.one_of(
        *(st.from_regex(re.compile(alt, re.ASCII), fullmatch=True) for alt in alternatives(shape))
    )
    return generated.filter(lambda value: model_accepts(shape, value))


def near_misses(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid string with one character inserted, replaced or removed: the boundary cases."""

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        value = draw(valid)
        position = draw(st.integers(0, len(value)))
        char = draw(st.one_of(st.sampled_from(":/.%?#&;\\ \n\t\x00^$|*AZaz09_-=+é١"), st.characters()))
        how = draw(st.sampled_from(["insert", "replace", "delete"]))
        if how == "insert":
            return value[:position] + char + value[position:]
        if how == "replace":
            return value[:position] + char + value[position + 1 :]
        return value[:position] + value[position + 1 :]

    return mutate()


def mostly_invalid(shape: Shape) -> st.SearchStrategy[str]:
    return st.one_of(st.text(), near_misses(from_model(shape)), from_model(shape))


ARN_LIKE = st.builds(
    "arn:{}:entityresolution:{}:{}:{}/{}".format,
    st.sampled_from(["aws", "aws-cn", "aws-us-gov", "aws-iso", "AWS", ""]),
    st.one_of(st.from_regex(r"[a-z]{2}-[a-z]{1,10}-[0-9]", fullmatch=True), st.text(max_size=12)),
    st.one_of(st.from_regex(r"[0-9]{11,13}", fullmatch=True), st.text(max_size=13)),
    st.sampled_from(["idmappingworkflow", "matchingworkflow", "IdMappingWorkflow", "idmappingworkflows"]),
    st.one_of(st.from_regex(r"[a-zA-Z_0-9-]{0,256}", fullmatch=True), st.text(max_size=20)),
)
"""Workflow ARNs with each part right or wrong in the ways a user gets them wrong."""


def test_the_model_patterns_are_where_these_tests_read_them() -> None:
    """Start, Get and List share each pattern; the ID mapping pattern's second alternative is the ARN."""
    for operation in ("StartIdMappingJob", "GetIdMappingJob", "ListIdMappingJobs"):
        assert input_member(operation, "workflowName").metadata == ID_MAPPING_NAME.metadata
    for operation in ("StartMatchingJob", "GetMatchingJob", "ListMatchingJobs"):
        assert input_member(operation, "workflowName").metadata == MATCHING_NAME.metadata
    _, second = alternatives(ID_MAPPING_NAME)
    assert second.startswith("^arn:")


def test_the_empty_name_is_refused_although_the_pattern_allows_it() -> None:
    """
    The one deliberate difference: the model's ``*`` allows an empty name, but a URI label
    cannot be empty (it would go out as ``/idmappingworkflows//jobs``), so the provider refuses it.
    """
    assert model_accepts(ID_MAPPING_NAME, "")
    assert not validation.is_id_mapping_workflow_name("")


def expect_validator(
    check: Callable[[Any, str], Any], parameter: str, value: Any, accepted: bool
) -> InvalidParameterError | None:
    """Run ``check`` and compare with the model's verdict; return the error when it refused."""
    if accepted:
        assert check(value, parameter) == value
        return None
    with pytest.raises(InvalidParameterError) as info:
        check(value, parameter)
    assert info.value.parameter == parameter
    assert str(info.value).startswith(f"Invalid {parameter}={value!r}: expected ")
    return info.value


@PROPERTY
@given(from_model(ID_MAPPING_NAME))
def test_every_id_mapping_name_and_arn_the_model_allows_is_accepted(name: str) -> None:
    assume(name != "")
    assert validation.is_id_mapping_workflow_name(name)
    assert validation.check_id_mapping_workflow_name(name) == name


@PROPERTY
@given(st.one_of(mostly_invalid(ID_MAPPING_NAME), ARN_LIKE))
def test_id_mapping_names_and_arns_are_accepted_exactly_when_the_model_allows(name: str) -> None:
    accepted = name != "" and model_accepts(ID_MAPPING_NAME, name)
    assert validation.is_id_mapping_workflow_name(name) is accepted
    expect_validator(validation.check_id_mapping_workflow_name, "workflow_name", name, accepted)


@PROPERTY
@given(st.one_of(mostly_invalid(MATCHING_NAME), ARN_LIKE, st.integers(0, 300).map("m".__mul__)))
def test_matching_names_are_accepted_exactly_when_the_model_allows(name: str) -> None:
    expect_validator(
        validation.check_matching_workflow_name, "workflow_name", name, model_accepts(MATCHING_NAME, name)
    )


@PROPERTY
@given(
    st.one_of(
        mostly_invalid(JOB_ID),
        st.from_regex(r"[a-fA-F0-9]{30,34}", fullmatch=True),
        st.uuids().map(str),
        st.uuids().map(lambda uuid: uuid.hex),
    )
)
def test_job_ids_are_accepted_exactly_when_the_model_allows(job_id: str) -> None:
    expect_validator(validation.check_job_id, "job_id", job_id, model_accepts(JOB_ID, job_id))


S3_PATHS = st.one_of(mostly_invalid(S3_PATH), st.just("s3://ab"), st.just("s3://a.b"))
ROLE_ARNS = st.one_of(
    mostly_invalid(ROLE_ARN),
    st.text("abcXYZ09_+=,.@-/", max_size=520).map("arn:aws:iam::123456789012:role".__add__),
)
KMS_ARNS = st.one_of(mostly_invalid(KMS_ARN), st.just("arn:aws:kms:::1:"))
FIELDS: Mapping[str, tuple[Shape, st.SearchStrategy[str]]] = {
    "outputS3Path": (S3_PATH, S3_PATHS),
    "roleArn": (ROLE_ARN, ROLE_ARNS),
    "KMSArn": (KMS_ARN, KMS_ARNS),
}


@pytest.mark.parametrize("member", sorted(FIELDS))
@PROPERTY
@given(data=st.data())
def test_each_output_source_field_is_accepted_exactly_when_the_model_allows(
    member: str, data: st.DataObject
) -> None:
    shape, values = FIELDS[member]
    # Longer S3 paths are their own case below: the provider does not bound their length.
    value = data.draw(values.filter(lambda text: len(text) <= 1024), label=member)
    config = [{**GOOD_SOURCE, member: value}]
    accepted = model_accepts(shape, value)
    parameter = f"output_source_config[0].{member}"
    if accepted:
        assert validation.check_output_source_config(config) == config
    else:
        with pytest.raises(InvalidParameterError) as info:
            validation.check_output_source_config(config)
        assert info.value.parameter == parameter
        assert info.value.value == value


def test_an_output_s3_path_longer_than_the_model_allows_is_refused() -> None:
    path = "s3://my-bucket/" + "k" * 1010
    assert len(path) == 1025 and not model_accepts(S3_PATH, path)
    with pytest.raises(InvalidParameterError) as info:
        validation.check_output_source_config([{**GOOD_SOURCE, "outputS3Path": path}])
    assert info.value.parameter == "output_source_config[0].outputS3Path"


def test_a_role_arn_with_non_ascii_digits_is_refused() -> None:
    role = "arn:aws:iam::" + "\u0661" * 12 + ":role/EntityResolutionJobRole"
    assert not re.fullmatch(ROLE_ARN.metadata["pattern"], role, re.ASCII)
    with pytest.raises(InvalidParameterError) as info:
        validation.check_output_source_config([{**GOOD_SOURCE, "roleArn": role}])
    assert info.value.parameter == "output_source_config[0].roleArn"


NOT_STRINGS = st.one_of(
    st.none(), st.integers(), st.floats(), st.booleans(), st.binary(), st.lists(st.text(), max_size=2)
)
GOOD_SOURCES = st.fixed_dictionaries(
    {"outputS3Path": from_model(S3_PATH), "roleArn": from_model(ROLE_ARN)},
    optional={"KMSArn": from_model(KMS_ARN)},
)


@st.composite
def malformed_output_source_configs(draw: st.DrawFn) -> Any:
    """An ``output_source_config`` broken in one way: container, count, item type, keys or value types."""
    source = draw(GOOD_SOURCES)
    how = draw(
        st.sampled_from(["container", "count", "item", "missing", "extra", "value_type", "role_length"])
    )
    if how == "container":
        return draw(st.one_of(NOT_STRINGS.filter(lambda v: v is not None), st.text(), st.just(source)))
    if how == "count":
        return draw(st.one_of(st.just([]), st.lists(GOOD_SOURCES, min_size=2, max_size=4)))
    if how == "item":
        return [draw(st.one_of(NOT_STRINGS, st.text(), st.lists(st.just(source), min_size=1, max_size=2)))]
    if how == "missing":
        dropped = draw(st.sets(st.sampled_from(["outputS3Path", "roleArn"]), min_size=1))
        return [{key: value for key, value in source.items() if key not in dropped}]
    if how == "extra":
        key = draw(
            st.one_of(st.text(), st.integers()).filter(lambda k: k not in validation.OUTPUT_SOURCE_KEYS)
        )
        return [{**source, key: draw(st.one_of(st.text(), NOT_STRINGS))}]
    if how == "value_type":
        member = draw(st.sampled_from(sorted(validation.OUTPUT_SOURCE_KEYS)))
        return [{**source, member: draw(NOT_STRINGS)}]
    # A role ARN that fits the pattern but not the model's 32..512 characters.
    name = draw(
        st.one_of(st.text("ab_/", min_size=1, max_size=1), st.text("ab_/", min_size=483, max_size=600))
    )
    role = "arn:aws:iam::123456789012:role" + name
    assume(not 32 <= len(role) <= 512)
    return [{**source, "roleArn": role}]


@PROPERTY
@given(GOOD_SOURCES)
def test_every_output_source_the_model_allows_is_accepted(source: dict[str, str]) -> None:
    assume(len(source["outputS3Path"]) <= 1024)
    assert validation.check_output_source_config([source]) == [source]


@PROPERTY
@given(malformed_output_source_configs())
def test_a_malformed_output_source_config_names_the_broken_part(config: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        validation.check_output_source_config(config)
    assert info.value.parameter.startswith("output_source_config")
    assert str(info.value).startswith(f"Invalid {info.value.parameter}=")


BAD_HOOK_CALLS: Mapping[str, Callable[[EntityResolutionHook, Any], Any]] = {
    "start.workflow_name": lambda hook, bad: hook.start_id_mapping_job(bad),
    "start.output_source_config": lambda hook, bad: hook.start_id_mapping_job(WORKFLOW, None, bad),
    "get.workflow_name": lambda hook, bad: hook.get_id_mapping_job(bad, "0" * 32),
    "get.job_id": lambda hook, bad: hook.get_id_mapping_job(WORKFLOW, bad),
    "list.workflow_name": lambda hook, bad: hook.list_id_mapping_jobs(bad),
}


@st.composite
def bad_hook_calls(draw: st.DrawFn) -> tuple[str, Any]:
    call = draw(st.sampled_from(sorted(BAD_HOOK_CALLS)))
    if call.endswith("output_source_config"):
        return call, draw(malformed_output_source_configs())
    shape = JOB_ID if call.endswith("job_id") else ID_MAPPING_NAME
    value = draw(st.one_of(mostly_invalid(shape), NOT_STRINGS, st.sampled_from(["", "None"])))
    assume(not (isinstance(value, str) and value and model_accepts(shape, value)))
    return call, value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad_hook_calls())
def test_bad_input_never_reaches_the_service(
    entity_resolution_emulator: EntityResolutionEmulator, call_and_value: tuple[str, Any]
) -> None:
    """Every bad input to the hook fails on our side: the emulator records no request at all."""
    call, value = call_and_value
    entity_resolution_emulator.reset()
    with pytest.raises(InvalidParameterError) as info:
        BAD_HOOK_CALLS[call](EntityResolutionHook(), value)
    assert info.value.parameter.startswith(call.split(".", 1)[1])
    assert entity_resolution_emulator.requests == []


GOOD_VALUES = {"workflow_name": WORKFLOW, "job_id": "0" * 32, "output_source_config": [GOOD_SOURCE]}


@pytest.mark.parametrize("call", sorted(BAD_HOOK_CALLS))
def test_the_same_calls_with_good_input_do_reach_the_service(
    entity_resolution_emulator: EntityResolutionEmulator, call: str
) -> None:
    """The counterpart that makes "no request" mean something: good input is sent, once."""
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW)
    send = BAD_HOOK_CALLS[call]
    good = GOOD_VALUES[call.split(".", 1)[1]]
    if call.startswith("get."):
        # No job 000...0 exists, so the service answers 404: the request was sent all the same.
        with pytest.raises(EntityResolutionRequestError, match="ResourceNotFoundException"):
            send(EntityResolutionHook(), good)
    else:
        send(EntityResolutionHook(), good)
    assert len(entity_resolution_emulator.requests) == 1


TEMPLATES = {
    "empty": ("{{ dag_run.conf.get('value', '') }}", False, ""),
    "None": ("{{ dag_run.conf.get('value') }}", True, None),
    "None_as_text": ("{{ dag_run.conf.get('value') }}", False, "None"),
}
"""How a template renders to nothing: (template, render_template_as_native_obj, rendered value)."""
TEMPLATED_CASES = [
    pytest.param(
        task,
        parameter,
        rendering,
        id=f"{task}-{parameter}-{rendering}",
    )
    for task, parameter, renderings in [
        ("operator", "workflow_name", ["empty", "None", "None_as_text"]),
        ("operator", "job_type", ["empty", "None_as_text"]),
        ("operator", "output_source_config", ["empty", "None_as_text"]),
        ("sensor", "workflow_name", ["empty", "None", "None_as_text"]),
        ("sensor", "job_id", ["empty", "None", "None_as_text"]),
    ]
    for rendering in renderings
]


def templated_dag(task: str, parameter: str, rendering: str, on_failure: Callable[[Any], None]) -> DAG:
    template, native, _ = TEMPLATES[rendering]
    with DAG(
        f"bad_template_{task}_{parameter}_{rendering}",
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        render_template_as_native_obj=native,
    ) as dag:
        common = {"task_id": "task", "retries": 0, "on_failure_callback": on_failure}
        if task == "operator":
            arguments: dict[str, Any] = {"workflow_name": WORKFLOW, "job_type": "BATCH"}
            EntityResolutionStartIdMappingJobOperator(**{**arguments, parameter: template}, **common)
        else:
            arguments = {"workflow_name": WORKFLOW, "job_id": "0" * 32}
            EntityResolutionIdMappingJobCompletedSensor(
                **{**arguments, parameter: template}, mode="poke", poke_interval=0.1, timeout=5, **common
            )
    return dag


@pytest.mark.usefixtures("botocore_with_job_type")
@pytest.mark.parametrize(("task", "parameter", "rendering"), TEMPLATED_CASES)
def test_a_template_that_renders_empty_or_none_fails_naming_the_parameter(
    run_dag: Callable[..., Any],
    entity_resolution_emulator: EntityResolutionEmulator,
    failures: Any,
    task: str,
    parameter: str,
    rendering: str,
) -> None:
    """Through ``dag.test()``: the task fails naming the parameter and its rendered value, sending nothing."""
    dag_run = run_dag(templated_dag(task, parameter, rendering, failures))
    assert task_states(dag_run) == {"task": "failed"}
    error = failures.exceptions["task"]
    assert isinstance(error, InvalidParameterError), repr(error)
    rendered = TEMPLATES[rendering][2]
    assert (error.parameter, error.value) == (parameter, rendered)
    assert str(error).startswith(f"Invalid {parameter}={rendered!r}: expected ")
    assert entity_resolution_emulator.requests == []
