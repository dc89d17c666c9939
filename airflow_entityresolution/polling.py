"""How a wait polls a job: the delays between its polls, and which of its observations it logs."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from airflow_entityresolution import validation
from airflow_entityresolution.errors import (
    EntityResolutionRequestError,
    EntityResolutionWaitTimeoutError,
    ErrorKind,
)

if TYPE_CHECKING:
    from airflow_entityresolution.jobs import JobState, TaskLog

UNCHANGED_STATUS_LOG_SECONDS = 600.0
"""How often a wait in the triggerer logs a status that has not changed since it last logged it."""


class StatusLog:
    """
    Log a job's state when its status changes, and an unchanged one at most every ``interval`` seconds.

    For waits in the triggerer: there, each log line a trigger writes wakes the triggerer's
    supervisor loop, which queries the metadata DB on every iteration, so a line per poll
    costs far more than the poll. The first status and every change (the final one included)
    are still logged, with their metrics.

    :param log: where to log.
    :param interval: seconds after which an unchanged status is logged again.
    """

    def __init__(self, log: TaskLog, interval: float = UNCHANGED_STATUS_LOG_SECONDS) -> None:
        self.log = log
        self.interval = interval
        self._last: tuple[str | None, float] | None = None

    def __call__(self, state: JobState) -> None:
        now = time.monotonic()
        if self._last is not None and self._last[0] == state.status and now - self._last[1] < self.interval:
            return
        state.log(self.log)
        self._last = (state.status, now)


class PollSchedule:
    """
    The delays between the polls of one wait, jittered so that many waits drift apart.

    The first poll happens at once. The delay before the second is drawn from the
    upper half of ``waiter_delay``, which spreads waits that started together (after
    a triggerer restart, say); every later delay is drawn from its top tenth, so a
    wait never polls later than configured.

    A poll that the service did not answer, because throttling or an outage outlasted
    botocore's retries, does not count as an attempt: see :meth:`missed`.

    :param waiter_delay: seconds between polls.
    :param waiter_max_attempts: the number of polls before the wait gives up.
    """

    def __init__(self, waiter_delay: float, waiter_max_attempts: int) -> None:
        validation.check_waiter_settings(waiter_delay, waiter_max_attempts)
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        # Missed polls are free, so only the clock bounds a wait that the service keeps refusing.
        self._deadline = time.monotonic() + waiter_delay * waiter_max_attempts

    def missed(self, error: EntityResolutionRequestError, log: TaskLog) -> float:
        """
        Return the delay before polling again after ``error``, or re-raise it.

        Transient errors are retried until the wait's nominal span
        (``waiter_delay * waiter_max_attempts``) has passed; anything else fails at once.
        """
        if error.kind is not ErrorKind.TRANSIENT or time.monotonic() > self._deadline:
            raise error
        delay = self.waiter_delay * random.uniform(0.9, 1.0)
        log.warning("%s. The poll is missed, not counted: polling again in %.1fs", error, delay)
        return delay

    def __iter__(self) -> Iterator[float]:
        yield 0.0
        for attempt in range(1, self.waiter_max_attempts):
            low = 0.5 if attempt == 1 else 0.9
            yield self.waiter_delay * random.uniform(low, 1.0)

    @classmethod
    def covering(cls, seconds: float, waiter_delay: float) -> PollSchedule:
        """The schedule whose polls span at least ``seconds``, however the jitter falls."""
        shortest_delay = max(waiter_delay, 0.1) * 0.9
        return cls(waiter_delay, 1 + math.ceil(seconds / shortest_delay))

    def timeout_error(self, last: JobState | None) -> EntityResolutionWaitTimeoutError:
        """Build the error for a wait whose attempts ran out, naming the last status seen."""
        seen = f"last status seen: {last.status}" if last else "no status was seen"
        subject = f"job {last.job_id} of workflow {last.workflow_name!r}" if last else "the job"
        return EntityResolutionWaitTimeoutError(
            f"Gave up waiting for {subject} after {self.waiter_max_attempts} polls "
            f"{self.waiter_delay:g}s apart; {seen}"
        )
