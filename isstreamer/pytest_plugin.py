"""pytest fixtures that give a test its own local Initial State receiver.

Installed with isstreamer and loaded by pytest automatically (entry point ``pytest11``)::

    def test_my_logger(isstreamer_receiver):
        run_my_script(stream_api_base=isstreamer_receiver.base_url)
        events = isstreamer_receiver.wait_for_events(3, bucket_key="garden")
        assert [e.value for e in events] == [21.5, 21.7, 21.9]

Each test gets a fresh receiver on a free 127.0.0.1 port with its own database under
``tmp_path``; it is stopped when the test ends. Nothing is imported until a fixture is used, so
the plugin costs nothing in test suites that do not use it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, List, Optional

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from isstreamer import Streamer
    from isstreamer.receiver import BucketRow, EventRow, Receiver, Store

DEFAULT_ACCESS_KEY = "ist_pytest_local_key"


class ReceiverHandle:
    """What the fixture gives a test: where to send, and what arrived."""

    def __init__(self, receiver: Receiver, access_key: str = DEFAULT_ACCESS_KEY) -> None:
        self.receiver = receiver
        self.access_key = access_key
        self._streamers: List[Streamer] = []

    @property
    def base_url(self) -> str:
        """Use as ``Streamer(stream_api_base=...)`` or ``ISS_STREAM_API_BASE``."""
        return self.receiver.base_url

    @property
    def store(self) -> Store:
        return self.receiver.store

    def url(self, path: str = "/") -> str:
        return self.receiver.url(path)

    def buckets(self) -> List[BucketRow]:
        return self.store.buckets()

    def events(self, bucket_key: Optional[str] = None,
               key: Optional[str] = None) -> List[EventRow]:
        """Stored events in timestamp order, optionally for one bucket key and one stream key."""
        keys = [key] if key is not None else []
        if bucket_key is None:
            return self.store.events(keys=keys)
        out: List[EventRow] = []
        for bucket_id in self._bucket_ids(bucket_key):
            out.extend(self.store.events(bucket_id, keys=keys))
        return out

    def values(self, key: str, bucket_key: Optional[str] = None) -> List[Any]:
        """The values of one stream, oldest first."""
        return [event.value for event in self.events(bucket_key, key)]

    def wait_for_events(self, count: int, bucket_key: Optional[str] = None,
                        timeout: float = 10.0) -> List[EventRow]:
        """Block until at least ``count`` events are stored (woken by each commit, no polling)."""
        ok = self.store.wait_for(lambda: len(self.events(bucket_key)) >= count, timeout)
        found = self.events(bucket_key)
        if not ok:
            raise AssertionError(
                f"waited {timeout} s for {count} events"
                f"{'' if bucket_key is None else f' in bucket {bucket_key!r}'}; "
                f"the receiver has {len(found)}"
            )
        return found

    def delete_bucket(self, bucket_key: str) -> None:
        """Delete a bucket, as a user would on the website; its key then answers 400."""
        ids = self._bucket_ids(bucket_key)
        if not ids:
            raise KeyError(bucket_key)
        for bucket_id in ids:
            self.store.delete_bucket(bucket_id)

    def streamer(self, bucket_name: str = "Test Bucket", bucket_key: str = "test_bucket",
                 **kwargs: Any) -> Streamer:
        """A Streamer aimed at this receiver; closed when the test ends."""
        from isstreamer import Streamer

        kwargs.setdefault("access_key", self.access_key)
        kwargs.setdefault("stream_api_base", self.base_url)
        kwargs.setdefault("offline", False)
        made = Streamer(bucket_name=bucket_name, bucket_key=bucket_key, **kwargs)
        self._streamers.append(made)
        return made

    def _bucket_ids(self, bucket_key: str) -> List[int]:
        return [b.id for b in self.store.buckets(bucket_key=bucket_key, include_removed=False)]

    def close(self) -> None:
        for made in self._streamers:
            try:
                made.close(timeout=5)
            except Exception:  # a test's own failure already says what went wrong
                pass
        self.receiver.stop()


@pytest.fixture
def isstreamer_receiver_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., ReceiverHandle]]:
    """Start receivers with options: ``factory(access_keys=[...], rate_limit=N,
    enforce_limits=True)``; each is stopped at teardown."""
    from isstreamer.receiver import Options, Receiver

    started: List[ReceiverHandle] = []

    def start(*, access_keys: Iterable[str] = (), rate_limit: Optional[int] = None,
              enforce_limits: bool = False, db_path: Optional[str] = None) -> ReceiverHandle:
        if db_path is None:
            db_path = os.path.join(str(tmp_path_factory.mktemp("isstreamer-receiver")),
                                   "receiver.db")
        options = Options(access_keys=frozenset(access_keys), rate_limit=rate_limit,
                          enforce_limits=enforce_limits)
        keys = list(access_keys)
        handle = ReceiverHandle(Receiver(db_path, options=options).start(),
                                keys[0] if keys else DEFAULT_ACCESS_KEY)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.close()


@pytest.fixture
def isstreamer_receiver(
    isstreamer_receiver_factory: Callable[..., ReceiverHandle],
) -> ReceiverHandle:
    """A fresh local receiver for this test: ``.base_url``, ``.events()``, ``.streamer()``."""
    return isstreamer_receiver_factory()
