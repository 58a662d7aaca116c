"""Where batches go: the Initial State API over HTTP, or a CSV file in offline mode.

The sender thread hands each destination one bucket's events in logged order; a destination
returns whether they all arrived, and reports (once, clearly) anything it had to give up on.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import threading
import time
from typing import IO, Any, Callable, List, Optional, Protocol, Set, Tuple

from ._logging import mask_secret
from .retry import RetryBudget
from .transport import PERMANENT, HttpTransport, Outcome, Reply

log = logging.getLogger("isstreamer")

Event = Tuple[str, Any, float]
MAX_BODY_BYTES = 1_000_000
RATE_WAIT_CEILING = 60.0


class Bucket:
    """A bucket as the sender sees it: created yet, or refused for good."""

    __slots__ = ("key", "name", "created", "refused")

    def __init__(self, key: str, name: str) -> None:
        self.key = key
        self.name = name
        self.created = False
        self.refused: Optional[Outcome] = None


class Stats:
    """Counters the sender keeps; read through ``Streamer.stats()``."""

    __slots__ = ("sent", "failed", "rejected", "dropped", "retries", "requests")

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0
        self.rejected = 0
        self.dropped = 0
        self.retries = 0
        self.requests = 0


class Destination(Protocol):
    def send(self, bucket: Bucket, events: List[Event]) -> bool: ...

    def close(self) -> None: ...


def encode_events(events: List[Event]) -> bytes:
    """The API's JSON array of ``{"key", "value", "epoch"}`` objects."""
    return json.dumps(
        [{"key": k, "value": v, "epoch": e} for k, v, e in events], separators=(",", ":")
    ).encode("ascii")


