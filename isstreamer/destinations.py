"""Where batches go: the Initial State API over HTTP, or a CSV file in offline mode.

The sender thread hands each destination one bucket's events in logged order; a destination
returns whether they all arrived, and reports (once, clearly) anything it had to give up on.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import threading
import time
from typing import IO, Any, Callable, Dict, List, Optional, Protocol, Set, Tuple

from ._logging import mask_secret
from .retry import RetryBudget
from .spool import Spool, SpooledBatch, spool_error_message
from .transport import PERMANENT, HttpTransport, Outcome, Reply

log = logging.getLogger("isstreamer")

Event = Tuple[str, Any, float]
MAX_BODY_BYTES = 1_000_000
RATE_WAIT_CEILING = 60.0
PROBE_GAP_MIN = 1.0
PROBE_GAP_MAX = 60.0


class Bucket:
    """A bucket as the sender sees it: created yet, or refused for good."""

    __slots__ = ("key", "name", "created", "refused")

    def __init__(self, key: str, name: str) -> None:
        self.key = key
        self.name = name
        self.created = False
        self.refused: Optional[str] = None  # an Outcome value, when refused for good


class Stats:
    """Counters the sender keeps; read through ``Streamer.stats()``."""

    __slots__ = ("sent", "spooled", "replayed", "failed", "rejected", "dropped", "retries",
                 "requests", "evicted_seen")

    def __init__(self) -> None:
        self.sent = 0
        self.spooled = 0
        self.replayed = 0
        self.evicted_seen = 0
        self.failed = 0
        self.rejected = 0
        self.dropped = 0
        self.retries = 0
        self.requests = 0


class Destination(Protocol):
    """What the sender needs from where events go (the API, a CSV file, MQTT...)."""

    @property
    def in_outage(self) -> bool: ...

    def send(self, bucket: Bucket, events: List[Event]) -> bool: ...

    def save(self, bucket: Bucket, events: List[Event], reason: str) -> Any: ...

    def forget_saved(self, handle: Any, count: int) -> None: ...

    def replay_due(self) -> Optional[float]: ...

    def replay_one(self) -> str: ...

    def close(self) -> None: ...


def encode_events(events: List[Event]) -> bytes:
    """The API's JSON array of ``{"key", "value", "epoch"}`` objects."""
    return json.dumps(
        [{"key": k, "value": v, "epoch": e} for k, v, e in events], separators=(",", ":")
    ).encode("ascii")


class SpoolKeeper:
    """What every destination does with the spool: save what could not go (keeping the
    ``stats()`` identity, evictions included), take back a copy close() made of a batch that
    then arrived, and notice whether there is anything to replay."""

    def __init__(self, spool: Optional[Spool], stats: Stats, replay: bool, verb: str) -> None:
        self.spool = spool
        self._stats = stats
        self.replay = replay and spool is not None
        self._verb = verb  # "delivered" / "published", for the messages
        self.has_spooled = False
        self._looked = False  # at the spool, since start or since the destination came back
        self._warned = False

    def save(
        self, bucket: Bucket, events: List[Event], reason: str, refused: Optional[str] = None
    ) -> Optional[SpooledBatch]:
        """Spool events (counted either way); the file written, or None. The file is
        returned, not kept on ``self``: close() and the sender may save at the same time."""
        if not events:
            return None
        if self.spool is None:
            self._stats.failed += len(events)
            log.error("isstreamer: %d events for bucket %r were not %s (%s) and the spool is "
                      "off", len(events), bucket.key, self._verb, reason)
            return None
        try:
            saved = self.spool.save(bucket.key, bucket.name, events, reason, refused=refused)
        except OSError as exc:
            self._stats.failed += len(events)
            if not self._warned:
                self._warned = True
                log.error("isstreamer: %s; %d events were lost. Fix the directory or set "
                          "spool_dir.", spool_error_message(exc, self.spool.directory), len(events))
            return None
        self._stats.spooled += len(events)
        self.has_spooled = self.replay
        evicted = self.spool.evicted_events - self._stats.evicted_seen
        if evicted:  # our own spooled events deleted by the size/age bounds: now dropped
            self._stats.evicted_seen = self.spool.evicted_events
            self._stats.spooled -= evicted
            self._stats.dropped += evicted
        log.info("spooled %d events for bucket %r (%s)", len(events), bucket.key, reason)
        return saved

    def forget(self, handle: Optional[SpooledBatch], count: int) -> None:
        """close() spooled an in-flight batch whose request then finished: undo the copy."""
        if handle is not None and self.spool is not None:
            self.spool.delete_unclaimed(handle)
            self._stats.spooled -= count

    def look_again(self) -> None:
        """The destination is back: check the spool afresh (other processes may have added)."""
        self._looked = False

    def anything_to_replay(self, pending: Callable[[], List[str]]) -> bool:
        if not self._looked:
            self._looked = True
            assert self.spool is not None
            self.spool.recover_stale_claims()
            self.has_spooled = bool(pending())
        return self.has_spooled


