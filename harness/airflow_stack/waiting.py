"""
Bounded waits: every wait on the stack ends, with a message that says what did not happen and where to look.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class StackError(RuntimeError):
    """
    Something the stack was asked to do did not happen in time; the message says what and where to look.

    Not an ``AssertionError``: a test that expects an assertion to fail must not pass on a stuck stack.
    """


def free_port(host: str = "127.0.0.1") -> int:
    """
    Return a TCP port that nothing listens on right now.

    :param host: the address to probe on.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    interval: float = 0.5,
    hint: str | Callable[[], str] = "",
) -> T:
    """
    Call ``probe`` until it returns a true value (a non-empty list, a row, ``True``), and return that.

    :param what: what is awaited, for the error message.
    :param probe: the check; exceptions it raises propagate.
    :param timeout: seconds before giving up with :class:`StackError`.
    :param interval: seconds between calls.
    :param hint: appended to the error message, e.g. a log to read; a callable is called at the timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = hint() if callable(hint) else hint
            raise StackError(f"Timed out after {timeout:g}s waiting for {what}. {detail}".rstrip())
        time.sleep(interval)