class HttpDestination:
    """Delivers to the API: bucket first, 1 MB bodies, retries, pacing, clear give-ups."""

    def __init__(
        self,
        transport: HttpTransport,
        access_key: str,
        retry_time: float,
        retry_backoff: float,
        stats: Stats,
        sleep: Callable[[float], bool],
    ) -> None:
        self._transport = transport
        self._masked_key = mask_secret(access_key)
        self._retry_time = retry_time
        self._retry_backoff = retry_backoff
        self._stats = stats
        self._sleep = sleep  # returns False when the wait was cut short by close()
        self._explained: Set[Outcome] = set()

    def send(self, bucket: Bucket, events: List[Event]) -> bool:
        if not self.open_bucket(bucket):
            self._give_up(bucket, len(events), bucket.refused, "the bucket could not be created")
            return False
        pieces = [events]
        delivered_all = True
        while pieces:
            piece = pieces.pop(0)
            body = encode_events(piece)
            if len(body) > MAX_BODY_BYTES and len(piece) > 1:
                half = len(piece) // 2
                pieces[0:0] = [piece[:half], piece[half:]]
                continue
            reply = self._post(lambda: self._transport.send_events(bucket.key, body))
            if reply.outcome is Outcome.OK:
                self._stats.sent += len(piece)
                log.debug("sent %d events to bucket %r", len(piece), bucket.key)
            elif reply.outcome is Outcome.SPLIT and len(piece) > 1:
                half = len(piece) // 2
                pieces[0:0] = [piece[:half], piece[half:]]
            else:
                if reply.outcome in (Outcome.UNAUTHORIZED, Outcome.QUOTA, Outcome.BUCKET_REMOVED):
                    bucket.refused = reply.outcome
                self._give_up(bucket, len(piece), reply.outcome, reply.detail, reply.status)
                delivered_all = False
        return delivered_all

    def close(self) -> None:
        self._transport.close()

    def reset_after_fork(self) -> None:
        self._transport.forget_connections()

    def open_bucket(self, bucket: Bucket) -> bool:
        """Create the bucket (once) before its first events; False if that cannot be done."""
        if bucket.created:
            return True
        if bucket.refused is not None:
            return False
        reply = self._post(lambda: self._transport.create_bucket(bucket.key, bucket.name))
        if reply.outcome is Outcome.OK:
            bucket.created = True
            log.info("bucket %r (%r) is ready (HTTP %s)", bucket.name, bucket.key, reply.status)
            return True
        if reply.outcome in PERMANENT:
            bucket.refused = reply.outcome
            self._explain(bucket, reply.outcome, reply.detail, reply.status)
        return False

    def _post(self, attempt: Callable[[], Reply]) -> Reply:
        """One request with retries of what can succeed later, within the time budget."""
        budget = RetryBudget(self._retry_time, initial_delay=self._retry_backoff)
        while True:
            self._stats.requests += 1
            reply = attempt()
            self._pace(reply)
            if reply.outcome is not Outcome.RETRY:
                return reply
            delay = budget.next_delay(reply.retry_after)
            what = f"HTTP {reply.status}" if reply.status else reply.detail
            if delay is None:
                return reply
            log.info("request failed (%s); retry %d in %.1f s", what, budget.attempts, delay)
            self._stats.retries += 1
            if not self._sleep(delay):
                return reply

    def _pace(self, reply: Reply) -> None:
        """Stay under the plan's rate limit instead of waiting to be told with a 429."""
        if reply.rate_remaining == 0 and reply.rate_reset and reply.outcome is Outcome.OK:
            wait = min(reply.rate_reset - time.time(), RATE_WAIT_CEILING)
            if wait > 0:
                log.debug("rate limit reached; pausing %.1f s", wait)
                self._sleep(wait)

    def _explain(self, bucket: Bucket, outcome: Outcome, detail: str, status: Optional[int]) -> None:
        """Say once, at ERROR, what a permanent refusal means and what to do about it."""
        if outcome in self._explained:
            return
        self._explained.add(outcome)
        if outcome is Outcome.UNAUTHORIZED:
            message = (
                f"the API refused access key {self._masked_key} (HTTP {status}). Check the key "
                "in your Initial State account settings and pass it as Streamer(access_key=...), "
                "$ISS_ACCESS_KEY or access_key in isstreamer.ini."
            )
        elif outcome is Outcome.QUOTA:
            message = (
                "the account's monthly event limit is used up (HTTP 402): the API accepts no "
                "more events until the next billing cycle or a plan upgrade."
            )
        elif outcome is Outcome.BUCKET_REMOVED:
            message = (
                f"bucket key {bucket.key!r} belongs to a deleted bucket and can never receive "
                "data again: choose a new bucket_key."
            )
        else:
            message = f"the API rejected the request (HTTP {status}): {detail}"
        log.error("isstreamer: %s", message)

    def _give_up(
        self,
        bucket: Bucket,
        count: int,
        outcome: Optional[Outcome],
        detail: str,
        status: Optional[int] = None,
    ) -> None:
        self._stats.failed += count
        if outcome is not None and outcome in PERMANENT:
            self._explain(bucket, outcome, detail, status)
        reason = f"HTTP {status}" if status else (detail or "no answer")
        log.error(
            "isstreamer: %d events for bucket %r were not delivered (%s); %d so far",
            count, bucket.key, reason, self._stats.failed,
        )


class CsvDestination:
    """Offline mode: append ``epoch,key,value`` rows to a CSV file, opened on first use."""

    def __init__(self, path: str, stats: Stats) -> None:
        self.path = path
        self._stats = stats
        self._file: Optional[IO[str]] = None
        self._writer: Any = None
        self._lock = threading.Lock()

    def send(self, bucket: Bucket, events: List[Event]) -> bool:
        with self._lock:
            if self._file is None:
                directory = os.path.dirname(os.path.abspath(self.path))
                os.makedirs(directory, exist_ok=True)
                self._file = open(self.path, "a", newline="", encoding="utf-8")
                self._writer = csv.writer(self._file)
                log.info("offline mode: appending events to %s", self.path)
            self._writer.writerows([(e, k, v) for k, v, e in events])
            self._file.flush()
        self._stats.sent += len(events)
        return True

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
