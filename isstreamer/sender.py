"""The buffer and the one sender thread behind each Streamer.

Producers (``Streamer.log``) append ``(key, value, epoch)`` tuples to a deque under a lock and
wake the sender only when it matters: the buffer went from empty to non-empty (start the flush
interval clock), reached ``buffer_size`` (send now) or passed ``max_buffer`` (overflow). Bucket
switches and flush requests travel through the same deque as control items, so every event goes
to the bucket that was current when it was logged and a flush covers exactly what came before
it. The sender blocks with no timeout when idle: an idle Streamer uses no CPU.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import sys
import threading
import time
import weakref
from typing import Any, Deque, List, Optional, Set, Tuple, Union

from .destinations import Bucket, Destination, Event, Stats

log = logging.getLogger("isstreamer")


class StopSignal:
    """How close() tells a sender that is retrying to stop: now, or by a deadline."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.deadline: Optional[float] = None

    def sleep(self, seconds: float) -> bool:
        """Wait between retries; False when the sender should give up instead."""
        deadline = self.deadline
        if deadline is not None and time.monotonic() + seconds > deadline:
            self.event.wait(max(0.0, deadline - time.monotonic()))
            return False
        return not self.event.wait(seconds)

    def clear(self) -> None:
        self.event.clear()
        self.deadline = None

    def reset_after_fork(self) -> None:
        self.event = threading.Event()
        self.deadline = None


class FlushMarker:
    """Placed in the buffer by ``flush()``; set once everything before it is handled."""

    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = True


OUTAGE_BATCH = 10_000  # events per spool file while the API is down
OVERFLOW_SPOOL_CHUNK = 0.1  # share of max_buffer moved to the spool at once on overflow

# What the sender does next: ("bucket", Bucket, None), ("marker", None, FlushMarker),
# ("events", Bucket, [events]) or ("replay", None, None).
Work = Tuple[str, Optional[Bucket], Any]


