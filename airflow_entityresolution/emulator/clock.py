"""
The emulator's clock: the system's, or a manual one that a test moves by hand.

Everything in the emulator that depends on time reads it from one clock: how far each job has
come, when a workflow starts a job by itself, the rate limit, and every timestamp it answers.
Pass a :class:`~airflow_entityresolution.emulator.ManualClock` to the emulator to make all of
that happen exactly when the test says, without waiting.
"""

from __future__ import annotations

import abc
import threading
import time


class Clock(abc.ABC):
    """What the emulator reads the time from: a clock that never goes back, and its moments' epoch seconds."""

    @abc.abstractmethod
    def monotonic(self) -> float:
        """The time now, in seconds on a clock that never goes back."""

    @abc.abstractmethod
    def wall_time(self, monotonic_time: float) -> float:
        """The epoch seconds of a moment of :meth:`~airflow_entityresolution.emulator.Clock.monotonic`."""

    def epoch_seconds(self) -> float:
        """The time now, in epoch seconds."""
        return self.wall_time(self.monotonic())


class SystemClock(Clock):
    """The system's clocks: ``time.monotonic`` and ``time.time``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall_time(self, monotonic_time: float) -> float:
        return time.time() - (time.monotonic() - monotonic_time)


class ManualClock(Clock):
    """
    A clock that stands still until :meth:`advance` moves it.

    Its monotonic time starts at 0; its epoch seconds start at ``wall_start``. Safe to advance
    from a test's thread while the server reads it from another.

    :param wall_start: the epoch seconds it shows first; the system's time now by default.
    """

    def __init__(self, wall_start: float | None = None) -> None:
        self._wall_start = time.time() if wall_start is None else wall_start
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._elapsed

    def wall_time(self, monotonic_time: float) -> float:
        return self._wall_start + monotonic_time

    def advance(self, seconds: float) -> None:
        """
        Move the clock ``seconds`` forward.

        :param seconds: how far; not negative, since the clock never goes back.
        """
        if seconds < 0:
            raise ValueError(f"A clock never goes back: cannot advance it by {seconds} seconds.")
        with self._lock:
            self._elapsed += seconds
