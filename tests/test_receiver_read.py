"""The read side: JSON lists, event filters, CSV export, the page and its static files."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import requests
from receiver_helpers import create_bucket, send_events

T0 = 1_700_000_000.0


@pytest.fixture
def filled(isstreamer_receiver: Any) -> Any:
    base = isstreamer_receiver.base_url
    create_bucket(base, "weather", "Weather")
    batch = []
    for i in range(6):
        batch.append({"key": "temp", "value": 20 + i, "epoch": T0 + i})
        batch.append({"key": "raining", "value": i % 2 == 0, "epoch": T0 + i})
    batch.append({"key": "note", "value": "a, \"quoted\"\nline", "epoch": T0 + 10})
    assert send_events(base, batch, bucket_key="weather").status_code == 204
    return isstreamer_receiver


def _bucket_id(handle: Any, key: str = "weather") -> int:
    (bucket,) = [b for b in handle.buckets() if b.bucket_key == key]
    return int(bucket.id)


def test_list_buckets(filled: Any) -> None:
    create_bucket(filled.base_url, "other", "Other")
    data = requests.get(filled.url("/read/buckets"), timeout=10).json()
    by_key = {b["bucketKey"]: b for b in data}
    assert by_key["weather"]["bucketName"] == "Weather"
    assert by_key["weather"]["events"] == 13
    assert by_key["other"]["events"] == 0
    assert by_key["weather"]["accessKey"].endswith("1234")
    assert "ist_receiver_test" not in str(data)  # only the last 4 characters of a key
    only = requests.get(filled.url("/read/buckets"), params={"bucketKey": "other"},
                        timeout=10).json()
    assert [b["bucketKey"] for b in only] == ["other"]


def test_bucket_detail_with_streams(filled: Any) -> None:
    data = requests.get(filled.url(f"/read/buckets/{_bucket_id(filled)}"), timeout=10).json()
    streams = {s["key"]: s for s in data["streams"]}
    assert streams["temp"] == {"key": "temp", "count": 6, "latest": 25,
                               "lastUpdate": T0 + 5, "kind": "number"}
    assert streams["raining"]["kind"] == "boolean"
    assert streams["raining"]["latest"] is False
    assert streams["note"]["kind"] == "text"


def test_events_filters(filled: Any) -> None:
    url = filled.url(f"/read/buckets/{_bucket_id(filled)}/events")
    all_events = requests.get(url, timeout=10).json()
    assert all_events["count"] == 13
    temps = requests.get(url, params={"key": "temp"}, timeout=10).json()["events"]
    assert [e["value"] for e in temps] == [20, 21, 22, 23, 24, 25]
    assert temps[0] == {"key": "temp", "value": 20, "epoch": T0}
    window = requests.get(url, params={"key": "temp", "since": T0 + 2, "until": T0 + 4},
                          timeout=10).json()["events"]
    assert [e["value"] for e in window] == [22, 23, 24]
    iso = requests.get(url, params={"key": "temp", "since": "2023-11-14T22:13:23Z"},
                       timeout=10).json()["events"]
    assert [e["value"] for e in iso] == [23, 24, 25]
    latest = requests.get(url, params={"key": "temp", "limit": 2, "order": "desc"},
                          timeout=10).json()["events"]
    assert [e["value"] for e in latest] == [25, 24]
    two_keys = requests.get(url, params=[("key", "temp"), ("key", "note")],
                            timeout=10).json()
    assert two_keys["count"] == 7


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "x"}, {"since": "tuesday"},
                                    {"order": "sideways"}])
def test_bad_read_parameters(filled: Any, params: Any) -> None:
    answer = requests.get(filled.url(f"/read/buckets/{_bucket_id(filled)}/events"),
                          params=params, timeout=10)
    assert answer.status_code == 400


def test_unknown_bucket_is_404(filled: Any) -> None:
    for path in ("/read/buckets/999", "/read/buckets/999/events", "/read/buckets/999/events.csv",
                 "/buckets/999"):
        assert requests.get(filled.url(path), timeout=10).status_code == 404


def test_csv_export(filled: Any) -> None:
    answer = requests.get(filled.url(f"/read/buckets/{_bucket_id(filled)}/events.csv"),
                          timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["epoch", "iso8601", "key", "value"]
    assert rows[1] == [repr(T0), "2023-11-14T22:13:20.000Z", "temp", "20"]
    assert rows[2][2:] == ["raining", "true"]
    assert rows[-1][2:] == ["note", "a, \"quoted\"\nline"]
    assert len(rows) == 14
    only = requests.get(filled.url(f"/read/buckets/{_bucket_id(filled)}/events.csv"),
                        params={"key": "raining"}, timeout=10).text
    assert only.count("raining") == 6


def test_page_lists_buckets_streams_and_charts(filled: Any) -> None:
    answer = requests.get(filled.url("/"), timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    html = answer.text
    assert '<meta name="viewport"' in html
    assert "Weather" in html
    for key in ("temp", "raining", "note"):
        assert f'data-stream="{key}"' in html
    temp_card = html.split('data-stream="temp"', 1)[1].split("</article>", 1)[0]
    assert "<polyline" in temp_card
    assert "6 events" in temp_card
    assert 'class="latest" title="25">25<' in temp_card
    note_card = html.split('data-stream="note"', 1)[1].split("</article>", 1)[0]
    assert "<svg" not in note_card  # text streams get no chart


def test_bucket_page_and_fragment(filled: Any) -> None:
    bucket_page = requests.get(filled.url(f"/buckets/{_bucket_id(filled)}"), timeout=10).text
    assert "Latest events" in bucket_page
    assert "<html" in bucket_page
    fragment = requests.get(filled.url("/?fragment=1"), timeout=10)
    assert "<html" not in fragment.text
    assert 'data-stream="temp"' in fragment.text
    assert fragment.headers["X-Receiver-Version"]


def test_version_changes_when_data_arrives(filled: Any) -> None:
    url = filled.url("/read/version")
    before = requests.get(url, timeout=10).json()["version"]
    assert requests.get(url, timeout=10).json()["version"] == before
    send_events(filled.base_url, [{"key": "temp", "value": 30}], bucket_key="weather")
    assert requests.get(url, timeout=10).json()["version"] != before


def test_empty_page_tells_how_to_start(isstreamer_receiver: Any) -> None:
    html = requests.get(isstreamer_receiver.url("/"), timeout=10).text
    assert "No buckets yet" in html
    assert f'stream_api_base=&quot;{isstreamer_receiver.base_url}&quot;' in html


def test_static_files(isstreamer_receiver: Any) -> None:
    css = requests.get(isstreamer_receiver.url("/static/receiver.css"), timeout=10)
    js = requests.get(isstreamer_receiver.url("/static/receiver.js"), timeout=10)
    assert css.status_code == js.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert "/read/version" in js.text
    assert "@media" in css.text


def test_deleted_bucket_leaves_the_page(filled: Any) -> None:
    bucket_id = _bucket_id(filled)
    assert requests.delete(filled.url(f"/read/buckets/{bucket_id}"), timeout=10).status_code == 204
    html = requests.get(filled.url("/"), timeout=10).text
    assert 'data-stream="temp"' not in html
    assert "Deleted buckets" in html
    detail = requests.get(filled.url(f"/read/buckets/{bucket_id}"), timeout=10).json()
    assert detail["removed"] is not None and detail["events"] == 0
    assert "was deleted" in requests.get(filled.url(f"/buckets/{bucket_id}"), timeout=10).text