class Pipeline:
    """Bounded buffer + sender. ``Streamer.log`` touches only ``lock``, ``items`` and ``wake``."""

    def __init__(
        self,
        destination: Destination,
        *,
        buffer_size: int,
        max_buffer: int,
        overflow: str,
        flush_interval: float,
        use_async: bool,
        stats: Stats,
        stop: StopSignal,
        exit_timeout: float,
    ) -> None:
        self.destination = destination
        self.buffer_size = buffer_size
        self.max_buffer = max_buffer
        self.overflow = overflow
        self.flush_interval = flush_interval
        self.use_async = use_async
        self.stats = stats
        self.stop = stop  # close() sets it: stop retrying and give up the rest
        self.exit_timeout = exit_timeout
        self.items: Deque[Any] = collections.deque()
        # use_async=False delivers from inside log() with the lock held, so it must re-enter.
        self.lock: Any = threading.Lock() if use_async else threading.RLock()
        self._cond = threading.Condition(self.lock)  # the sender waits on this
        self._space = threading.Condition(self.lock)  # overflow="block" producers wait on this
        self._controls = 0  # control items (bucket switches, flush markers) in ``items``
        self._in_flight: Optional[Tuple[Bucket, List[Event]]] = None
        self._taken_over: Optional[Tuple[Any, int]] = None  # in-flight batch close() spooled
        self._bucket = Bucket("", "")  # the bucket of the events at the head of ``items``
        self.last_bucket: Optional[Bucket] = None  # the bucket producers are logging to
        self._thread: Optional[threading.Thread] = None
        # One user of the destination at a time: the sender thread, or a caller draining
        # inline (use_async=False, exit, close() replaying what overflowed to the spool).
        self._send_lock = threading.Lock()
        self.closed = False
        self._finished = False  # close() completed and nothing was logged since
        self._losses_at_close = 0  # stats.failed + stats.dropped when close() last ran
        self._warned_reopen = False
        self._warned_overflow = False
        _all_pipelines.add(self)

    # -- producer side (caller's threads) -------------------------------------------------
    def wake(self, n: int) -> None:
        """Called by ``log()`` with the lock held when the buffer length makes a difference."""
        if n > self.max_buffer:
            self._overflow()
        if self.closed:
            self._reopen()
        if self.use_async:
            self._cond.notify()
        elif n >= self.buffer_size:
            self._drain_inline(until_empty=False)  # use_async=False: the caller's thread

    def put_control(self, item: Union[Bucket, FlushMarker]) -> None:
        with self.lock:
            if isinstance(item, Bucket):
                self.last_bucket = item
                if self.closed:
                    self._reopen()
            self.items.append(item)
            self._controls += 1
            if self.use_async:
                self._start_locked()
                self._cond.notify()
        if not self.use_async and isinstance(item, Bucket):
            self._drain_inline(until_empty=True)  # as the original: create it right away

    def _overflow(self) -> None:
        policy = self.overflow
        if policy == "block":
            deadline = time.monotonic() + 60.0
            while len(self.items) > self.max_buffer and self._sender_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.notify()
                self._space.wait(remaining)
            if len(self.items) <= self.max_buffer:
                return
            policy = "drop_oldest"  # the sender is stuck: never block the caller forever
        if policy == "spool":
            if self._spool_oldest():
                return
            policy = "drop_oldest"  # the spool is off or failing: say so and drop
        index = 0 if policy == "drop_oldest" else -1
        if type(self.items[index]) is not tuple:
            return  # never drop a control item; the buffer is over by one, briefly
        del self.items[index]
        self.stats.dropped += 1
        if index == 0:
            self._fail_next_marker()  # a flush waiting for the dropped event must say so
        if not self._warned_overflow:
            self._warned_overflow = True
            log.warning(
                "isstreamer: buffer is full (max_buffer=%d events) because the API is not "
                "keeping up; dropping the %s events (overflow=%r). stats() counts them.",
                self.max_buffer, "oldest" if index == 0 else "newest", self.overflow,
            )

    def _spool_oldest(self) -> bool:
        """overflow="spool": move the oldest events to disk, in the caller's thread.

        Only reached when the sender cannot keep up (the API hangs or is slow), so the I/O
        here is the price of not dropping anything.
        """
        items = self.items
        chunk = max(1, int(self.max_buffer * OVERFLOW_SPOOL_CHUNK))
        groups: List[Tuple[Bucket, List[Event]]] = []
        bucket = self._bucket
        events: List[Event] = []
        while items and len(events) < chunk:
            head = items[0]
            if type(head) is tuple:
                events.append(items.popleft())
            elif type(head) is Bucket:
                # The sender is stuck: take over this switch; replay creates the bucket.
                if events:
                    groups.append((bucket, events))
                    events = []
                bucket = self._bucket = items.popleft()
                self._controls -= 1
            else:  # a flush marker: everything before it is now on disk
                marker = items.popleft()
                self._controls -= 1
                marker.ok = False
                marker.done.set()
        if events:
            groups.append((bucket, events))
        if groups:  # every flush waiting in the buffer now covers spooled events
            for item in items:
                if type(item) is FlushMarker:
                    item.ok = False
        for group_bucket, group in groups:
            self.destination.save(group_bucket, group, "buffer full")  # counts it either way
        if not self._warned_overflow and groups:
            self._warned_overflow = True
            log.warning(
                "isstreamer: buffer is full (max_buffer=%d events) because the API is not "
                "keeping up; moving the oldest events to the spool.", self.max_buffer,
            )
        return bool(groups)

    def _reopen(self) -> None:
        self.closed = False
        self._finished = False
        self.stop.clear()
        _open_pipelines.add(self)
        if not self._warned_reopen:
            self._warned_reopen = True
            log.warning(
                "isstreamer: log() after close(): the Streamer reopens to deliver it; call "
                "close() again (or let the exit hook do it)"
            )
        if self.use_async:
            self._start_locked()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        _open_pipelines.add(self)
        if self.use_async:
            with self.lock:
                self._start_locked()

    def _start_locked(self) -> bool:
        """Make sure a sender thread runs; False where none can (interpreter shutdown)."""
        if self._sender_alive():
            return True
        thread = threading.Thread(target=self._run, name="isstreamer-sender", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # Python 3.12+ refuses new threads once shutdown has begun
            return False
        self._thread = thread
        return True

    def _sender_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def flush(self, timeout: Optional[float]) -> bool:
        """Wait until everything logged before this call is delivered or saved to the spool;
        while the API answers, also send back what this Streamer spooled (a burst past
        max_buffer). True only if it all went straight through and nothing of ours is left
        in the spool."""
        deadline = None if timeout is None else time.monotonic() + timeout
        handled = self._flush(timeout)
        if handled is None:
            return False
        if self._own_spooled():
            self._replay_own_spool(deadline)
        return handled and self._own_spooled() == 0

    def _flush(self, timeout: Optional[float]) -> Optional[bool]:
        """None if the timeout passed first, else whether no event before it was set aside."""
        marker = FlushMarker()
        self.put_control(marker)
        if not self.use_async or not self._sender_alive():
            self._drain_inline(until_empty=True)
        if not marker.done.wait(timeout):
            return None
        return marker.ok

    def _own_spooled(self) -> int:
        count = getattr(self.destination, "own_spooled", None)
        return 0 if count is None else int(count())

    def request_close(self) -> None:
        """Close without waiting (``__del__``): deliver in the background; exit bounds it."""
        with self.lock:
            if not self._finished:
                self.closed = True
                self._cond.notify()

    def close(self, timeout: Optional[float]) -> bool:
        """Deliver what is buffered within ``timeout``; spool (and say so) the rest."""
        with self.lock:
            if self._finished:
                return True
            self.closed = True
            if timeout is not None:
                self.stop.deadline = time.monotonic() + timeout
        handled = self._flush(timeout)
        if handled is None and self.pending_events() > 0:
            self.stop.event.set()  # cut retries short; the sender spools what it holds
            with self.lock:
                self._cond.notify()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(0.1)  # it may be stuck in a request; do not wait for that
            saved = self._save_pending()
            if saved:
                log.warning(
                    "isstreamer: close() ran out of time (%.1f s); saved %d undelivered events "
                    "for the next run", timeout or 0.0, saved,
                )
        elif self._own_spooled():
            # What overflowed to the spool (or waited out a short outage) goes out now, while
            # there is time: a one-off script should not leave it on disk for a later run.
            self._replay_own_spool(self.stop.deadline)
        # True when everything logged since the last close() was delivered: nothing pending,
        # nothing of ours left in the spool, nothing dropped or lost on the way.
        losses = self.stats.failed + self.stats.dropped
        ok = (
            self.pending_events() == 0
            and self._own_spooled() == 0
            and losses == self._losses_at_close
        )
        self._losses_at_close = losses
        with self.lock:
            if self.closed:  # nobody logged (and so reopened) meanwhile
                self._finished = True
                self.destination.close()
                _open_pipelines.discard(self)
                self._cond.notify()
        return ok

    def _replay_own_spool(self, deadline: Optional[float]) -> None:
        """Before ``deadline``, send back what this Streamer spooled, in the calling thread."""
        replay_own = getattr(self.destination, "replay_own", None)
        if replay_own is None:
            return
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            if not self._send_lock.acquire(timeout=-1 if remaining is None else remaining):
                break  # the sender is stuck in a request: leave it to the next run
            try:
                outcome = replay_own()
            finally:
                self._send_lock.release()
            if outcome != "done":
                break

    def pending_events(self) -> int:
        """Events logged but not yet delivered or saved (buffered plus in flight)."""
        with self.lock:
            return self._pending_locked()

    def _pending_locked(self) -> int:
        in_flight = 0
        if self._in_flight is not None and self._taken_over is None:
            in_flight = len(self._in_flight[1])  # (a batch close() saved counts as spooled)
        return len(self.items) - self._controls + in_flight

    def _save_pending(self) -> int:
        """Hand everything still buffered (and a stuck in-flight batch) to the spool."""
        groups: List[Tuple[Bucket, List[Event]]] = []
        saved = 0
        with self.lock:
            if self._in_flight is not None and self._taken_over is None:
                # The sender is stuck in a request: save its batch too. If that request does
                # finish, _finish_in_flight takes the copy back out of the spool.
                flight_bucket, flight = self._in_flight
                handle = self.destination.save(flight_bucket, flight, "close() ran out of time")
                self._taken_over = (handle, len(flight))
                saved += len(flight)
            bucket = self._bucket
            events: List[Event] = []
            for item in self.items:
                if type(item) is tuple:
                    events.append(item)
                elif type(item) is Bucket:
                    if events:
                        groups.append((bucket, events))
                    bucket, events = item, []
                else:
                    item.ok = False
                    item.done.set()
            if events:
                groups.append((bucket, events))
            self.items.clear()
            self._controls = 0
            self._bucket = bucket
        for group_bucket, group in groups:
            for start in range(0, len(group), OUTAGE_BATCH):  # bounded files, bounded memory
                chunk = group[start:start + OUTAGE_BATCH]
                self.destination.save(group_bucket, chunk, "close() ran out of time")
        return saved + sum(len(g) for _, g in groups)

    def after_fork_in_child(self) -> None:
        """The child starts with an empty buffer, fresh locks and its own sender."""
        self.items = collections.deque()
        self.lock = threading.Lock() if self.use_async else threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._space = threading.Condition(self.lock)
        self._send_lock = threading.Lock()  # the parent's sender may have held it mid-request
        self.stop.reset_after_fork()
        self._controls = 0
        self._in_flight = None
        self._taken_over = None
        self._thread = None
        self.stats.__init__()  # type: ignore[misc]
        reset = getattr(self.destination, "reset_after_fork", None)
        if reset is not None:
            reset()
        if self.last_bucket is not None:
            # The parent may not have created it yet; asking again is cheap (204 if it exists).
            self.put_control(Bucket(self.last_bucket.key, self.last_bucket.name))

    # -- sender side -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self.lock:
                    work = self._next_work()
                    if work is None:
                        return
                self._handle(work)
        except Exception:  # background work never raises into user code
            log.exception("isstreamer: the sender thread failed; events may be stuck")

    def _next_work(self) -> Optional[Work]:
        """With the lock held: wait for the next control item, batch, or replay step."""
        deadline: Optional[float] = None
        while True:
            items = self.items
            now = time.monotonic()
            if items:
                work = self._pop_control()
                if work is not None:
                    return work
                ready = self._controls or self.closed or len(items) >= self.buffer_size
                if not ready:
                    if deadline is None:
                        deadline = now + self.flush_interval
                    ready = now >= deadline
                if ready:
                    return self._take_batch()
            else:
                if self.closed:
                    # Say so under the lock: a flush() racing with this exit must start a
                    # new sender rather than wait for this one.
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return None
                deadline = None
            replay_at = None if self.closed else self.destination.replay_due()
            if replay_at is not None and replay_at <= now:
                return ("replay", None, None)
            wake_at = min(t for t in (deadline, replay_at, float("inf")) if t is not None)
            self._cond.wait(None if wake_at == float("inf") else max(0.0, wake_at - now))

    def _pop_control(self) -> Optional[Work]:
        items = self.items
        head = items[0]
        if type(head) is tuple:
            return None
        items.popleft()
        self._controls -= 1
        if type(head) is Bucket:
            self._bucket = head
            return ("bucket", head, None)
        return ("marker", None, head)

    def _take_batch(self) -> Work:
        items = self.items
        batch: List[Event] = []
        limit = OUTAGE_BATCH if self.destination.in_outage else self.buffer_size
        while items and len(batch) < limit and type(items[0]) is tuple:
            batch.append(items.popleft())
        self._in_flight = (self._bucket, batch)
        if self.overflow == "block" and len(items) <= self.max_buffer:
            self._space.notify_all()
        return ("events", self._bucket, batch)

    def _handle(self, work: Work) -> None:
        kind, bucket, payload = work
        if kind == "marker":
            payload.done.set()
            return
        with self._send_lock:
            self._handle_locked(kind, bucket, payload)

    def _handle_locked(self, kind: str, bucket: Optional[Bucket], payload: Any) -> None:
        ok = True
        try:
            if kind == "replay":
                self.destination.replay_one()
            elif kind == "bucket":
                ok = self._open(bucket)  # type: ignore[arg-type]
            else:
                ok = self.destination.send(bucket, payload)  # type: ignore[arg-type]
        except Exception:
            log.exception("isstreamer: unexpected error in the sender (%s)", kind)
            if kind == "events":
                self.destination.save(bucket, payload, "unexpected error")  # type: ignore[arg-type]
            ok = False
        finally:
            with self.lock:
                if kind == "events":
                    self._finish_in_flight()
                if not ok:
                    self._fail_next_marker()

    def _finish_in_flight(self) -> None:
        """The sender finished a batch; if close() had spooled it meanwhile, undo that."""
        taken = self._taken_over
        self._in_flight = None
        if taken is not None:
            self._taken_over = None
            self.destination.forget_saved(*taken)

    def _open(self, bucket: Bucket) -> bool:
        opener = getattr(self.destination, "open_bucket", None)
        return True if opener is None else bool(opener(bucket))

    def _fail_next_marker(self) -> None:
        for item in self.items:
            if type(item) is FlushMarker:
                item.ok = False
                return

    def _drain_inline(self, until_empty: bool) -> None:
        """Deliver in the calling thread: use_async=False, or no sender thread at exit."""
        while True:
            with self.lock:
                items = self.items
                if not items:
                    return
                if not until_empty and len(items) - self._controls < self.buffer_size:
                    return
                if self.stop.deadline is not None and time.monotonic() > self.stop.deadline:
                    return
                work = self._pop_control() or self._take_batch()
            self._handle(work)


_all_pipelines: "weakref.WeakSet[Pipeline]" = weakref.WeakSet()
_open_pipelines: Set[Pipeline] = set()


def _close_all_at_exit() -> None:
    """Interpreter exit without close(): deliver what can be delivered, within each deadline."""
    for pipeline in list(_open_pipelines):
        try:
            pipeline.close(pipeline.exit_timeout)
        except Exception:  # pragma: no cover - must never break interpreter shutdown
            log.exception("isstreamer: error while closing at exit")


def _after_fork_in_child() -> None:
    _open_pipelines.clear()
    for pipeline in list(_all_pipelines):
        if not pipeline.closed:
            _open_pipelines.add(pipeline)
            pipeline.after_fork_in_child()
    # multiprocessing's forked children leave through os._exit(), which skips atexit, and
    # clear its finalizers right after the fork; its after-fork hooks run after that, so
    # register the exit hook as a multiprocessing finalizer from one of those.
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None and _open_pipelines:
        mp_util.register_after_fork(_MP_ANCHOR, _register_mp_finalizer)


class _Anchor:
    """A weak-referenceable object for multiprocessing.util.register_after_fork."""


_MP_ANCHOR = _Anchor()


def _register_mp_finalizer(_: object) -> None:
    mp_util = sys.modules["multiprocessing.util"]
    mp_util.Finalize(None, _close_all_at_exit, exitpriority=100)


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
