"""log(): what each kind of value, key and epoch becomes, and what is refused (and how)."""

from __future__ import annotations

import datetime as dt
import enum
import logging
import math
from decimal import Decimal
from fractions import Fraction

import pytest

from isstreamer import InvalidEventError
from isstreamer.events import coerce_epoch, coerce_value

try:
    import numpy as np  # type: ignore[no-redef]
except ImportError:  # pragma: no cover - numpy is a test dependency
    np = None


class Door(enum.Enum):
    OPEN = "open"
    SHUT = "shut"


class Level(enum.IntEnum):
    LOW = 1


def sent(api, make_streamer, *calls, **kwargs):
    s = make_streamer(**kwargs)
    for call in calls:
        s.log(*call)
    assert s.flush(timeout=10) is not None
    return s, api.events("test_bucket")


@pytest.mark.parametrize("value, expected", [
    (21.5, 21.5),
    (7, 7),
    (True, True),
    (False, False),
    ("open", "open"),
    (Decimal("21.50"), 21.5),
    (Decimal("3"), 3),
    (Fraction(1, 4), 0.25),
    (b"21.5\r\n", "21.5\r\n"),
    (bytearray(b"ok"), "ok"),
    (dt.datetime(2024, 5, 1, 12, 30, 0), "2024-05-01T12:30:00"),
    (dt.date(2024, 5, 1), "2024-05-01"),
    (Door.OPEN, "OPEN"),
    (Level.LOW, "LOW"),
])
def test_values_convert_predictably(api, make_streamer, value, expected) -> None:
    _, events = sent(api, make_streamer, ("v", value))
    assert events[0]["value"] == expected
    assert type(events[0]["value"]) is type(expected)


@pytest.mark.skipif(np is None, reason="numpy not installed")
def test_numpy_scalars_become_python_numbers(api, make_streamer) -> None:
    calls = [("f32", np.float32(1.5)), ("f64", np.float64(2.25)), ("i64", np.int64(7)),
             ("u8", np.uint8(255)), ("b", np.bool_(True)), ("s", np.str_("txt"))]
    _, events = sent(api, make_streamer, *calls)
    assert [(e["key"], e["value"]) for e in events] == [
        ("f32", 1.5), ("f64", 2.25), ("i64", 7), ("u8", 255), ("b", True), ("s", "txt")]
    assert events[4]["value"] is True


@pytest.mark.skipif(np is None, reason="numpy not installed")
def test_numpy_nan_is_rejected(api, make_streamer) -> None:
    s, events = sent(api, make_streamer, ("bad", np.float64("nan")), ("good", 1))
    assert [e["key"] for e in events] == ["good"]
    assert s.stats()["rejected"] == 1


@pytest.mark.parametrize("value, words", [
    (math.nan, "NaN"),
    (math.inf, "NaN and infinity"),
    (-math.inf, "NaN and infinity"),
    ("x" * 2001, "2001 characters"),
    (None, "None"),
    (object(), "cannot be streamed"),
    ({"a": 1}, "log_object"),
    ([1, 2], "log_object"),
    (b"\xff\xfe", "not UTF-8"),
    (complex(1, 2), "cannot be streamed"),
])
def test_bad_values_are_rejected_with_the_key_named_and_never_poison_others(
    api, make_streamer, caplog, value, words
) -> None:
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        s, events = sent(api, make_streamer, ("before", 1), ("the_key", value), ("after", 2))
    assert [e["key"] for e in events] == ["before", "after"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("the_key" in m and words in m for m in messages), messages
    st = s.stats()
    assert st["rejected"] == 1 and st["sent"] == 2 and st["logged"] == 3


def test_bad_value_warns_once_per_key_but_counts_every_time(api, make_streamer, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        s, _ = sent(api, make_streamer, *[("temp", math.nan)] * 5)
    assert len([r for r in caplog.records if "temp" in r.getMessage()]) == 1
    assert s.stats()["rejected"] == 5


def test_debug_level_2_raises_in_the_callers_thread(api, make_streamer) -> None:
    s = make_streamer(debug_level=2)
    s.log("ok", 1)
    with pytest.raises(InvalidEventError, match="'temp'.*NaN"):
        s.log("temp", float("nan"))
    with pytest.raises(InvalidEventError, match="epoch"):
        s.log("temp", 1, epoch="yesterday")
    s.log("ok", 2)
    assert s.flush(timeout=10)
    assert [e["value"] for e in api.events("test_bucket")] == [1, 2]


@pytest.mark.parametrize("key, words", [
    ("", "empty"),
    ("k" * 251, "251 characters"),
    (None, "NoneType"),
    (("a",), "tuple"),
    (["unhashable"], "list"),
])
def test_bad_keys_are_rejected(api, make_streamer, caplog, key, words) -> None:
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        s, events = sent(api, make_streamer, (key, 1), ("fine", 2))
    assert [e["key"] for e in events] == ["fine"]
    assert any(words in r.getMessage() for r in caplog.records)


def test_int_keys_become_text_and_long_keys_up_to_250_pass(api, make_streamer) -> None:
    _, events = sent(api, make_streamer, (3, "x"), ("k" * 250, "y"))
    assert [e["key"] for e in events] == ["3", "k" * 250]


@pytest.mark.parametrize("epoch, expected", [
    (1_700_000_000, 1_700_000_000.0),
    (1_700_000_000.25, 1_700_000_000.25),
    ("1700000000.5", 1_700_000_000.5),
    (1_700_000_000_123, 1_700_000_000.123),  # milliseconds
    ("1700000000123", 1_700_000_000.123),
    (1_700_000_000_123_456, 1_700_000_000.123456),  # microseconds
    (Decimal("1700000000.5"), 1_700_000_000.5),
    (dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.timezone.utc), 1_700_000_000.0),
    ("2023-11-14T22:13:20Z", 1_700_000_000.0),
])
def test_epoch_forms(epoch, expected) -> None:
    assert coerce_epoch("k", epoch) == pytest.approx(expected, abs=1e-6)


def test_naive_datetime_epoch_is_local_time() -> None:
    naive = dt.datetime(2024, 1, 2, 3, 4, 5)
    assert coerce_epoch("k", naive) == naive.timestamp()


@pytest.mark.parametrize("epoch", ["yesterday", -5, math.nan, True, [1], object()])
def test_garbage_epochs_are_rejected(epoch) -> None:
    with pytest.raises(InvalidEventError, match="epoch for key 'k'"):
        coerce_epoch("k", epoch)


def test_given_epoch_reaches_the_wire(api, make_streamer) -> None:
    _, events = sent(api, make_streamer, ("t", 1, 1_700_000_000_500))
    assert events[0]["epoch"] == 1_700_000_000.5


def test_coerce_value_leaves_plain_types_alone() -> None:
    assert coerce_value("k", "a") == "a"
    assert coerce_value("k", 1) == 1
