"""``log_dataframe`` (``isstreamer[pandas]``) against a local receiver."""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Iterator

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from isstreamer import ConfigError, log_dataframe  # noqa: E402


def test_columns_become_keys_and_missing_cells_are_skipped(isstreamer_receiver) -> None:
    streamer = isstreamer_receiver.streamer(bucket_key="df", buffer_size=4)
    frame = pd.DataFrame({
        "time": pd.to_datetime(["2024-05-01T12:00:00Z", "2024-05-01T12:01:00Z",
                                "2024-05-01T12:02:00Z"]),
        "temp": [20.5, np.nan, 21.0],
        "door": ["open", None, "shut"],
        "count": pd.array([1, None, 3], dtype="Int64"),
        "ok": [True, False, True],
    })
    assert streamer.log_dataframe(frame, timestamp_column="time", key_prefix="shed") == 9
    assert streamer.flush(timeout=10)
    t0 = 1714564800.0
    got = {(e.key, e.epoch): e.value for e in isstreamer_receiver.events("df")}
    assert got == {
        ("shed_temp", t0): 20.5, ("shed_temp", t0 + 120): 21.0,
        ("shed_door", t0): "open", ("shed_door", t0 + 120): "shut",
        ("shed_count", t0): 1, ("shed_count", t0 + 120): 3,
        ("shed_ok", t0): True, ("shed_ok", t0 + 60): False, ("shed_ok", t0 + 120): True,
        # row 2 has only "ok": everything else is missing there
    }
    assert streamer.stats()["rejected"] == 0


@pytest.fixture
def local_time_is_kolkata(monkeypatch) -> Iterator[None]:
    """A local time zone that is not UTC, so "naive = local" is really tested."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_timezone_rules(isstreamer_receiver, local_time_is_kolkata) -> None:
    streamer = isstreamer_receiver.streamer(bucket_key="tz")
    naive = dt.datetime(2024, 1, 15, 8, 30)
    aware = pd.Timestamp("2024-01-15T08:30:00", tz="America/New_York")
    frame = pd.DataFrame({"when": [naive], "v": [1]})
    log_dataframe(streamer, frame, timestamp_column="when", key_prefix="naive")
    frame = pd.DataFrame({"when": [aware], "v": [2]})
    log_dataframe(streamer, frame, timestamp_column="when", key_prefix="aware")
    frame = pd.DataFrame({"when": ["2024-01-15T13:30:00+00:00"], "v": [3]})
    log_dataframe(streamer, frame, timestamp_column="when", key_prefix="text")
    frame = pd.DataFrame({"when": [1705325400000], "v": [4]})  # milliseconds
    log_dataframe(streamer, frame, timestamp_column="when", key_prefix="ms")
    indexed = pd.DataFrame({"v": [5, 6]}, index=pd.DatetimeIndex(
        ["2024-01-15T13:30:00Z", "2024-01-15T13:31:00Z"]))
    log_dataframe(streamer, indexed, key_prefix="index")
    assert streamer.flush(timeout=10)
    epochs = {e.key: [] for e in isstreamer_receiver.events("tz")}
    for event in isstreamer_receiver.events("tz"):
        epochs[event.key].append(event.epoch)
    utc = 1705325400.0  # 2024-01-15 13:30 UTC == 08:30 in New York
    assert epochs["naive_v"] == [utc - 10.5 * 3600]  # naive = local time (UTC+5:30)
    assert epochs["aware_v"] == [utc]
    assert epochs["text_v"] == [utc]
    assert epochs["ms_v"] == [utc]
    assert epochs["index_v"] == [utc, utc + 60]


def test_without_timestamps_rows_are_stamped_now_and_bad_input_is_refused(
    isstreamer_receiver, monkeypatch
) -> None:
    streamer = isstreamer_receiver.streamer(bucket_key="now")
    before = time.time()
    log_dataframe(streamer, pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert streamer.flush(timeout=10)
    events = isstreamer_receiver.events("now")
    assert sorted((e.key, e.value) for e in events) == [("a", 1), ("a", 2), ("b", "x"),
                                                      ("b", "y")]
    assert all(e.epoch >= before - 1 for e in events)
    with pytest.raises(KeyError, match="nope"):
        log_dataframe(streamer, pd.DataFrame({"a": [1]}), timestamp_column="nope")
    with pytest.raises(TypeError, match="DataFrame"):
        log_dataframe(streamer, [1, 2, 3])
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ConfigError, match=r"isstreamer\[pandas\]"):
        log_dataframe(streamer, None)
