"""The receiver's events API, driven with raw HTTP like any client: status codes, stored rows."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import pytest
import requests
from receiver_helpers import ACCESS_KEY, create_bucket, error_type, headers, send_events

from isstreamer.receiver import Receiver


def test_versions(isstreamer_receiver: Any) -> None:
    answer = requests.get(isstreamer_receiver.url("/api/versions"), timeout=10)
    assert answer.status_code == 200
    assert answer.json() == ["0.0.1", "0.0.2", "0.0.3", "0.0.4"]


def test_bucket_created_then_exists_and_first_name_wins(isstreamer_receiver: Any) -> None:
    base = isstreamer_receiver.base_url
    assert create_bucket(base, "garden", "Garden").status_code == 201
    again = create_bucket(base, "garden", "Another Name")
    assert again.status_code == 204
    assert again.content == b""
    (bucket,) = isstreamer_receiver.buckets()
    assert (bucket.bucket_key, bucket.name) == ("garden", "Garden")


def test_bucket_url_parameter_form(isstreamer_receiver: Any) -> None:
    url = isstreamer_receiver.url("/api/buckets")
    params = {"accessKey": ACCESS_KEY, "bucketKey": "pi", "bucketName": "Pi Health"}
    assert requests.post(url, params=params, timeout=10).status_code == 201
    assert requests.post(url, params=params, timeout=10).status_code == 204
    (bucket,) = isstreamer_receiver.buckets()
    assert (bucket.bucket_key, bucket.name) == ("pi", "Pi Health")


def test_bucket_name_defaults_to_key(isstreamer_receiver: Any) -> None:
    assert create_bucket(isstreamer_receiver.base_url, "no_name").status_code == 201
    assert isstreamer_receiver.buckets()[0].name == "no_name"


def test_buckets_are_per_access_key(isstreamer_receiver: Any) -> None:
    base = isstreamer_receiver.base_url
    assert create_bucket(base, "shared", "Mine", access_key="ist_one_1111").status_code == 201
    assert create_bucket(base, "shared", "Theirs", access_key="ist_two_2222").status_code == 201
    names = sorted(b.name for b in isstreamer_receiver.buckets())
    assert names == ["Mine", "Theirs"]


def test_events_array_with_epochs_are_stored_in_order(isstreamer_receiver: Any) -> None:
    base = isstreamer_receiver.base_url
    create_bucket(base, "bucket", "B")
    batch = [{"key": "temp", "value": 20 + i, "epoch": 1_700_000_000.5 + i} for i in range(10)]
    answer = send_events(base, batch)
    assert answer.status_code == 204
    rows = isstreamer_receiver.events("bucket")
    assert [(r.key, r.value, r.epoch) for r in rows] == [
        ("temp", 20 + i, 1_700_000_000.5 + i) for i in range(10)
    ]


def test_single_event_object_and_value_types(isstreamer_receiver: Any) -> None:
    base = isstreamer_receiver.base_url
    for value in ("open", 3, 2.5, True, False, ""):
        assert send_events(base, {"key": "k", "value": value}).status_code == 204
    assert isstreamer_receiver.values("k") == ["open", 3, 2.5, True, False, ""]


def test_iso8601_and_server_time(isstreamer_receiver: Any) -> None:
    base = isstreamer_receiver.base_url
    before = time.time()
    batch = [
        {"key": "iso", "value": 1, "iso8601": "2024-05-01T12:30:00Z"},
        {"key": "iso_offset", "value": 1, "iso8601": "2024-05-01T14:30:00.250+02:00"},
        {"key": "both", "value": 1, "epoch": 1_700_000_000, "iso8601": "2024-05-01T12:30:00Z"},
        {"key": "none", "value": 1},
        {"key": "ancient", "value": 1, "epoch": 1_000_000},
    ]
    assert send_events(base, batch).status_code == 204
    after = time.time()
    stamps = {r.key: r.epoch for r in isstreamer_receiver.events()}
    assert stamps["iso"] == 1_714_566_600.0
    assert stamps["iso_offset"] == 1_714_566_600.25
    assert stamps["both"] == 1_700_000_000  # a valid epoch wins over iso8601
    assert before <= stamps["none"] <= after
    assert before <= stamps["ancient"] <= after  # 10+ years old: replaced by server time


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_url_parameter_events(isstreamer_receiver: Any, method: str) -> None:
    url = isstreamer_receiver.url("/api/events")
    query = f"accessKey={ACCESS_KEY}&bucketKey=device&temperature=21.5&door=open&door=closed"
    answer = requests.request(method, f"{url}?{query}", timeout=10)
    assert answer.status_code == 204
    rows = isstreamer_receiver.events("device")
    assert [(r.key, r.value) for r in rows] == [
        ("temperature", "21.5"), ("door", "open"), ("door", "closed")
    ]
    assert "X-RateLimit-Limit" in answer.headers


def test_events_for_unknown_bucket_create_it(isstreamer_receiver: Any) -> None:
    assert send_events(isstreamer_receiver.base_url, [{"key": "a", "value": 1}],
                       bucket_key="never_created").status_code == 204
    (bucket,) = isstreamer_receiver.buckets()
    assert (bucket.bucket_key, bucket.name, bucket.events) == ("never_created", "never_created", 1)


@pytest.mark.parametrize("path", ["/api/events", "/api/buckets"])
def test_missing_access_key_is_401(isstreamer_receiver: Any, path: str) -> None:
    answer = requests.post(isstreamer_receiver.url(path),
                           data=json.dumps({"bucketKey": "b", "key": "k", "value": 1}),
                           headers=headers("b", access_key=None), timeout=10)
    assert answer.status_code == 401
    assert error_type(answer) == "UNAUTHORIZED"
    assert isstreamer_receiver.buckets() == []


def test_access_key_list(isstreamer_receiver_factory: Any) -> None:
    handle = isstreamer_receiver_factory(access_keys=["ist_good_key_0001"])
    base = handle.base_url
    bad = send_events(base, [{"key": "k", "value": 1}], access_key="ist_other_key")
    assert bad.status_code == 401
    assert "ist_other_key" not in bad.text  # never echo a key back
    assert create_bucket(base, "b", access_key="ist_other_key").status_code == 401
    good = send_events(base, [{"key": "k", "value": 1}], access_key="ist_good_key_0001")
    assert good.status_code == 204
    assert len(handle.events()) == 1


def test_rate_limit_headers_without_a_limit(isstreamer_receiver: Any) -> None:
    first = send_events(isstreamer_receiver.base_url, [{"key": "k", "value": 1}])
    second = send_events(isstreamer_receiver.base_url, [{"key": "k", "value": 2}])
    limit = int(first.headers["X-RateLimit-Limit"])
    assert int(first.headers["X-RateLimit-Remaining"]) == limit - 1
    assert int(second.headers["X-RateLimit-Remaining"]) == limit - 2
    reset = int(first.headers["X-RateLimit-Reset"])
    assert time.time() - 1 <= reset <= time.time() + 11
    assert "Retry-After" not in first.headers


def test_rate_limit_answers_429_and_stores_nothing(isstreamer_receiver_factory: Any) -> None:
    handle = isstreamer_receiver_factory(rate_limit=3)
    base = handle.base_url
    answers = [send_events(base, [{"key": "k", "value": i}]) for i in range(5)]
    codes = [a.status_code for a in answers]
    # The 10 s window may roll over between requests; at most 3 fit in one window.
    assert codes.count(429) >= 1, codes
    limited = answers[codes.index(429)]
    assert limited.headers["X-RateLimit-Limit"] == "3"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(limited.headers["Retry-After"]) <= 10
    assert error_type(limited) == "RATE_LIMITED"
    assert len(handle.events()) == codes.count(204)
    other = send_events(base, [{"key": "k", "value": 1}], access_key="ist_another_account")
    assert other.status_code == 204  # limits are per access key


def test_body_over_1mb_is_413_with_limits(isstreamer_receiver_factory: Any) -> None:
    handle = isstreamer_receiver_factory(enforce_limits=True)
    batch = [{"key": "k", "value": "x" * 1900, "epoch": 1_700_000_000}] * 530  # ~1.03 MB
    body = json.dumps(batch).encode()
    assert len(body) > 1_000_000
    answer = send_events(handle.base_url, body)
    assert answer.status_code == 413
    assert error_type(answer) == "BODY_TOO_LARGE"
    assert handle.events() == []


def test_huge_body_is_413_even_without_limits(isstreamer_receiver: Any) -> None:
    body = b"[" + b" " * 3_000_000 + b"]"
    answer = send_events(isstreamer_receiver.base_url, body)
    assert answer.status_code == 413
    assert isstreamer_receiver.events() == []


def test_length_limits_only_when_enforced(isstreamer_receiver_factory: Any) -> None:
    relaxed = isstreamer_receiver_factory()
    strict = isstreamer_receiver_factory(enforce_limits=True)
    long_key = [{"key": "k" * 251, "value": 1}]
    long_value = [{"key": "k", "value": "v" * 2001}]
    ok_edge = [{"key": "k" * 250, "value": "v" * 2000}]
    assert send_events(relaxed.base_url, long_key).status_code == 204
    assert send_events(relaxed.base_url, long_value).status_code == 204
    key_answer = send_events(strict.base_url, long_key)
    value_answer = send_events(strict.base_url, long_value)
    assert (key_answer.status_code, error_type(key_answer)) == (400, "KEY_TOO_LONG")
    assert (value_answer.status_code, error_type(value_answer)) == (400, "VALUE_TOO_LONG")
    assert send_events(strict.base_url, ok_edge).status_code == 204
    assert len(strict.events()) == 1


def test_deleted_bucket_answers_bucket_removed(isstreamer_receiver: Any) -> None:
    base = isstreamer_receiver.base_url
    assert create_bucket(base, "old", "Old").status_code == 201
    assert send_events(base, [{"key": "k", "value": 1}], bucket_key="old").status_code == 204
    (bucket,) = isstreamer_receiver.buckets()
    assert requests.delete(isstreamer_receiver.url(f"/read/buckets/{bucket.id}"),
                           timeout=10).status_code == 204
    for answer in (create_bucket(base, "old", "Old"),
                   send_events(base, [{"key": "k", "value": 2}], bucket_key="old"),
                   requests.get(base + "/api/events", timeout=10,
                                params={"accessKey": ACCESS_KEY, "bucketKey": "old", "k": "3"})):
        assert answer.status_code == 400
        error = answer.json()["message"]["error"]
        assert error["type"] == "BUCKET_REMOVED"
        assert "old" in error["message"]
    assert isstreamer_receiver.events() == []
    # Another account may still use the same bucket key.
    assert create_bucket(base, "old", access_key="ist_someone_else").status_code == 201
    # Deleting twice is a 404, not a second tombstone.
    assert requests.delete(isstreamer_receiver.url(f"/read/buckets/{bucket.id}"),
                           timeout=10).status_code == 404


def test_data_survives_a_restart(tmp_path: Any) -> None:
    db = str(tmp_path / "persist.db")
    with Receiver(db) as first:
        create_bucket(first.base_url, "keep", "Keep")
        send_events(first.base_url, [{"key": "k", "value": i} for i in range(3)],
                    bucket_key="keep")
    with Receiver(db) as second:
        assert create_bucket(second.base_url, "keep", "Renamed").status_code == 204
        rows = second.store.events()
        assert [r.value for r in rows] == [0, 1, 2]
        assert second.store.buckets()[0].name == "Keep"


def test_keep_alive_connection_is_reused(isstreamer_receiver: Any) -> None:
    host, port = isstreamer_receiver.base_url[len("http://"):].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        sockets = []
        for i in range(3):
            conn.request("POST", "/api/events", body=json.dumps([{"key": "k", "value": i}]),
                         headers=headers())
            answer = conn.getresponse()
            answer.read()
            assert answer.status == 204
            sockets.append(conn.sock)
        assert sockets[0] is not None and sockets[0] is sockets[1] is sockets[2]
    finally:
        conn.close()
    assert isstreamer_receiver.values("k") == [0, 1, 2]
