"""
Check raw rest-json response bodies against botocore's service model.

botocore's parser is lenient: it drops unknown keys and accepts any status
string, so a client call that "works" proves little about the bytes a server
sent. These helpers capture the bytes of every response a client receives,
retries included, and walk them against the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient
from botocore.model import OperationModel, Shape

# Epoch seconds between 2000 and 2100: milliseconds or ISO strings fall outside.
EPOCH_SECONDS_RANGE = (946_684_800, 4_102_444_800)


@dataclass(frozen=True)
class RawResponse:
    """The bytes of one HTTP response a client received, before parsing."""

    operation: OperationModel
    status: int
    headers: Mapping[str, str]
    body: bytes


def record_raw_responses(client: BaseClient) -> list[RawResponse]:
    """Capture every response ``client`` receives from now on; return the list that fills up."""
    recorded: list[RawResponse] = []
    service_model = client.meta.service_model

    def record(response_dict: Mapping[str, Any] | None, **_: Any) -> None:
        if response_dict is not None:
            recorded.append(
                RawResponse(
                    operation=service_model.operation_model(response_dict["context"]["operation_name"]),
                    status=response_dict["status_code"],
                    headers=dict(response_dict["headers"]),
                    body=response_dict["body"],
                )
            )

    client.meta.events.register(f"response-received.{service_model.service_id.hyphenize()}", record)
    return recorded


def error_code_of(response: RawResponse) -> str | None:
    """The exception a rest-json error response names, ``None`` for a success."""
    error_type = response.headers.get("x-amzn-ErrorType")
    return error_type.split(":")[0] if error_type else None


def assert_response_matches_model(response: RawResponse) -> None:
    """Assert the status, error type and body of ``response`` are what its operation's model allows."""
    document = json.loads(response.body)
    error_code = error_code_of(response)
    if error_code is None:
        assert response.status == response.operation.http.get("responseCode", 200), response
        shape = response.operation.output_shape
    else:
        allowed = {error_shape.name: error_shape for error_shape in response.operation.error_shapes}
        assert error_code in allowed, f"{response.operation.name} cannot answer {error_code}"
        shape = allowed[error_code]
        assert response.status == shape.metadata["error"]["httpStatusCode"], response
    assert_matches_shape(document, shape, f"{response.operation.name}:$")


def assert_matches_shape(value: Any, shape: Shape, path: str = "$") -> None:
    """Assert a JSON value is a valid serialization of ``shape``; ``path`` names it in failures."""
    check = SHAPE_CHECKS.get(shape.type_name)
    assert check is not None, f"{path}: no check for shape type {shape.type_name}"
    check(value, shape, path)


def _check_structure(value: Any, shape: Shape, path: str) -> None:
    if shape.metadata.get("document"):
        # A document member (e.g. providerConfiguration) is free-form JSON: any value serializes.
        json.dumps(value)
        return
    assert isinstance(value, dict), f"{path}: expected an object, got {value!r}"
    body_members = {
        member.serialization.get("name", name): (name, member)
        for name, member in shape.members.items()
        if "location" not in member.serialization
    }
    unknown = set(value) - set(body_members)
    assert not unknown, f"{path}: {sorted(unknown)} are not members of {shape.name}"
    for wire_name, (name, member) in body_members.items():
        if name in shape.required_members:
            assert wire_name in value, f"{path}: required member {wire_name} is missing"
        if wire_name in value:
            assert_matches_shape(value[wire_name], member, f"{path}.{wire_name}")


def _check_list(value: Any, shape: Shape, path: str) -> None:
    assert isinstance(value, list), f"{path}: expected a list, got {value!r}"
    _check_bounds(len(value), shape, f"{path} length")
    for index, item in enumerate(value):
        assert_matches_shape(item, shape.member, f"{path}[{index}]")


def _check_map(value: Any, shape: Shape, path: str) -> None:
    assert isinstance(value, dict), f"{path}: expected an object, got {value!r}"
    for key, item in value.items():
        assert_matches_shape(key, shape.key, f"{path} key {key!r}")
        assert_matches_shape(item, shape.value, f"{path}[{key!r}]")


def _check_string(value: Any, shape: Shape, path: str) -> None:
    assert isinstance(value, str), f"{path}: expected a string, got {value!r}"
    if shape.enum:
        assert value in shape.enum, f"{path}: {value!r} is not one of {shape.enum}"
    _check_bounds(len(value), shape, f"{path} length")
    pattern = shape.metadata.get("pattern")
    if pattern is not None:
        assert re.fullmatch(pattern, value), f"{path}: {value!r} does not match {pattern}"


def _check_integer(value: Any, shape: Shape, path: str) -> None:
    assert isinstance(value, int) and not isinstance(value, bool), (
        f"{path}: expected an integer, got {value!r}"
    )
    _check_bounds(value, shape, path)


def _check_number(value: Any, shape: Shape, path: str) -> None:
    assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: expected a number"


def _check_boolean(value: Any, shape: Shape, path: str) -> None:
    assert isinstance(value, bool), f"{path}: expected a boolean, got {value!r}"


def _check_timestamp(value: Any, shape: Shape, path: str) -> None:
    assert isinstance(value, int | float) and not isinstance(value, bool), (
        f"{path}: a rest-json timestamp is a number of epoch seconds, got {value!r}"
    )
    low, high = EPOCH_SECONDS_RANGE
    assert low <= value <= high, f"{path}: {value!r} is not a plausible number of epoch seconds"


def _check_blob(value: Any, shape: Shape, path: str) -> None:
    assert isinstance(value, str), f"{path}: a blob travels as a base64 string, got {value!r}"


def _check_bounds(size: int, shape: Shape, path: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    assert low is None or size >= low, f"{path}: {size} is below the minimum {low}"
    assert high is None or size <= high, f"{path}: {size} is above the maximum {high}"


SHAPE_CHECKS: Mapping[str, Callable[[Any, Shape, str], None]] = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_number,
    "double": _check_number,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
    "blob": _check_blob,
}
