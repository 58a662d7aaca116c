"""When to try a request again, and how long to wait first.

One small object owns the decision so the sender loop stays readable: capped exponential
backoff with jitter (so many clients recovering from the same outage do not retry in step),
``Retry-After`` treated as a floor with a ceiling, and a total time budget per batch.
"""

from __future__ import annotations

import random
import time
from typing import Optional

RETRY_AFTER_CEILING = 300.0


class RetryBudget:
    """The retry state of one request: attempts so far and the time it may still use."""

    __slots__ = ("total_seconds", "initial_delay", "max_delay", "attempts", "started")

    def __init__(
        self, total_seconds: float, initial_delay: float = 0.5, max_delay: float = 30.0
    ) -> None:
        self.total_seconds = total_seconds
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.attempts = 0
        self.started = time.monotonic()

    def next_delay(self, retry_after: Optional[float] = None) -> Optional[float]:
        """Seconds to wait before the next attempt, or ``None`` when the budget is spent."""
        self.attempts += 1
        ceiling = min(self.max_delay, self.initial_delay * 2.0 ** (self.attempts - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_CEILING))
        if time.monotonic() - self.started + delay > self.total_seconds:
            return None
        return delay
