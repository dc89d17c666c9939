"""Stock boto3 clients of the emulator, and raw signed requests, shared by the emulator's tests."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from airflow_entityresolution.emulator import EntityResolutionEmulator, FaultKind

REGION = "us-east-1"
# The account an emulator belongs to unless it is told another.
ACCOUNT = "123456789012"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
SERVICE_MODEL = botocore.session.get_session().get_service_model("entityresolution")
# The fault kind that makes the emulator answer each of the model's errors, ValidationException aside.
ERROR_FAULT_KINDS = {
    "ThrottlingException": FaultKind.THROTTLE,
    "InternalServerException": FaultKind.SERVER_ERROR,
    "AccessDeniedException": FaultKind.ACCESS_DENIED,
    "ResourceNotFoundException": FaultKind.NOT_FOUND,
    "ConflictException": FaultKind.CONFLICT,
    "ExceedsLimitException": FaultKind.EXCEEDS_LIMIT,
}


def make_client(endpoint_url: str, region: str = REGION, config: Config = NO_RETRIES) -> Any:
    """A stock boto3 client for the emulator; by default it does not retry, so faults surface."""
    return boto3.client(
        "entityresolution",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=config,
    )


def client_of(emulator: EntityResolutionEmulator, config: Config = NO_RETRIES) -> Any:
    """A stock boto3 client of a served emulator."""
    assert emulator.endpoint_url is not None, "the emulator is not served"
    return make_client(emulator.endpoint_url, config=config)


def error_of(call: Callable[..., Any], **parameters: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call(**parameters)
    return caught.value


def signed_request(
    endpoint_url: str, method: str, path: str, body: bytes = b"", region: str = REGION
) -> tuple[int, dict[str, str], bytes]:
    """Send a request signed like boto3 signs, for inputs a stock client refuses to send."""
    request = AWSRequest(
        method=method, url=endpoint_url + path, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials("testing", "testing"), "entityresolution", region).add_auth(request)
    prepared = request.prepare()
    outgoing = urllib.request.Request(
        prepared.url, data=body or None, headers=dict(prepared.headers), method=method
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
