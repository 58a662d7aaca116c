"""Per-account request counting in 10-second windows, as the real service measures its limits.

Without ``--rate-limit`` nothing is refused, but the ``X-RateLimit-*`` headers still go out (with
a generous limit) so clients that read them see the real shape.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

WINDOW_SECONDS = 10
UNLIMITED_REPORTED = 1_000_000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # Unix seconds when the current window ends
    retry_after: int  # seconds; meaningful only when not allowed

    def headers(self) -> Dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


class RateLimiter:
    """Fixed 10 s windows aligned to the clock; one counter per account."""

    def __init__(self, limit: Optional[int], clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: Dict[str, Tuple[int, int]] = {}  # account -> (window start, count)

    def take(self, account: str) -> Verdict:
        """Count one request for ``account`` and say whether it may proceed."""
        now = self._clock()
        start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        reset = start + WINDOW_SECONDS
        limit = self.limit if self.limit is not None else UNLIMITED_REPORTED
        with self._lock:
            window, count = self._windows.get(account, (start, 0))
            if window != start:
                count = 0
                if len(self._windows) > 10_000:  # forget idle accounts; bounded memory
                    self._windows.clear()
            if self.limit is not None and count >= limit:
                self._windows[account] = (start, count)
                return Verdict(False, limit, 0, reset, max(1, math.ceil(reset - now)))
            count += 1
            self._windows[account] = (start, count)
        return Verdict(True, limit, max(0, limit - count), reset, 0)
