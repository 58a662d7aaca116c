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
from typing import Any, Deque, List, Optional, Set, Union

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


Item = Union[Event, Bucket, FlushMarker]


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
        self._in_flight = 0
        self._bucket: Optional[Bucket] = None  # the bucket the sender is delivering to
        self.last_bucket: Optional[Bucket] = None  # the bucket producers are logging to
        self._thread: Optional[threading.Thread] = None
        self.closed = False
        self._finished = False  # close() completed and nothing was logged since
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
        index = 0 if policy == "drop_oldest" else -1
        if type(self.items[index]) is not tuple:
            return  # never drop a control item; the buffer is over by one, briefly
        del self.items[index]
        self.stats.dropped += 1
        if not self._warned_overflow:
            self._warned_overflow = True
            log.warning(
                "isstreamer: buffer is full (max_buffer=%d events) because the API is not "
                "keeping up; dropping the %s events (overflow=%r). stats() counts them.",
                self.max_buffer, "oldest" if index == 0 else "newest", self.overflow,
            )

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
        """Wait until everything logged before this call is delivered or given up on."""
        marker = FlushMarker()
        self.put_control(marker)
        if not self.use_async or not self._sender_alive():
            self._drain_inline(until_empty=True)
        if not marker.done.wait(timeout):
            return False
        return marker.ok

    def request_close(self) -> None:
        """Close without waiting (``__del__``): deliver in the background; exit bounds it."""
        with self.lock:
            if not self._finished:
                self.closed = True
                self._cond.notify()

    def close(self, timeout: Optional[float]) -> bool:
        """Deliver what is buffered within ``timeout``; give up (and say so) on the rest."""
        with self.lock:
            if self._finished:
                return True
            self.closed = True
            if timeout is not None:
                self.stop.deadline = time.monotonic() + timeout
        ok = self.flush(timeout)
        if not ok and self.pending_events() > 0:
            self.stop.event.set()  # cut retries short; the sender gives up what is left
            with self.lock:
                self._cond.notify()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(0.1)  # it may be stuck in a request; do not wait for that
            left = self._discard_pending()
            if left:
                log.error("isstreamer: close() timed out; %d events were not delivered", left)
        with self.lock:
            if self.closed:  # nobody logged (and so reopened) meanwhile
                self._finished = True
                self.destination.close()
                _open_pipelines.discard(self)
                self._cond.notify()
        return ok

    def pending_events(self) -> int:
        """Events logged but not yet delivered or given up on (buffered plus in flight)."""
        with self.lock:
            return len(self.items) - self._controls + self._in_flight

    def _discard_pending(self) -> int:
        with self.lock:
            events = [i for i in self.items if type(i) is tuple]
            markers = [i for i in self.items if type(i) is FlushMarker]
            self.items.clear()
            self._controls = 0
            in_flight = self._in_flight
        for marker in markers:
            marker.ok = False
            marker.done.set()
        self.stats.failed += len(events)
        return len(events) + in_flight

    def after_fork_in_child(self) -> None:
        """The child starts with an empty buffer, fresh locks and its own sender."""
        self.items = collections.deque()
        self.lock = threading.Lock() if self.use_async else threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._space = threading.Condition(self.lock)
        self.stop.reset_after_fork()
        self._controls = 0
        self._in_flight = 0
        self._thread = None
        self.stats.__init__()  # type: ignore[misc]
        reset = getattr(self.destination, "reset_after_fork", None)
        if reset is not None:
            reset()
        if self.last_bucket is not None:
            # The parent may not have created it yet; asking again is cheap (204 if it exists).
            self._bucket = None
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

    def _next_work(self) -> Optional[List[Any]]:
        """With the lock held: wait for the next control item or batch of events."""
        deadline: Optional[float] = None
        while True:
            items = self.items
            if items:
                if type(items[0]) is not tuple:
                    self._controls -= 1
                    return [items.popleft()]
                ready = self._controls or self.closed or len(items) >= self.buffer_size
                if not ready:
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + self.flush_interval
                    ready = now >= deadline
                if ready:
                    return self._take_batch()
                self._cond.wait(deadline - time.monotonic())  # type: ignore[operator]
            else:
                if self.closed:
                    return None
                deadline = None
                self._cond.wait()

    def _take_batch(self) -> List[Any]:
        items = self.items
        batch: List[Any] = []
        limit = self.buffer_size
        while items and len(batch) < limit and type(items[0]) is tuple:
            batch.append(items.popleft())
        self._in_flight = len(batch)
        if self.overflow == "block" and len(items) <= self.max_buffer:
            self._space.notify_all()
        return batch

    def _handle(self, work: List[Any]) -> None:
        head = work[0]
        if type(head) is FlushMarker:
            head.done.set()
            return
        ok = True
        events: List[Event] = []
        try:
            if type(head) is Bucket:
                self._bucket = head
                ok = self._open(head)
            else:
                events = work
                bucket = self._bucket or Bucket("", "")
                ok = self.destination.send(bucket, events)
        except Exception:
            log.exception("isstreamer: unexpected error while sending %d events", len(events))
            self.stats.failed += len(events)
            ok = False
        finally:
            with self.lock:
                self._in_flight = 0
                if not ok:
                    self._fail_next_marker()

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
                if type(items[0]) is not tuple:
                    self._controls -= 1
                    work = [items.popleft()]
                else:
                    work = self._take_batch()
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
    mp_util.Finalize(None, _close_all_at_exit, exitpriority=100)  # type: ignore[attr-defined]


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
