"""Retries, give-ups and the messages users see, against a misbehaving loopback server."""

from __future__ import annotations

import email.utils
import logging
import time

import pytest
from fake_api import FakeAPI

from isstreamer.transport import Outcome, classify, parse_retry_after


def values(api: FakeAPI, bucket: str = "test_bucket") -> list:
    return [e["value"] for e in api.events(bucket)]


@pytest.mark.parametrize("fault", [500, 502, 503, 504, 408, "reset"])
def test_retryable_failures_are_retried_until_delivered(api: FakeAPI, make_streamer, fault) -> None:
    s = make_streamer(buffer_size=5)
    assert s.flush(timeout=10)  # bucket exists
    api.script_events(fault, fault)
    for i in range(5):
        s.log("n", i)
    assert s.flush(timeout=10) is True
    assert values(api) == [0, 1, 2, 3, 4]
    assert s.stats()["retries"] == 2
    assert s.stats()["failed"] == 0


def test_429_with_retry_after_seconds_waits_at_least_that_long(api: FakeAPI, make_streamer) -> None:
    s = make_streamer()
    assert s.flush(timeout=10)
    api.script_events((429, {"Retry-After": "1"}, b""))
    s.log("n", 1)
    started = time.monotonic()
    assert s.flush(timeout=10)
    assert time.monotonic() - started >= 1.0
    assert values(api) == [1]


def test_429_with_retry_after_http_date(api: FakeAPI, make_streamer) -> None:
    s = make_streamer()
    assert s.flush(timeout=10)
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    api.script_events((429, {"Retry-After": when}, b""))
    s.log("n", 1)
    started = time.monotonic()
    assert s.flush(timeout=10)
    assert time.monotonic() - started >= 0.9  # HTTP-dates have whole-second resolution
    assert values(api) == [1]


def test_429_without_retry_after_backs_off_and_delivers(api: FakeAPI, make_streamer) -> None:
    s = make_streamer()
    assert s.flush(timeout=10)
    api.script_events(429, 429, 429)
    s.log("n", 1)
    assert s.flush(timeout=10)
    assert values(api) == [1]
    assert s.stats()["retries"] == 3


def test_a_server_that_never_answers_is_timed_out_and_retried(api: FakeAPI, make_streamer) -> None:
    s = make_streamer(request_timeout=0.5)
    assert s.flush(timeout=10)
    api.script_events("hang")
    s.log("n", 1)
    assert s.flush(timeout=10)
    assert values(api) == [1]


def test_giving_up_spools_and_says_where(
    api: FakeAPI, make_streamer, caplog: pytest.LogCaptureFixture, tmp_path
) -> None:
    s = make_streamer(retry_time=0.3, spool_dir=str(tmp_path / "spool"))
    assert s.flush(timeout=10)
    api.always(503)
    for i in range(3):
        s.log("n", i)
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        assert s.flush(timeout=10) is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(tmp_path / "spool") in m for m in warnings), warnings
    assert any("not answering" in m and "HTTP 503" in m for m in warnings), warnings
    st = s.stats()
    assert st["spooled"] == 3 and st["logged"] == 3 and st["pending"] == 0

    s.close()
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


def test_without_a_spool_giving_up_is_an_error_with_the_count(
    api: FakeAPI, make_streamer, caplog: pytest.LogCaptureFixture
) -> None:
    s = make_streamer(retry_time=0.3, use_spool=False, overflow="drop_oldest")
    assert s.flush(timeout=10)
    api.always(503)
    for i in range(3):
        s.log("n", i)
    with caplog.at_level(logging.ERROR, logger="isstreamer"):
        assert s.flush(timeout=10) is False
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("3 events" in m and "not delivered" in m for m in errors), errors
    st = s.stats()
    assert st["failed"] == 3 and st["logged"] == 3 and st["pending"] == 0


def test_413_splits_the_batch(api: FakeAPI, make_streamer) -> None:
    s = make_streamer(buffer_size=8, flush_interval=60)
    assert s.flush(timeout=10)
    api.script_events(413, 413)
    for i in range(8):
        s.log("n", i)
    assert s.flush(timeout=10)
    sizes = [len(r.json()) for r in api.posts("/api/events")]
    assert sizes == [8, 4, 2, 2, 4]
    assert values(api) == list(range(8))