def _refused_for_good(reply: Reply) -> Optional[str]:
    """Spool files the API can never accept as they are: kept for the CLI, not auto-replayed."""
    if reply.outcome in (Outcome.BUCKET_REMOVED, Outcome.REJECTED):
        return str(reply.outcome.value)
    return None


class HttpDestination:
    """Delivers to the API: bucket first, 1 MB bodies, retries, pacing, spool on failure.

    After a request runs out of retries the destination is in an *outage*: new batches go
    straight to the spool, and one probe at a time (a live batch or the oldest spool file) asks
    whether the API is back, with growing gaps. The first success ends the outage and starts
    the replay of the spool, oldest first.
    """

    def __init__(
        self,
        transport: HttpTransport,
        access_key: str,
        retry_time: float,
        retry_backoff: float,
        stats: Stats,
        sleep: Callable[[float], bool],
        spool: Optional[Spool],
        buffer_size: int,
        replay: bool = True,
    ) -> None:
        self._transport = transport
        self._masked_key = mask_secret(access_key)
        self._retry_time = retry_time
        self._retry_backoff = retry_backoff
        self._stats = stats
        self._sleep = sleep  # returns False when the wait was cut short by close()
        self.spool = spool
        self._buffer_size = buffer_size
        self._explained: Set[Outcome] = set()
        self._key_refused = False  # 401/403: nothing this process sends can succeed
        self._outage_since: Optional[float] = None
        self._next_probe = 0.0
        self._probe_gap = PROBE_GAP_MIN
        self._keeper = SpoolKeeper(spool, stats, replay, "delivered")
        self._buckets: Dict[str, Bucket] = {}  # replay targets, by key

    # -- live batches ------------------------------------------------------------------------
    @property
    def in_outage(self) -> bool:
        return self._outage_since is not None

    def send(self, bucket: Bucket, events: List[Event]) -> bool:
        if self._key_refused or bucket.refused is not None:
            self._keeper.save(bucket, events, "refused by the API", bucket.refused)
            return False
        if self.in_outage and time.monotonic() < self._next_probe:
            self._keeper.save(bucket, events, "API unreachable")
            return False
        if not self.open_bucket(bucket):
            reason = "refused by the API" if bucket.refused else "the bucket could not be created"
            self._keeper.save(bucket, events, reason, bucket.refused)
            return False
        for start in range(0, len(events), self._buffer_size):
            reply, undelivered = self._deliver(bucket.key, events[start:start + self._buffer_size])
            if reply is not None:
                rest = undelivered + events[start + self._buffer_size:]
                self._keeper.save(bucket, rest, self._reason(reply), _refused_for_good(reply))
                return False
        return True

    def _deliver(
        self, bucket_key: str, piece: List[Event], live: bool = True
    ) -> Tuple[Optional[Reply], List[Event]]:
        """Send one piece, split in halves over 1 MB or on 413.

        Returns (None, []) when it all arrived, else the failure and the events that did not
        arrive — never the ones that did, so a later replay cannot duplicate them.
        """
        body = encode_events(piece)
        if len(body) <= MAX_BODY_BYTES or len(piece) == 1:
            reply = self._post(lambda: self._transport.send_events(bucket_key, body))
            if reply.outcome is Outcome.OK:
                if live:
                    self._stats.sent += len(piece)
                else:
                    self._stats.replayed += len(piece)
                log.debug("sent %d events to bucket %r", len(piece), bucket_key)
                return None, []
            if reply.outcome is not Outcome.SPLIT or len(piece) == 1:
                self._refusal(reply, bucket_key)
                return reply, piece
        half = len(piece) // 2
        failure, undelivered = self._deliver(bucket_key, piece[:half], live)
        if failure is not None:
            return failure, undelivered + piece[half:]
        return self._deliver(bucket_key, piece[half:], live)

    def open_bucket(self, bucket: Bucket) -> bool:
        """Create the bucket (once) before its first events; False if that cannot be done."""
        if bucket.created:
            return True
        if bucket.refused is not None or self._key_refused:
            return False
        if self.in_outage and time.monotonic() < self._next_probe:
            return False
        reply = self._post(lambda: self._transport.create_bucket(bucket.key, bucket.name))
        if reply.outcome is Outcome.OK:
            bucket.created = True
            log.info("bucket %r (%r) is ready (HTTP %s)", bucket.name, bucket.key, reply.status)
            return True
        if reply.outcome is Outcome.BUCKET_REMOVED:
            bucket.refused = reply.outcome.value
        self._refusal(reply, bucket.key)
        return False

    # -- requests, retries, outage -----------------------------------------------------------
    def _post(self, attempt: Callable[[], Reply]) -> Reply:
        """One request; retried within the time budget unless the API is known to be down."""
        budget = RetryBudget(self._retry_time, initial_delay=self._retry_backoff)
        while True:
            self._stats.requests += 1
            reply = attempt()
            self._pace(reply)
            if reply.outcome is Outcome.QUOTA:
                self._start_outage(reply, gap=PROBE_GAP_MAX)  # probe rarely until it lifts
                return reply
            if reply.outcome is not Outcome.RETRY:
                if reply.outcome is not Outcome.UNAUTHORIZED:
                    self._end_outage()
                return reply
            delay = None if self.in_outage else budget.next_delay(reply.retry_after)
            if delay is None:
                self._start_outage(reply)
                return reply
            log.info("request failed (%s); retry %d in %.1f s", self._reason(reply),
                     budget.attempts, delay)
            self._stats.retries += 1
            if not self._sleep(delay):
                return reply

    def _start_outage(self, reply: Reply, gap: float = PROBE_GAP_MIN) -> None:
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since = now
            self._probe_gap = gap
            if reply.outcome is Outcome.RETRY:
                log.warning(
                    "isstreamer: the API is not answering (%s); saving events to the spool "
                    "and checking again with growing gaps (up to %d s)",
                    self._reason(reply), PROBE_GAP_MAX,
                )
        else:
            self._probe_gap = min(self._probe_gap * 2, PROBE_GAP_MAX)
        gap = max(self._probe_gap, reply.retry_after or 0.0)
        self._next_probe = now + gap * (0.75 + random.random() / 2)

    def _end_outage(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "isstreamer: the API answers again after %.0f s; replaying the spool",
                time.monotonic() - self._outage_since,
            )
            self._outage_since = None
            self._keeper.look_again()

    def _pace(self, reply: Reply) -> None:
        """Stay under the plan's rate limit instead of waiting to be told with a 429."""
        if reply.rate_remaining == 0 and reply.rate_reset and reply.outcome is Outcome.OK:
            wait = min(reply.rate_reset - time.time(), RATE_WAIT_CEILING)
            if wait > 0:
                log.debug("rate limit reached; pausing %.1f s", wait)
                self._sleep(wait)

    @staticmethod
    def _reason(reply: Reply) -> str:
        return f"HTTP {reply.status}" if reply.status else (reply.detail or "no answer")

    # -- the spool -------------------------------------------------------------------------------
    def save(self, bucket: Bucket, events: List[Event], reason: str) -> Optional[SpooledBatch]:
        """Spool events the sender could not deliver in time; the spool file, if written."""
        return self._keeper.save(bucket, events, reason, bucket.refused)

    def forget_saved(self, handle: Optional[SpooledBatch], count: int) -> None:
        self._keeper.forget(handle, count)

    def replay_due(self) -> Optional[float]:
        """When (monotonic) a replay step may run; None when there is nothing to replay."""
        if not self._keeper.replay or self._key_refused:
            return None
        if not self._keeper.anything_to_replay(self._pending_files):
            return None
        return self._next_probe if self.in_outage else 0.0

    def _pending_files(
        self, any_key: bool = False, include_refused: bool = False, own_only: bool = False
    ) -> List[str]:
        assert self.spool is not None
        return self.spool.pending(any_key, include_refused, own_only)

    def replay_own(self) -> str:
        """close(): send back what this process spooled (overflow, a brief outage), if the
        API is answering; "empty" when there is nothing it can do now."""
        if self.spool is None or self._key_refused or self.in_outage:
            return "empty"
        return self.replay_one(own_only=True)

    def own_spooled(self) -> int:
        """Spool files this process wrote that are still there (refused ones included)."""
        if self.spool is None:
            return 0
        return len(self.spool.pending(include_refused=True, own_only=True))

    def replay_one(
        self,
        any_key: bool = False,
        include_refused: bool = False,
        bucket: Optional[Bucket] = None,
        own_only: bool = False,
    ) -> str:
        """Deliver the oldest spool file of this key (paced like live batches).

        Returns "empty" (nothing left), "done" (a file was delivered, or another process took
        it) or "failed" (it went back to the spool). The CLI passes ``any_key`` to send files
        saved under another key, and ``bucket`` to send them to a new bucket.
        """
        assert self.spool is not None
        # Files the API refused for good are named so; they come back only when asked for
        # (the CLI, usually with a new bucket), never in the automatic replay.
        names = self._pending_files(any_key, include_refused or bucket is not None, own_only)
        if not names:
            self._keeper.has_spooled = False
            return "empty"
        batch = self.spool.claim(names[0])
        if batch is None:
            return "done"
        target = bucket or self._buckets.get(batch.bucket_key)
        if target is None:
            target = self._buckets[batch.bucket_key] = Bucket(batch.bucket_key, batch.bucket_name)
        if not self.open_bucket(target):
            if target.refused:
                batch.refused = target.refused
            self.spool.release(batch, "the bucket could not be created")
            return "failed"
        while batch.events:
            piece = batch.events[: self._buffer_size]
            reply, undelivered = self._deliver(target.key, piece, live=False)
            if reply is not None:
                batch.events[: len(piece)] = undelivered
                batch.refused = _refused_for_good(reply)
                self.spool.release(batch, self._reason(reply))
                return "failed"
            del batch.events[: len(piece)]
            if batch.events and not self._sleep(0):
                # close() is out of time: keep the rest (and the progress) for later. A big
                # file at the API's 3 requests/s takes minutes; close() must stay bounded.
                self.spool.release(batch, "replay paused by close()")
                return "failed"
        self.spool.delete(batch)
        log.info("replayed spool file %s to bucket %r", batch.name, target.key)
        return "done"

    # -- messages --------------------------------------------------------------------------------
    def _refusal(self, reply: Reply, bucket_key: str) -> None:
        """Say once, at ERROR, what a permanent refusal means and what to do about it."""
        outcome = reply.outcome
        if outcome not in PERMANENT or outcome in self._explained:
            return
        self._explained.add(outcome)
        where = f" They are kept in the spool at {self.spool.directory}." if self.spool else ""
        if outcome is Outcome.UNAUTHORIZED:
            self._key_refused = True
            message = (
                f"the API refused access key {self._masked_key} (HTTP {reply.status}). Check the "
                "key in your Initial State account settings and pass it as "
                "Streamer(access_key=...), $ISS_ACCESS_KEY or access_key in isstreamer.ini; "
                "then `isstreamer spool replay --any-key` sends what was saved." + where
            )
        elif outcome is Outcome.QUOTA:
            message = (
                "the account's monthly event limit is used up (HTTP 402): the API accepts no "
                "more events until the next billing cycle or a plan upgrade; they will be "
                "replayed then." + where
            )
        elif outcome is Outcome.BUCKET_REMOVED:
            message = (
                f"bucket key {bucket_key!r} belongs to a deleted bucket and can never receive "
                "data again: choose a new bucket_key; `isstreamer spool replay --bucket-key NEW` "
                "sends what was saved to a new bucket." + where
            )
        else:
            message = f"the API rejected the request (HTTP {reply.status}): {reply.detail}." + where
        log.error("isstreamer: %s", message)

    def close(self) -> None:
        self._transport.close()

    def reset_after_fork(self) -> None:
        self._transport.forget_connections()
        if self.spool is not None:
            self.spool.reset_after_fork()


class CsvDestination:
    """Offline mode: append ``epoch,key,value`` rows to a CSV file, opened on first use."""

    in_outage = False

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

    def save(self, bucket: Bucket, events: List[Event], reason: str) -> None:
        self.send(bucket, events)  # writing the file is as durable as it gets

    def forget_saved(self, handle: Any, count: int) -> None:
        pass

    def replay_due(self) -> Optional[float]:
        return None

    def replay_one(self) -> str:  # pragma: no cover - never due
        return "empty"

    def reset_after_fork(self) -> None:
        """The child appends with a fresh lock (the parent's sender may have held this one)."""
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
