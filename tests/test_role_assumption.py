"""A role-assuming AWS connection works unchanged: STS from moto, Entity Resolution from the emulator."""

from __future__ import annotations

import pytest
from conftest import BASE_ACCESS_KEY, role_assuming_connection

from airflow_entityresolution.emulator import JobScript
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING
from airflow_entityresolution.triggers import EntityResolutionIdMappingJobCompletedTrigger


@pytest.fixture
def role_connection(entity_resolution_emulator, sts_endpoint, monkeypatch):
    entity_resolution_emulator.add_id_mapping_workflow(
        "wf", JobScript.succeeded({"inputRecords": 3}, running_seconds=0.3)
    )
    connection = role_assuming_connection(entity_resolution_emulator.endpoint_url, sts_endpoint)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection)
    return entity_resolution_emulator


def signed_with(emulator) -> set[str | None]:
    return {request.access_key_id for request in emulator.requests}


def test_the_hook_signs_with_the_assumed_role(role_connection):
    hook = EntityResolutionHook()
    job_id = hook.start_id_mapping_job("wf")
    state = hook.wait_for_job(ID_MAPPING, "wf", job_id, waiter_delay=0.1, waiter_max_attempts=50)
    assert state.succeeded
    keys = signed_with(role_connection)
    assert None not in keys
    assert BASE_ACCESS_KEY not in keys, "requests are signed with STS credentials, not the connection's own"


async def test_the_trigger_signs_with_the_assumed_role(role_connection):
    job_id = EntityResolutionHook().start_id_mapping_job("wf")
    trigger = EntityResolutionIdMappingJobCompletedTrigger(
        "wf", job_id, waiter_delay=0.1, waiter_max_attempts=50
    )
    [event] = [event.payload async for event in trigger.run()]
    assert event["outcome"] == "succeeded"
    assert BASE_ACCESS_KEY not in signed_with(role_connection)
    assert None not in signed_with(role_connection)
