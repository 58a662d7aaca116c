"""log_object(): the original's key naming, for every container type sensor code produces."""

from __future__ import annotations

import collections
import dataclasses
import logging
import sys
from typing import NamedTuple

import psutil
import pytest

from isstreamer import InvalidEventError


def logged(api, make_streamer, obj, **kwargs):
    s = make_streamer()
    s.log_object(obj, **kwargs)
    assert s.flush(timeout=10)
    return [(e["key"], e["value"]) for e in api.events("test_bucket")], s


def test_dict_keys_in_order_with_type_name_prefix(api, make_streamer) -> None:
    events, _ = logged(api, make_streamer, {"temp": 21.5, "hum": 40})
    assert events == [("dict_temp", 21.5), ("dict_hum", 40)]


def test_list_indexes(api, make_streamer) -> None:
    events, _ = logged(api, make_streamer, [3, 4, 5])
    assert events == [("list_0", 3), ("list_1", 4), ("list_2", 5)]


@pytest.mark.parametrize("prefix, expected", [("", "temp"), ("room", "room_temp"), (7, "7_temp")])
def test_prefix_rules(api, make_streamer, prefix, expected) -> None:
    events, _ = logged(api, make_streamer, {"temp": 1}, key_prefix=prefix)
    assert events == [(expected, 1)]


def test_tuple_ordereddict_defaultdict_deque(api, make_streamer) -> None:
    s = make_streamer()
    s.log_object((1, 2))
    s.log_object(collections.OrderedDict([("b", 1), ("a", 2)]))
    dd = collections.defaultdict(int)
    dd["x"] += 3
    s.log_object(dd)
    s.log_object(collections.deque([9]))
    assert s.flush(timeout=10)
    assert [(e["key"], e["value"]) for e in api.events("test_bucket")] == [
        ("tuple_0", 1), ("tuple_1", 2), ("OrderedDict_b", 1), ("OrderedDict_a", 2),
        ("defaultdict_x", 3), ("deque_0", 9)]


class Reading(NamedTuple):
    temp: float
    hum: int


def test_namedtuple_logs_its_fields(api, make_streamer) -> None:
    events, _ = logged(api, make_streamer, Reading(21.5, 40))
    assert events == [("Reading_temp", 21.5), ("Reading_hum", 40)]


def test_psutil_virtual_memory_streams_every_field(api, make_streamer) -> None:
    # The original logs nothing for this on Python >= 3.8 (its own Pi-health example).
    mem = psutil.virtual_memory()
    events, _ = logged(api, make_streamer, mem, key_prefix="mem")
    assert [k for k, _ in events] == [f"mem_{f}" for f in mem._fields]
    assert dict(events)["mem_total"] == mem.total
    assert sys.version_info >= (3, 9)


def test_psutil_swap_and_net_io(api, make_streamer) -> None:
    s = make_streamer()
    s.log_object(psutil.swap_memory())
    s.log_object(psutil.net_io_counters())
    assert s.flush(timeout=10)
    keys = [e["key"] for e in api.events("test_bucket")]
    assert "sswap_total" in keys and "snetio_bytes_sent" in keys


@dataclasses.dataclass
class Sample:
    temp: float
    label: str


def test_dataclass_fields(api, make_streamer) -> None:
    events, _ = logged(api, make_streamer, Sample(1.5, "a"))
    assert events == [("Sample_temp", 1.5), ("Sample_label", "a")]


class Sensor:
    def __init__(self) -> None:
        self.name = "porch"
        self._secret = "hidden"
        self.callback = print

    @property
    def temperature(self) -> float:
        return 19.0

    @property
    def broken(self) -> float:
        raise RuntimeError("sensor unplugged")

    def method(self) -> int:
        return 1


def test_object_properties_and_public_attributes_in_dir_order(
    api, make_streamer, caplog
) -> None:
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        events, s = logged(api, make_streamer, Sensor())
    assert events == [("Sensor_name", "porch"), ("Sensor_temperature", 19.0)]
    assert any("Sensor_broken" in r.getMessage() and "unplugged" in r.getMessage()
               for r in caplog.records)
    assert s.stats()["rejected"] == 1


def test_one_epoch_for_every_value_of_a_call(api, make_streamer) -> None:
    s = make_streamer()
    s.log_object({str(i): i for i in range(50)})
    s.log_object({"a": 1}, epoch=1_700_000_000)
    assert s.flush(timeout=10)
    events = api.events("test_bucket")
    assert len({e["epoch"] for e in events[:50]}) == 1
    assert events[50]["epoch"] == 1_700_000_000


def test_bad_fields_are_skipped_and_raised_together_at_debug_2(api, make_streamer) -> None:
    s = make_streamer(debug_level=2)
    with pytest.raises(InvalidEventError) as info:
        s.log_object({"ok": 1, "nan": float("nan"), "none": None, "also_ok": 2})
    assert "dict_nan" in str(info.value) and "dict_none" in str(info.value)
    assert s.flush(timeout=10)
    assert [e["key"] for e in api.events("test_bucket")] == ["dict_ok", "dict_also_ok"]


def test_a_string_is_not_a_container(api, make_streamer, caplog) -> None:
    s = make_streamer()
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        s.log_object("text")
    assert any("use log(key, value)" in r.getMessage() for r in caplog.records)
    assert s.stats()["rejected"] == 1
