"""The rate limit: a token bucket per region, holding one second's worth of requests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """
    Admits ``rate`` requests a second on average, in bursts of up to ``capacity``.

    :param rate: the tokens it gains a second.
    :param capacity: the most tokens it holds.
    :param tokens: the tokens it holds now.
    :param updated: when ``tokens`` was last brought up to date, on the monotonic clock.
    """

    rate: float
    capacity: float
    tokens: float
    updated: float

    def admit(self, now: float) -> bool:
        """Take a token for one request, if there is one."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class RateLimit:
    """
    Admits requests up to a rate per account and region; it does not lock.

    :param per_second: the rate; ``None`` admits every request.
    """

    def __init__(self, per_second: float | None) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError("rate_limit_per_second must be positive or None.")
        self.per_second = per_second
        self._buckets: dict[str, TokenBucket] = {}

    def admits(self, region: str, now: float) -> bool:
        """Tell whether a request to ``region`` at ``now`` is within the rate, and count it if it is."""
        if self.per_second is None:
            return True
        rate = self.per_second
        # A bucket smaller than one token would never admit anything.
        capacity = max(rate, 1.0)
        bucket = self._buckets.setdefault(region, TokenBucket(rate, capacity, capacity, now))
        return bucket.admit(now)

    def clear(self) -> None:
        """Forget every region's bucket, so that each starts full."""
        self._buckets.clear()
