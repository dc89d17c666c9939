"""EntityResolutionHook through the stock boto3 and aiobotocore clients, over real HTTP to the emulator."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import FAILURE_MESSAGE

from airflow_entityresolution.clients import shared_async_clients
from airflow_entityresolution.emulator import Fault, JobScript
from airflow_entityresolution.errors import (
    EntityResolutionRequestError,
    EntityResolutionWaitTimeoutError,
    ErrorCategory,
)
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING, MATCHING
from airflow_entityresolution.validation import InvalidParameterError

WORKFLOW = "customer-id-mapping"
ROLE = "arn:aws:iam::123456789012:role/EntityResolutionJobRole"
FAST_RETRIES = {"retries": {"mode": "standard", "max_attempts": 3}}


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(
        WORKFLOW, JobScript.succeeded({"inputRecords": 10, "totalMappedRecords": 9}, running_seconds=1.5)
    )
    entity_resolution_emulator.add_id_mapping_workflow(
        "failing", JobScript.failed(FAILURE_MESSAGE, running_seconds=0.2)
    )
    return entity_resolution_emulator


@pytest.fixture
def hook(emulator):
    return EntityResolutionHook(aws_conn_id="aws_default", config=FAST_RETRIES)


def test_the_connection_extra_points_the_client_at_the_emulator(hook, emulator):
    assert hook.conn.meta.endpoint_url == emulator.endpoint_url
    assert hook.conn.meta.region_name == "us-east-1"


@pytest.mark.usefixtures("botocore_with_job_type")
def test_start_then_get_returns_plain_json_without_response_metadata(hook, emulator):
    job_id = hook.start_id_mapping_job(
        WORKFLOW,
        job_type="BATCH",
        output_source_config=[{"outputS3Path": "s3://bucket-out/x/", "roleArn": ROLE}],
    )
    job = hook.get_id_mapping_job(WORKFLOW, job_id)
    assert job["jobId"] == job_id
    assert job["status"] in {"QUEUED", "RUNNING"}
    assert job["jobType"] == "BATCH"
    assert job["outputSourceConfig"] == [{"outputS3Path": "s3://bucket-out/x/", "roleArn": ROLE}]
    assert "ResponseMetadata" not in job
    assert isinstance(job["startTime"], str) and "T" in job["startTime"]
    json.dumps(job)
    assert emulator.count("StartIdMappingJob") == 1


def test_a_workflow_arn_works_like_its_name(hook, emulator):
    arn = f"arn:aws:entityresolution:us-east-1:{emulator.account_id}:idmappingworkflow/{WORKFLOW}"
    job_id = hook.start_id_mapping_job(arn)
    assert hook.get_id_mapping_job(arn, job_id)["jobId"] == job_id


def test_wait_for_job_returns_the_final_state_and_logs_each_poll(hook, capfd):
    job_id = hook.start_id_mapping_job(WORKFLOW)
    state = hook.wait_for_job(ID_MAPPING, WORKFLOW, job_id, waiter_delay=0.1, waiter_max_attempts=50)
    assert state.succeeded
    assert state.metrics == {"inputRecords": 10, "totalMappedRecords": 9}
    assert state.description["endTime"]
    log = capfd.readouterr().out
    polls = [
        line for line in log.splitlines() if f"job {job_id} of workflow 'customer-id-mapping' is" in line
    ]
    assert len(polls) >= 2
    assert "is SUCCEEDED" in polls[-1]
    assert "metrics: {'inputRecords': 10, 'totalMappedRecords': 9}" in log


def test_wait_for_job_gives_up_after_max_attempts_naming_the_last_status(hook, emulator):
    emulator.add_id_mapping_workflow("forever", JobScript.never_finishing())
    job_id = hook.start_id_mapping_job("forever")
    with pytest.raises(
        EntityResolutionWaitTimeoutError, match=r"after 3 polls 0\.05s apart; last status seen: RUNNING"
    ):
        hook.wait_for_job(ID_MAPPING, "forever", job_id, waiter_delay=0.05, waiter_max_attempts=3)
    assert emulator.count("GetIdMappingJob") == 3


def test_list_id_mapping_jobs(hook, emulator):
    emulator.concurrency = "unlimited"
    started = {hook.start_id_mapping_job(WORKFLOW) for _ in range(3)}
    assert {job["jobId"] for job in hook.list_id_mapping_jobs(WORKFLOW)} == started


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda h: h.get_id_mapping_job("bad name", "0" * 32), "workflow_name"),
        (lambda h: h.get_id_mapping_job(WORKFLOW, "not-a-job-id"), "job_id"),
        (lambda h: h.start_id_mapping_job(WORKFLOW, job_type="FULL"), "job_type"),
        (
            lambda h: h.start_id_mapping_job(WORKFLOW, output_source_config=[{}]),
            "output_source_config[0].outputS3Path",
        ),
        (lambda h: h.list_id_mapping_jobs(""), "workflow_name"),
    ],
)
def test_bad_input_fails_before_any_request(hook, emulator, call, parameter):
    with pytest.raises(InvalidParameterError) as info:
        call(hook)
    assert info.value.parameter == parameter
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.access_denied(), "AccessDeniedException"),
        (Fault.not_found(), "ResourceNotFoundException"),
        (Fault(type="not_found", message="Job abc not found"), "ResourceNotFoundException"),
    ],
)
def test_permanent_errors_fail_at_once_with_the_service_message(hook, emulator, fault, code):
    job_id = hook.start_id_mapping_job(WORKFLOW)
    emulator.inject(fault)
    with pytest.raises(EntityResolutionRequestError) as info:
        hook.get_id_mapping_job(WORKFLOW, job_id)
    assert info.value.code == code
    assert info.value.category is ErrorCategory.PERMANENT
    recorded = emulator.requests[-1]
    assert recorded.error_code == code
    assert f"{code}: " in str(info.value)
    assert job_id in str(info.value)
    assert emulator.count("GetIdMappingJob") == 1, "a permanent error is not retried"


def test_an_unknown_workflow_surfaces_the_service_message(hook, emulator):
    with pytest.raises(EntityResolutionRequestError) as info:
        hook.get_id_mapping_job("unknown-workflow", "0" * 32)
    assert info.value.code == "ResourceNotFoundException"
    assert "unknown-workflow" in info.value.service_message


def test_a_validation_exception_from_the_service_fails_at_once_with_its_message(hook, emulator):
    job_id = hook.start_id_mapping_job(WORKFLOW)
    emulator.inject(
        Fault.validation_error(operation="GetIdMappingJob", message="Value at 'jobId' is not valid")
    )
    with pytest.raises(EntityResolutionRequestError) as info:
        hook.get_id_mapping_job(WORKFLOW, job_id)
    assert (info.value.code, info.value.category) == ("ValidationException", ErrorCategory.PERMANENT)
    assert "ValidationException: Value at 'jobId' is not valid" in str(info.value)
    assert emulator.count("GetIdMappingJob") == 1


def test_missing_credentials_are_a_configuration_error_not_an_outage(emulator, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {"conn_type": "aws", "extra": {"region_name": "us-east-1", "endpoint_url": emulator.endpoint_url}}
        ),
    )
    with pytest.raises(EntityResolutionRequestError) as info:
        EntityResolutionHook().get_id_mapping_job(WORKFLOW, "0" * 32)
    assert (info.value.code, info.value.category) == ("NoCredentialsError", ErrorCategory.PERMANENT)
    assert "max_attempts" not in str(info.value), "no advice meant for outages"
    assert emulator.requests == []


@pytest.mark.parametrize("fault", [Fault.throttle, Fault.server_error])
def test_transient_errors_within_the_retry_budget_are_retried_by_botocore(hook, emulator, fault):
    job_id = hook.start_id_mapping_job(WORKFLOW)
    emulator.inject(fault(count=2, operation="GetIdMappingJob"))
    assert hook.get_id_mapping_job(WORKFLOW, job_id)["jobId"] == job_id
    assert emulator.count("GetIdMappingJob") == 3


@pytest.mark.parametrize(
    ("fault", "code"),
    [(Fault.throttle, "ThrottlingException"), (Fault.server_error, "InternalServerException")],
)
def test_transient_errors_past_the_retry_budget_fail_with_a_clear_message(hook, emulator, fault, code):
    job_id = hook.start_id_mapping_job(WORKFLOW)
    emulator.inject(fault(count=None, operation="GetIdMappingJob"))
    with pytest.raises(EntityResolutionRequestError) as info:
        hook.get_id_mapping_job(WORKFLOW, job_id)
    assert info.value.category is ErrorCategory.TRANSIENT
    assert f"{code}: " in str(info.value)
    # botocore's max_attempts counts retries: 3 of them after the first try.
    assert "still failing after 4 attempts" in str(info.value)
    assert emulator.count("GetIdMappingJob") == 4


def test_default_retries_apply_unless_the_user_sets_them(emulator):
    assert EntityResolutionHook().config.retries == {"mode": "adaptive", "max_attempts": 10}
    assert EntityResolutionHook(
        config={"retries": {"max_attempts": 2, "mode": "adaptive"}}
    ).config.retries == {
        "max_attempts": 2,
        "mode": "adaptive",
    }
    assert EntityResolutionHook(config={"read_timeout": 5}).config.read_timeout == 5


async def test_async_waits_share_one_client_and_close_it_after_the_last(hook, emulator):
    emulator.concurrency = "unlimited"
    job_ids = [hook.start_id_mapping_job(WORKFLOW) for _ in range(5)]
    clients = set()

    async def wait(job_id):
        async with hook.shared_async_client() as client:
            clients.add(id(client))
            assert len(shared_async_clients) == 1
            return await hook.async_wait_for_job(
                ID_MAPPING, WORKFLOW, job_id, waiter_delay=0.1, waiter_max_attempts=50
            )

    states = await asyncio.gather(*(wait(job_id) for job_id in job_ids))
    assert [s.status for s in states] == ["SUCCEEDED"] * 5
    assert len(clients) == 1
    assert len(shared_async_clients) == 0


async def test_async_errors_are_classified_like_sync_ones(hook, emulator):
    job_id = hook.start_id_mapping_job("failing")
    emulator.inject(Fault.access_denied(operation="GetIdMappingJob"))
    with pytest.raises(EntityResolutionRequestError) as info:
        await hook.async_wait_for_job(ID_MAPPING, "failing", job_id, waiter_delay=0.1, waiter_max_attempts=5)
    assert info.value.code == "AccessDeniedException"
    state = await hook.async_wait_for_job(
        ID_MAPPING, "failing", job_id, waiter_delay=0.1, waiter_max_attempts=50
    )
    assert state.failed and state.error_message == FAILURE_MESSAGE


@pytest.fixture
def botocore_without_job_type(edited_botocore_model):
    """A botocore model as releases before 1.40.37 ship it, with no jobType on StartIdMappingJob."""

    def drop_job_type(model):
        model["shapes"]["StartIdMappingJobInput"]["members"].pop("jobType", None)

    edited_botocore_model(drop_job_type)


def test_job_type_on_a_botocore_without_it_fails_before_any_request_naming_the_version(
    emulator, botocore_without_job_type
):
    import botocore

    hook = EntityResolutionHook(aws_conn_id="aws_default", config=FAST_RETRIES)
    expected = r"Invalid job_type='BATCH'.*botocore 1\.40\.37"
    with pytest.raises(InvalidParameterError, match=expected) as raised:
        hook.start_id_mapping_job(WORKFLOW, job_type="BATCH")
    assert f"botocore {botocore.__version__}" in str(raised.value)
    assert emulator.requests == []
    # Without job_type the same botocore starts the job as ever.
    assert hook.start_id_mapping_job(WORKFLOW)
    assert emulator.count("StartIdMappingJob") == 1


GLUE_TABLE = "arn:aws:glue:us-east-1:123456789012:table/crm/customers"


def test_get_workflow_returns_the_workflows_definition_as_plain_json(hook, emulator):
    emulator.add_matching_workflow(
        "customer-matching",
        definition={
            "inputSourceConfig": [{"inputSourceARN": GLUE_TABLE, "schemaName": "customers"}],
            "outputSourceConfig": [{"outputS3Path": "s3://matches/out/", "output": [{"name": "email"}]}],
            "resolutionTechniques": {"resolutionType": "ML_MATCHING"},
            "roleArn": ROLE,
        },
    )
    workflow = hook.get_workflow(MATCHING, "customer-matching")
    assert workflow["workflowName"] == "customer-matching"
    assert workflow["inputSourceConfig"] == [{"inputSourceARN": GLUE_TABLE, "schemaName": "customers"}]
    assert workflow["outputSourceConfig"][0]["outputS3Path"] == "s3://matches/out/"
    assert workflow["roleArn"] == ROLE
    assert "ResponseMetadata" not in workflow
    json.dumps(workflow)  # timestamps are ISO-8601 strings, ready for XCom
    assert emulator.count("GetMatchingWorkflow") == 1


def test_get_workflow_takes_an_id_mapping_workflows_arn_by_its_name(hook, emulator):
    arn = f"arn:aws:entityresolution:us-east-1:123456789012:idmappingworkflow/{WORKFLOW}"
    assert hook.get_workflow(ID_MAPPING, arn)["workflowArn"] == arn
    [request] = [r for r in emulator.requests if r.operation == "GetIdMappingWorkflow"]
    assert request.path == f"/idmappingworkflows/{WORKFLOW}"


def test_a_missing_workflow_names_the_call_and_the_services_error(hook, emulator):
    with pytest.raises(EntityResolutionRequestError) as info:
        hook.get_workflow(MATCHING, "no-such-workflow")
    assert str(info.value).startswith(
        "GetMatchingWorkflow failed for workflow 'no-such-workflow': ResourceNotFoundException"
    )
    assert info.value.category is ErrorCategory.PERMANENT


def test_get_id_namespace_returns_its_type_and_sources(hook, emulator):
    emulator.add_id_namespace(
        "crm-customers",
        definition={"type": "SOURCE", "inputSourceConfig": [{"inputSourceARN": GLUE_TABLE}], "roleArn": ROLE},
    )
    namespace = hook.get_id_namespace("crm-customers")
    assert (namespace["type"], namespace["inputSourceConfig"]) == ("SOURCE", [{"inputSourceARN": GLUE_TABLE}])
    with pytest.raises(EntityResolutionRequestError) as info:
        hook.get_id_namespace("no-such-namespace")
    assert str(info.value).startswith(
        "GetIdNamespace failed for ID namespace 'no-such-namespace': ResourceNotFoundException"
    )


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda hook: hook.get_workflow(MATCHING, "bad name!"), "workflow_name"),
        (lambda hook: hook.get_workflow(MATCHING, "None/../x"), "workflow_name"),
        (lambda hook: hook.get_id_namespace("bad name!"), "name"),
    ],
)
def test_workflow_and_namespace_names_are_checked_before_any_request(hook, emulator, call, parameter):
    with pytest.raises(InvalidParameterError) as info:
        call(hook)
    assert info.value.parameter == parameter
    assert emulator.requests == []
