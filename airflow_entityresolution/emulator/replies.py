"""
What the emulator answers: a :class:`Reply` for the server to write, the :class:`ServiceError` that
becomes one, and the request-reading and paging helpers every operation shares.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_entityresolution.errors import SERVICE_ERRORS
from airflow_entityresolution.validation import InvalidParameterError

MAX_PAGE_SIZE = 25

Listed = TypeVar("Listed")

# The service model's errors, plus what AWS front ends answer for a path no operation owns.
ERROR_STATUS: Mapping[str, int] = {
    **{code: error.http_status for code, error in SERVICE_ERRORS.items()},
    "UnknownOperationException": 404,
}


@dataclass(frozen=True)
class Reply:
    """
    The answer to an :class:`~airflow_entityresolution.emulator.wire.ApiCall`, for the server to write.

    :param status: the HTTP status; ``None`` means close the connection without an answer.
    :param payload: the JSON body.
    :param error_code: the exception name for ``x-amzn-ErrorType``; ``None`` on success.
    :param delay_seconds: how long to wait before answering.
    :param truncate_body: send only the first half of the JSON body.
    """

    status: int | None
    payload: Mapping[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    delay_seconds: float = 0.0
    truncate_body: bool = False


class ServiceError(Exception):
    """
    An error the API answers, as its exception name, message and extra body members.

    :param code: the exception name, e.g. ``"ValidationException"``.
    :param message: the ``message`` of the body.
    :param members: further body members, e.g. ``quotaName``.
    """

    def __init__(self, code: str, message: str, **members: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = members

    def reply(self) -> Reply:
        """The error as an answer."""
        return Reply(ERROR_STATUS[self.code], {"message": self.message, **self.members}, self.code)


def checked(check: Callable[[Any, str], Any], value: Any, parameter: str) -> Any:
    """Run a check of request input, answering ValidationException for what it refuses."""
    try:
        return check(value, parameter)
    except InvalidParameterError as error:
        raise ServiceError("ValidationException", str(error)) from error


def json_body(raw: bytes) -> Any:
    """Parse a request body; an empty one is an empty object."""
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError as error:
        raise ServiceError("ValidationException", f"The request body is not JSON: {error}.") from error


def page_size(raw: str | None) -> int:
    """Read a List call's ``maxResults``: 1 to :data:`MAX_PAGE_SIZE`, that many by default."""
    if raw is None:
        return MAX_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        expected = f"expected an integer from 1 to {MAX_PAGE_SIZE}"
        raise ServiceError("ValidationException", f"Invalid maxResults={raw!r}: {expected}.")
    return size


def page(
    items: Sequence[Listed], next_token: str | None, size: int, token_of: Callable[[Listed], str]
) -> tuple[Sequence[Listed], str | None]:
    """The page of ``items`` that starts at the one ``next_token`` names, and the next page's token."""
    offset = 0
    if next_token is not None:
        offset = next((index for index, item in enumerate(items) if token_of(item) == next_token), -1)
        if offset < 0:
            raise ServiceError("ValidationException", f"Invalid nextToken={next_token!r}.")
    end = offset + size
    return items[offset:end], token_of(items[end]) if end < len(items) else None
