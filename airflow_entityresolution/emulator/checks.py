"""Checks of a Create request's members, composed as the service model's shapes nest."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_entityresolution.validation import InvalidParameterError, check_pattern

# Checks a value found at a member path; returns it as stored, or raises InvalidParameterError.
Check = Callable[[Any, str], Any]

ANY_TEXT = re.compile(r".*", re.DOTALL)


def text(
    pattern: re.Pattern[str] = ANY_TEXT, expected: str = "a string", max_length: int | None = None
) -> Check:
    """Check a string that ``pattern`` matches in full, of at most ``max_length`` characters."""
    return lambda value, parameter: check_pattern(parameter, value, pattern, expected, max_length)


def empty_or(check: Check) -> Check:
    """Check a string that is empty, or that ``check`` accepts (the model's ``$|^...`` patterns)."""
    return lambda value, parameter: value if value == "" else check(value, parameter)


def choice(*values: str) -> Check:
    """Check one of an enum's ``values``."""

    def check(value: Any, parameter: str) -> str:
        if value not in values:
            raise InvalidParameterError(parameter, value, f"one of {', '.join(values)}")
        return str(value)

    return check


def flag(value: Any, parameter: str) -> bool:
    """Check a boolean."""
    if not isinstance(value, bool):
        raise InvalidParameterError(parameter, value, "true or false")
    return value


def document(value: Any, parameter: str) -> Any:
    """Check a free-form document member: any JSON value, stored as a copy."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(parameter, value, "a JSON value") from None
    return copy.deepcopy(value)


def items(member: Check, min_items: int = 0, max_items: int | None = None) -> Check:
    """Check a list of ``min_items`` to ``max_items`` values that ``member`` accepts."""
    expected = (
        f"a list of {min_items} to {max_items} items" if max_items else f"a list of {min_items} or more items"
    )

    def check(value: Any, parameter: str) -> list[Any]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise InvalidParameterError(parameter, value, expected)
        if len(value) < min_items or (max_items is not None and len(value) > max_items):
            raise InvalidParameterError(parameter, value, expected)
        return [member(item, f"{parameter}[{index}]") for index, item in enumerate(value)]

    return check


@dataclass(frozen=True)
class Structure:
    """
    Check an object with every ``required`` member, any ``optional`` ones, and no others.

    :param required: the check of each member the object must have.
    :param optional: the check of each member it may have.
    """

    required: Mapping[str, Check]
    optional: Mapping[str, Check] = field(default_factory=dict)

    @property
    def members(self) -> Mapping[str, Check]:
        return {**self.required, **self.optional}

    def __call__(self, value: Any, parameter: str) -> dict[str, Any]:
        members = self.members
        if not isinstance(value, Mapping):
            raise InvalidParameterError(parameter or "the request", value, "an object")
        for name, member in value.items():
            if name not in members:
                raise InvalidParameterError(
                    _member_path(parameter, name), member, f"one of the members {', '.join(sorted(members))}"
                )
        for name in self.required:
            if name not in value:
                raise InvalidParameterError(_member_path(parameter, name), None, "a value: it is required")
        return {name: members[name](item, _member_path(parameter, name)) for name, item in value.items()}


def tag_map(value: Any, parameter: str) -> dict[str, str]:
    """Check a TagMap: at most 200 tags, keys of 1 to 128 characters, values of at most 256."""
    expected = "a mapping of at most 200 tags, keys of 1 to 128 characters and values of at most 256"
    if not isinstance(value, Mapping) or len(value) > 200:
        raise InvalidParameterError(parameter, value, expected)
    for key, tag in value.items():
        if not (isinstance(key, str) and 1 <= len(key) <= 128 and isinstance(tag, str) and len(tag) <= 256):
            raise InvalidParameterError(f"{parameter}[{key!r}]", tag, expected)
    return dict(value)


def _member_path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name
