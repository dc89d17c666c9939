"""The rate limit: requests above it are answered ThrottlingException."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_clients import make_client
from resource_clients import code_of

from airflow_entityresolution.emulator import EntityResolutionEmulator


def test_rate_limit_throttles_a_burst(served: Callable[..., EntityResolutionEmulator]) -> None:
    emulator = served(rate_limit_per_second=5)
    emulator.add_matching_workflow("people")
    assert emulator.endpoint_url is not None
    client = make_client(emulator.endpoint_url)

    codes: list[str | None] = []
    for _ in range(12):
        try:
            client.list_matching_jobs(workflowName="people")
            codes.append(None)
        except ClientError as error:
            codes.append(error.response["Error"]["Code"])
    time.sleep(0.4)
    client.list_matching_jobs(workflowName="people")

    assert codes[:5] == [None] * 5
    assert codes.count("ThrottlingException") >= 6
    assert set(codes) == {None, "ThrottlingException"}
    assert emulator.requests[-1].status == 200


@pytest.mark.parametrize("entity_resolution_scenario", [{"rate_limit_per_second": 2}], ids=["two-per-second"])
def test_rate_limit_throttles_workflow_calls(client: Any) -> None:
    codes = []
    for _ in range(4):
        try:
            client.list_matching_workflows()
            codes.append(None)
        except ClientError as error:
            codes.append(code_of(error))

    assert codes[:2] == [None, None]
    assert "ThrottlingException" in codes[2:]
