"""The requests an ISStreamer script produces: paths, headers, bodies, batching."""

from __future__ import annotations

import json

from fake_api import FakeAPI

from isstreamer import __version__


def run_is_example(streamer) -> None:
    """The original installer's is_example.py flow (47 events), minus its 0.1 s sleeps."""
    streamer.log("My Messages", "Stream Starting")
    for n in range(1, 20):
        streamer.log("My Numbers", n)
        streamer.log("My Booleans", n % 2 == 1)
        if n % 3 == 0:
            streamer.log("My Events", "pop")
        if n == 10:
            streamer.log("My Messages", "Stream Half Done")
    streamer.log("My Messages", "Stream Done")


def test_is_example_wire_format(api: FakeAPI, make_streamer) -> None:
    # A long flush interval makes batching depend on buffer_size alone: 10, 10, 10, 10, 7.
    # (With the default 1 s interval and the example's 0.1 s sleeps, ~23 events/s still fill
    # each batch of 10 well before the interval passes, so the split is the same.)
    s = make_streamer(
        bucket_name="Python Stream Example",
        bucket_key="python_example",
        access_key="ist_abcdefgh12345678",
        flush_interval=60,
    )
    run_is_example(s)
    assert s.close(timeout=10) is True

    reqs = api.requests
    assert [r.path for r in reqs] == ["/api/buckets"] + ["/api/events"] * 5
    assert all(r.method == "POST" for r in reqs)
    assert reqs[0].json() == {"bucketKey": "python_example", "bucketName": "Python Stream Example"}
    sizes = [len(r.json()) for r in reqs[1:]]
    assert sizes == [10, 10, 10, 10, 7]
    for r in reqs:
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Accept-Version"] == "<=0.0.4"
        assert r.headers["X-IS-AccessKey"] == "ist_abcdefgh12345678"
        assert r.headers["X-IS-BucketKey"] == "python_example"
        assert r.headers["User-Agent"].startswith(f"isstreamer/{__version__}")
    events = api.events("python_example")
    assert len(events) == 47
    assert all(set(e) == {"key", "value", "epoch"} for e in events)
    assert events[0] == {"key": "My Messages", "value": "Stream Starting",
                         "epoch": events[0]["epoch"]}
    assert [e["value"] for e in events if e["key"] == "My Numbers"] == list(range(1, 20))
    assert [e["value"] for e in events if e["key"] == "My Booleans"] == [
        n % 2 == 1 for n in range(1, 20)
    ]
    assert [e["value"] for e in events if e["key"] == "My Events"] == ["pop"] * 6
    assert [e["value"] for e in events if e["key"] == "My Messages"] == [
        "Stream Starting", "Stream Half Done", "Stream Done"
    ]
    epochs = [e["epoch"] for e in events]
    assert epochs == sorted(epochs)


def test_bucket_is_created_before_its_first_events(api: FakeAPI, make_streamer) -> None:
    # The bucket request fails twice (503) before it succeeds: no event may arrive before it.
    api.script(503, 503)
    s = make_streamer(buffer_size=2)
    for i in range(6):
        s.log("n", i)
    assert s.flush(timeout=10) is True
    paths = [(r.path, r.status) for r in api.requests]
    first_ok_bucket = paths.index(("/api/buckets", 201))
    assert all(p == "/api/buckets" for p, _ in paths[: first_ok_bucket + 1])
    assert [e["value"] for e in api.events("test_bucket")] == list(range(6))


def test_one_connection_is_reused(api: FakeAPI, make_streamer) -> None:
    s = make_streamer(buffer_size=5)
    for i in range(50):
        s.log("n", i)
    assert s.flush(timeout=10)
    assert len(api.requests) == 11
    assert len(api.client_ports()) == 1, api.client_ports()


def test_set_bucket_routes_each_event_to_the_bucket_current_when_logged(
    api: FakeAPI, make_streamer
) -> None:
    s = make_streamer(bucket_name="First", bucket_key="first", flush_interval=60)
    s.log("key1", "starting")
    s.log("a", 1)
    s.set_bucket("Second", "second")
    s.log("key1", "starting")
    s.log("b", 2)
    assert s.BucketKey == "second" and s.BucketName == "Second"
    assert s.flush(timeout=10)
    assert [(e["key"], e["value"]) for e in api.events("first")] == [("key1", "starting"), ("a", 1)]
    second = [(e["key"], e["value"]) for e in api.events("second")]
    assert second == [("key1", "starting"), ("b", 2)]
    assert api.buckets() == {"first": "First", "second": "Second"}
    # every events request names the bucket its events belong to
    for r in api.posts("/api/events"):
        keys = {e["key"] for e in r.json()}
        assert r.headers["X-IS-BucketKey"] == ("first" if "a" in keys else "second")


def test_set_bucket_without_key_makes_a_new_uuid_bucket(api: FakeAPI, make_streamer) -> None:
    s = make_streamer()
    s.set_bucket("Fresh")
    assert len(s.BucketKey) == 36 and s.BucketKey.count("-") == 4
    s.log("x", 1)
    assert s.flush(timeout=10)
    assert api.buckets()[s.BucketKey] == "Fresh"


def test_no_bucket_key_means_a_new_uuid_each_run(api: FakeAPI, make_streamer) -> None:
    a = make_streamer("A", "", "ist_key_one_1234")
    b = make_streamer("B", None, "ist_key_one_1234")
    assert a.BucketKey != b.BucketKey and len(a.BucketKey) == 36
    assert a.flush(timeout=10) and b.flush(timeout=10)
    assert set(api.buckets()) == {a.BucketKey, b.BucketKey}


def test_a_slow_logger_is_delivered_within_the_flush_interval(
    api: FakeAPI, make_streamer
) -> None:
    s = make_streamer(flush_interval=0.2)  # buffer_size 10 never fills here
    s.log("slow", 1)
    assert api.wait_for(lambda a: len(a.events("test_bucket")) == 1, timeout=5)
    s.log("slow", 2)
    assert api.wait_for(lambda a: len(a.events("test_bucket")) == 2, timeout=5)
    assert [len(r.json()) for r in api.posts("/api/events")] == [1, 1]


def test_bodies_stay_under_one_megabyte(api: FakeAPI, make_streamer) -> None:
    s = make_streamer(buffer_size=1000, flush_interval=60)
    big = "x" * 2000
    for i in range(1000):  # ~2 MB of values in one buffer_size batch
        s.log(f"k{i % 7}", big)
    assert s.flush(timeout=20)
    posts = api.posts("/api/events")
    assert len(posts) >= 3
    assert all(len(r.body) <= 1_000_000 for r in posts)
    assert sum(len(r.json()) for r in posts) == 1000


def test_events_from_one_thread_keep_their_order_across_batches(
    api: FakeAPI, make_streamer
) -> None:
    s = make_streamer(buffer_size=7)
    for i in range(500):
        s.log("seq", i)
    assert s.flush(timeout=10)
    assert [e["value"] for e in api.events("test_bucket")] == list(range(500))


def test_body_is_compact_valid_json(api: FakeAPI, make_streamer) -> None:
    s = make_streamer()
    s.log("unicode", "température ☃")
    assert s.flush(timeout=10)
    body = api.posts("/api/events")[0].body
    json.loads(body.decode("ascii"))  # ASCII-safe JSON
    assert body.startswith(b'[{"key":"unicode","value":"temp\\u00e9rature \\u2603","epoch":')
    assert api.events("test_bucket")[0]["value"] == "température ☃"
