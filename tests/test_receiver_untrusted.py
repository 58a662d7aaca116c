"""The receiver never trusts input: every bad request gets a clear 4xx JSON error and stores
nothing, and the page escapes whatever clients sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from receiver_helpers import (
    ACCESS_KEY,
    body_of,
    create_bucket,
    error_type,
    raw_exchange,
    send_events,
)

BAD_BODIES = [
    (b"", "NO_EVENTS"),
    (b"{not json", "INVALID_JSON"),
    (b"[1, 2", "INVALID_JSON"),
    (b'"just a string"', "INVALID_BODY"),
    (b"42", "INVALID_BODY"),
    (b"null", "INVALID_BODY"),
    (b"[]", "INVALID_BODY"),
    (b"[1]", "INVALID_EVENT"),
    (b'[{"value": 1}]', "INVALID_KEY"),
    (b'[{"key": "", "value": 1}]', "INVALID_KEY"),
    (b'[{"key": 5, "value": 1}]', "INVALID_KEY"),
    (b'[{"key": "k"}]', "INVALID_VALUE"),
    (b'[{"key": "k", "value": null}]', "INVALID_VALUE"),
    (b'[{"key": "k", "value": {"a": 1}}]', "INVALID_VALUE"),
    (b'[{"key": "k", "value": [1]}]', "INVALID_VALUE"),
    (b'[{"key": "k", "value": NaN}]', "INVALID_JSON"),
    (b'[{"key": "k", "value": Infinity}]', "INVALID_JSON"),
    (b'[{"key": "k", "value": 1, "epoch": "soon"}]', "INVALID_EPOCH"),
    (b'[{"key": "k", "value": 1, "epoch": true}]', "INVALID_EPOCH"),
    (b'[{"key": "k", "value": 1, "epoch": [1]}]', "INVALID_EPOCH"),
    (b'[{"key": "k", "value": 1, "epoch": 1e300}]', "INVALID_EPOCH"),
    (b'[{"key": "k", "value": 1, "iso8601": "yesterday"}]', "INVALID_ISO8601"),
    (b'[{"key": "k", "value": 1, "iso8601": "2024-13-45T99:00:00Z"}]', "INVALID_ISO8601"),
    (b'[{"key": "k", "value": 1, "iso8601": 12}]', "INVALID_ISO8601"),
    ('[{"key": "caf\u00e9", "value": 1}]'.encode("latin-1"), "INVALID_ENCODING"),
    (b'[{"key": "k", "value": "\xff\xfe"}]', "INVALID_ENCODING"),
]


@pytest.mark.parametrize("body,kind", BAD_BODIES, ids=[k + str(i) for i, (_, k) in
                                                        enumerate(BAD_BODIES)])
def test_bad_event_bodies_are_400_and_store_nothing(isstreamer_receiver: Any, body: bytes,
                                                     kind: str) -> None:
    answer = send_events(isstreamer_receiver.base_url, body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    error = answer.json()["message"]["error"]
    assert error["type"] == kind
    assert error["message"]
    assert isstreamer_receiver.events() == []
    assert isstreamer_receiver.buckets() == []


def test_one_bad_event_rejects_the_whole_batch(isstreamer_receiver: Any) -> None:
    batch = [{"key": "k", "value": i} for i in range(9)] + [{"key": "k", "value": {"x": 1}}]
    answer = send_events(isstreamer_receiver.base_url, batch)
    assert answer.status_code == 400
    assert "event 9" in answer.json()["message"]["error"]["message"]
    assert isstreamer_receiver.events() == []


@pytest.mark.parametrize("body,kind", [
    (b"[1]", "INVALID_BODY"),
    (b'{"bucketKey": 7}', "INVALID_BUCKET_KEY"),
    (b'{"bucketKey": "a:b"}', "INVALID_BUCKET_KEY"),
    (b'{"bucketKey": "a\\"b"}', "INVALID_BUCKET_KEY"),
    (b'{"bucketKey": "' + b"k" * 251 + b'"}', "INVALID_BUCKET_KEY"),
    (b'{"bucketKey": "ok", "bucketName": 5}', "INVALID_BUCKET_NAME"),
    (b'{"bucketKey": "ok", "bucketName": "' + b"n" * 251 + b'"}', "INVALID_BUCKET_NAME"),
    (b'{"bucketName": "no key"}', "MISSING_BUCKET_KEY"),
])
def test_bad_bucket_bodies(isstreamer_receiver: Any, body: bytes, kind: str) -> None:
    answer = requests.post(isstreamer_receiver.url("/api/buckets"), data=body, timeout=10,
                           headers={"X-IS-AccessKey": ACCESS_KEY,
                                    "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert error_type(answer) == kind
    assert isstreamer_receiver.buckets() == []


def test_missing_bucket_key_on_events(isstreamer_receiver: Any) -> None:
    answer = requests.post(isstreamer_receiver.url("/api/events"),
                           data=json.dumps([{"key": "k", "value": 1}]), timeout=10,
                           headers={"X-IS-AccessKey": ACCESS_KEY,
                                    "Content-Type": "application/json"})
    assert (answer.status_code, error_type(answer)) == (400, "MISSING_BUCKET_KEY")
    assert isstreamer_receiver.events() == []


def test_wrong_content_type_and_encoding(isstreamer_receiver: Any) -> None:
    base = isstreamer_receiver.base_url
    form = send_events(base, [{"key": "k", "value": 1}],
                       **{"Content-Type": "application/x-www-form-urlencoded"})
    assert (form.status_code, error_type(form)) == (415, "UNSUPPORTED_MEDIA_TYPE")
    gz = send_events(base, [{"key": "k", "value": 1}], **{"Content-Encoding": "gzip"})
    assert gz.status_code == 415
    assert isstreamer_receiver.events() == []


def test_non_utf8_url_parameters(isstreamer_receiver: Any) -> None:
    status, answer = raw_exchange(
        isstreamer_receiver.base_url,
        b"GET /api/events?accessKey=k&bucketKey=b&temp=%FF%FE HTTP/1.1\r\nHost: x\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert status == 400
    assert body_of(answer)["message"]["error"]["type"] == "INVALID_ENCODING"
    assert isstreamer_receiver.events() == []


def test_url_form_without_events(isstreamer_receiver: Any) -> None:
    answer = requests.get(isstreamer_receiver.url("/api/events"), timeout=10,
                          params={"accessKey": ACCESS_KEY, "bucketKey": "b"})
    assert (answer.status_code, error_type(answer)) == (400, "NO_EVENTS")


def test_chunked_body_is_refused(isstreamer_receiver: Any) -> None:
    chunk = b'[{"key":"k","value":1}]'
    request = (b"POST /api/events HTTP/1.1\r\nHost: x\r\nX-IS-AccessKey: k\r\n"
               b"X-IS-BucketKey: b\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n")
    status, answer = raw_exchange(isstreamer_receiver.base_url, request)
    assert status == 411
    assert b"Connection: close" in answer
    assert isstreamer_receiver.events() == []


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1e3"])
def test_bad_content_length(isstreamer_receiver: Any, length: bytes) -> None:
    request = (b"POST /api/events HTTP/1.1\r\nHost: x\r\nX-IS-AccessKey: k\r\n"
               b"X-IS-BucketKey: b\r\nContent-Length: " + length + b"\r\n\r\n[]")
    status, _ = raw_exchange(isstreamer_receiver.base_url, request)
    assert status == 400
    assert isstreamer_receiver.events() == []


def test_body_shorter_than_content_length(isstreamer_receiver: Any) -> None:
    request = (b"POST /api/events HTTP/1.1\r\nHost: x\r\nX-IS-AccessKey: k\r\n"
               b"X-IS-BucketKey: b\r\nContent-Type: application/json\r\n"
               b"Content-Length: 500\r\n\r\n" b'[{"key":"k","value":1}]')
    status, answer = raw_exchange(isstreamer_receiver.base_url, request)
    assert status == 400
    assert body_of(answer)["message"]["error"]["type"] == "INCOMPLETE_BODY"
    assert isstreamer_receiver.events() == []


def test_oversized_body_is_refused_unread(isstreamer_receiver: Any) -> None:
    # Only the headers are sent: the answer must come without waiting for 50 MB.
    request = (b"POST /api/events HTTP/1.1\r\nHost: x\r\nX-IS-AccessKey: k\r\n"
               b"X-IS-BucketKey: b\r\nContent-Type: application/json\r\n"
               b"Content-Length: 50000000\r\n\r\n[")
    status, answer = raw_exchange(isstreamer_receiver.base_url, request)
    assert status == 413
    assert b"Connection: close" in answer


@pytest.mark.parametrize("path", [
    "/static/../app.py", "/static/..%2Fapp.py", "/static/%2e%2e/store.py",
    "/static//etc/passwd", "/static/receiver.css/..", "/../../etc/passwd", "/api/../read/buckets",
    "/read/buckets/1/../../../etc/passwd", "/read/buckets/-1", "/read/buckets/1e3",
    "/read/buckets/99999999999999999999999", "/buckets/abc", "/api/nothing",
])
def test_path_tricks_get_404(isstreamer_receiver: Any, path: str) -> None:
    status, answer = raw_exchange(
        isstreamer_receiver.base_url,
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status == 404, answer[:300]
    assert b"root:" not in answer and b"import " not in answer
    assert body_of(answer)["message"]["error"]["type"] == "NOT_FOUND"


def test_garbage_request_line_gets_json_error(isstreamer_receiver: Any) -> None:
    status, answer = raw_exchange(isstreamer_receiver.base_url, b"HELLO\r\n\r\n")
    assert 400 <= status < 500
    status, answer = raw_exchange(isstreamer_receiver.base_url,
                                  b"BREW /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 501
    assert "HTTP_501" in json.dumps(body_of(answer))


def test_wrong_methods(isstreamer_receiver: Any) -> None:
    assert requests.get(isstreamer_receiver.url("/api/buckets"), timeout=10).status_code == 405
    assert requests.delete(isstreamer_receiver.url("/api/events"), timeout=10).status_code == 405
    assert requests.delete(isstreamer_receiver.url("/read/buckets"), timeout=10).status_code == 405


def test_get_events_with_a_body_is_refused(isstreamer_receiver: Any) -> None:
    answer = requests.get(isstreamer_receiver.url("/api/events"), timeout=10,
                          data=json.dumps([{"key": "k", "value": 1}]),
                          headers={"X-IS-AccessKey": ACCESS_KEY, "X-IS-BucketKey": "b",
                                   "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert isstreamer_receiver.events() == []


def test_page_escapes_everything_clients_send(isstreamer_receiver: Any) -> None:
    base = isstreamer_receiver.base_url
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert create_bucket(base, "evil<b>", evil).status_code == 201
    assert send_events(base, [{"key": evil, "value": evil},
                              {"key": "n" + evil, "value": 1}],
                       bucket_key="evil<b>").status_code == 204
    for path in ("/", "/?fragment=1", "/buckets/1"):
        html = requests.get(base + path, timeout=10).text
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert "evil&lt;b&gt;" in html
    csp = requests.get(base + "/", timeout=10).headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp


def test_read_side_refuses_foreign_host_names(isstreamer_receiver: Any) -> None:
    """A web page elsewhere must not reach the read side through DNS rebinding."""
    for path in ("/", "/read/buckets"):
        status, _ = raw_exchange(
            isstreamer_receiver.base_url,
            f"GET {path} HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n"
            .encode(),
        )
        assert status == 403
    for host in ("localhost:1234", "127.0.0.1", "[::1]:80"):
        status, _ = raw_exchange(
            isstreamer_receiver.base_url,
            f"GET /read/buckets HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode(),
        )
        assert status == 200, host