@pytest.mark.parametrize(
    "status, words",
    [
        (401, ["refused access key", "****9876", "ISS_ACCESS_KEY"]),
        (403, ["refused access key", "****9876"]),
        (402, ["monthly event limit"]),
    ],
)
def test_permanent_refusals_say_once_what_to_do(
    api: FakeAPI, make_streamer, caplog: pytest.LogCaptureFixture, status: int, words: list
) -> None:
    s = make_streamer(buffer_size=2)
    assert s.flush(timeout=10)
    api.always(status)
    with caplog.at_level(logging.DEBUG, logger="isstreamer"):
        for i in range(6):
            s.log("n", i)
        assert s.flush(timeout=10) is False
    # no hot retries: the first refusal stops sending; the rest goes straight to the spool
    assert len(api.posts("/api/events")) == 1
    explanations = [r for r in caplog.records if all(w in r.getMessage() for w in words)]
    assert len(explanations) == 1 and explanations[0].levelno == logging.ERROR
    text = caplog.text
    assert "ist_test_access_key_9876" not in text
    assert s.stats()["spooled"] == 6 and s.stats()["failed"] == 0


def test_deleted_bucket_tells_the_user_to_pick_a_new_key(
    api: FakeAPI, make_streamer, caplog: pytest.LogCaptureFixture
) -> None:
    api.remove_bucket("gone")
    with caplog.at_level(logging.ERROR, logger="isstreamer"):
        s = make_streamer(bucket_key="gone")
        s.log("n", 1)
        assert s.flush(timeout=10) is False
    assert len(api.posts("/api/buckets")) == 1  # not retried
    assert api.posts("/api/events") == []  # events never go to a bucket that was refused
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("deleted bucket" in m and "choose a new bucket_key" in m for m in msgs) == 1


def test_classify_maps_every_status_to_one_decision() -> None:
    assert classify(204, {}, b"").outcome is Outcome.OK
    assert classify(201, {}, b"").outcome is Outcome.OK
    for status in (408, 429, 500, 502, 503, 504):
        assert classify(status, {}, b"").outcome is Outcome.RETRY
    assert classify(413, {}, b"").outcome is Outcome.SPLIT
    assert classify(401, {}, b"").outcome is Outcome.UNAUTHORIZED
    assert classify(403, {}, b"ACCESS_DENIED_KEY").outcome is Outcome.UNAUTHORIZED
    assert classify(402, {}, b"").outcome is Outcome.QUOTA
    removed = b'{"message":{"error":{"type":"BUCKET_REMOVED","message":"x"}}}'
    assert classify(400, {}, removed).outcome is Outcome.BUCKET_REMOVED
    assert classify(400, {}, b"not json").outcome is Outcome.REJECTED
    reply = classify(204, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000000"}, b"")
    assert reply.rate_remaining == 0 and reply.rate_reset == 1700000000.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(10.0)
    assert parse_retry_after(email.utils.formatdate(5, usegmt=True), now=100) == 0.0


def test_rate_limit_headers_pace_the_sender(api: FakeAPI, make_streamer) -> None:
    s = make_streamer(buffer_size=1)
    assert s.flush(timeout=10)
    reset = int(time.time()) + 2
    api.state.rate_headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    s.log("n", 1)
    s.log("n", 2)
    assert s.flush(timeout=10)
    posts = api.posts("/api/events")
    assert len(posts) == 2
    assert time.time() >= reset - 0.01  # the second request waited for the window to reset


def test_a_failure_after_a_split_spools_only_what_did_not_arrive(
    api: FakeAPI, make_streamer, tmp_path
) -> None:
    from isstreamer.spool import Spool, key_fingerprint

    spool_dir = str(tmp_path / "spool")
    s = make_streamer(buffer_size=8, flush_interval=60, spool_dir=spool_dir)
    assert s.flush(timeout=10)
    api.script_events(413, None, 400)  # too large; first half stored; second half refused
    for i in range(8):
        s.log("n", i)
    assert s.flush(timeout=10) is False
    assert values(api) == [0, 1, 2, 3]
    spool = Spool(spool_dir, key_fingerprint("ist_test_access_key_9876"))
    assert spool.pending() == []  # refused for good: never replayed automatically
    saved = [spool.read(n) for n in spool.pending(include_refused=True)]
    assert [e[1] for b in saved for e in b.events] == [4, 5, 6, 7]
    assert saved[0].refused == "rejected"
    st = s.stats()
    assert st["sent"] == 4 and st["spooled"] == 4 and st["logged"] == 8
