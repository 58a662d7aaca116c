"""StreamerHandler: log records become events, on the root logger too, with no recursion."""

from __future__ import annotations

import logging
import threading
from typing import Iterator, List

import pytest

from isstreamer import ConfigError, StreamerHandler


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger at DEBUG; handlers and level restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.setLevel(logging.DEBUG)
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


class Recorder(logging.Handler):
    """Keeps the records it sees, to compare with what the receiver stored."""

    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_root_handler_delivers_records_and_ignores_the_senders_loggers(
    isstreamer_receiver, root_logger
) -> None:
    # debug_level=2: every request the sender makes is logged at DEBUG on "isstreamer", which
    # propagates to the root logger and so to this handler. Were those records turned into
    # events, each request would cause another one, forever.
    streamer = isstreamer_receiver.streamer(bucket_key="logs", debug_level=2)
    handler = StreamerHandler(streamer, key="{name}.{levelname}")
    recorder = Recorder()
    root_logger.addHandler(handler)
    logging.getLogger("app.sensor").addHandler(recorder)

    for i in range(25):
        logging.getLogger("app.sensor").info("reading %d", i)
    logging.getLogger("urllib3.connectionpool").debug("urllib3 noise")
    logging.getLogger("requests").warning("requests noise")
    logging.getLogger("isstreamer.sender").warning("our own noise")
    assert streamer.flush(timeout=10)
    assert streamer.stats()["requests"] >= 3  # it did log requests while we listened

    events = isstreamer_receiver.events("logs")
    assert [e.value for e in events] == [f"reading {i}" for i in range(25)]
    assert {e.key for e in events} == {"app.sensor.INFO"}
    created = [r.created for r in recorder.records]
    assert [e.epoch for e in events] == pytest.approx(created, abs=1e-3)


def test_a_formatter_that_logs_does_not_recurse(isstreamer_receiver, root_logger) -> None:
    class Chatty(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            logging.getLogger("app.formatter").warning("formatting %r", record.msg)
            return super().format(record)

    streamer = isstreamer_receiver.streamer(bucket_key="chatty")
    handler = StreamerHandler(streamer)
    handler.setFormatter(Chatty("%(levelname)s %(message)s"))
    root_logger.addHandler(handler)
    logging.getLogger("app").warning("hello")
    logging.getLogger().error("from root")
    assert streamer.flush(timeout=10)
    events = isstreamer_receiver.events("chatty")
    assert [(e.key, e.value) for e in events] == [
        ("app", "WARNING hello"),
        ("root", "ERROR from root"),
    ]


def test_many_threads_logging_through_the_root_logger_finish(
    isstreamer_receiver, root_logger
) -> None:
    # With debug_level=2 the sender thread logs every request through the same root logger
    # the producers use; nobody may wait on anybody, and each thread's events keep their order.
    streamer = isstreamer_receiver.streamer(bucket_key="threads", debug_level=2, buffer_size=50)
    root_logger.addHandler(StreamerHandler(streamer, key="t{threadName}"))
    per_thread = 300

    def work() -> None:
        log = logging.getLogger("app.worker")
        for i in range(per_thread):
            log.debug("%d", i)

    threads = [threading.Thread(target=work, name=str(n)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "logging threads are stuck"
    assert streamer.flush(timeout=20)
    events = isstreamer_receiver.events("threads")
    assert len(events) == 6 * per_thread
    for n in range(6):
        assert [e.value for e in events if e.key == f"t{n}"] == [str(i) for i in range(per_thread)]


def test_long_messages_are_cut_and_exceptions_included(isstreamer_receiver) -> None:
    streamer = isstreamer_receiver.streamer(bucket_key="long")
    log = logging.getLogger("app.long")
    log.propagate = False
    handler = StreamerHandler(streamer, key="log", level=logging.INFO)
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        log.debug("below the handler's level")
        log.info("x" * 5000)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    assert streamer.flush(timeout=10)
    values = isstreamer_receiver.values("log", bucket_key="long")
    assert len(values) == 2
    assert len(values[0]) == 2000 and values[0].endswith("...")
    assert values[1].startswith("failed\nTraceback") and "RuntimeError: boom" in values[1]


def test_bad_configuration_is_refused_at_construction(isstreamer_receiver) -> None:
    streamer = isstreamer_receiver.streamer(bucket_key="cfg")
    with pytest.raises(ConfigError, match="nosuchfield"):
        StreamerHandler(streamer, key="{nosuchfield}")
    blocking = isstreamer_receiver.streamer(bucket_key="cfg2", use_async=False)
    with pytest.raises(ConfigError, match="use_async=True"):
        StreamerHandler(blocking)
    handler = StreamerHandler(streamer, ignore_loggers=["noisy"])
    assert handler.ignores("noisy") and handler.ignores("noisy.child")
    assert not handler.ignores("noisyish") and not handler.ignores("isstreamer")
