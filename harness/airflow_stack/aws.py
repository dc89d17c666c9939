"""
The AWS side of a stack whose ``aws_default`` points at the emulator.
"""

from __future__ import annotations

from typing import Any

# Credentials for a stack whose ``aws_default`` points at the emulator, which checks none.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def fake_client_arguments(endpoint_url: str) -> dict[str, Any]:
    """
    What ``boto3.client`` takes to reach the emulator with :data:`FAKE_AWS`, as another system would.

    :param endpoint_url: the emulator's HTTP endpoint.
    """
    return {
        "endpoint_url": endpoint_url,
        "region_name": FAKE_AWS["AWS_DEFAULT_REGION"],
        "aws_access_key_id": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    }
