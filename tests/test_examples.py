"""Every script in examples/ runs, as a user would run it, against a local receiver."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from typing import Any, Dict, List

import psutil
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture
def run_example(isstreamer_receiver, tmp_path):
    """Run ``examples/NAME`` in a fresh interpreter, configured only through the environment."""
    home = tmp_path / "example-home"
    home.mkdir()

    def run(name: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ISS_")}
        env.update(
            HOME=str(home),
            ISS_STREAM_API_BASE=isstreamer_receiver.base_url,
            ISS_ACCESS_KEY=isstreamer_receiver.access_key,
            ISS_SPOOL_DIR=str(tmp_path / "spool"),
        )
        result = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args],
                                env=env, cwd=str(tmp_path), capture_output=True, text=True,
                                timeout=90)
        assert result.returncode == expect, result.stdout + result.stderr
        return result

    return run


def by_key(events: List[Any]) -> Dict[str, List[Any]]:
    out: Dict[str, List[Any]] = {}
    for event in events:
        out.setdefault(event.key, []).append(event.value)
    return out


def test_is_example_streams_the_47_events(run_example, isstreamer_receiver) -> None:
    result = run_example("is_example.py")
    assert "all 47 events delivered" in result.stdout
    (bucket,) = isstreamer_receiver.buckets()
    assert (bucket.bucket_key, bucket.name) == ("python_example", "Python Stream Example")
    streams = by_key(isstreamer_receiver.events("python_example"))
    assert streams["My Numbers"] == list(range(1, 20))
    assert streams["My Booleans"] == [n % 2 == 1 for n in range(1, 20)]
    assert streams["My Events"] == ["pop"] * 6
    assert streams["My Messages"] == ["Stream Starting", "Stream Half Done", "Stream Done"]
    assert sum(len(v) for v in streams.values()) == 47


def test_is_example_without_a_key_says_where_to_put_one(run_example, tmp_path) -> None:
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("ISS_ACCESS_KEY", None)
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, "is_example.py")], env=env,
                            cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "ISS_ACCESS_KEY" in result.stderr and "isstreamer.ini" in result.stderr


def test_pi_health_once(run_example, isstreamer_receiver) -> None:
    run_example("pi_health.py", "--once")
    streams = by_key(isstreamer_receiver.events("pi_health"))
    assert 0 <= streams["cpu_percent"][0] <= 100
    assert set(streams) >= {"load_1min", "load_5min", "load_15min"}
    # every field of the namedtuples, under the prefix
    for field in psutil.virtual_memory()._fields:
        assert f"memory_{field}" in streams
    assert streams["memory_total"] == [psutil.virtual_memory().total]
    for field in psutil.disk_usage("/")._fields:
        assert f"disk_{field}" in streams
    for field in psutil.net_io_counters()._fields:
        assert f"net_{field}" in streams
    readable = bool(getattr(psutil, "sensors_temperatures", dict)())
    assert ("cpu_temp" in streams) == readable
    epochs = {e.epoch for e in isstreamer_receiver.events("pi_health")}
    assert len(epochs) == 1  # one timestamp per round


def test_csv_to_stream_keeps_the_rows_times(run_example, isstreamer_receiver, tmp_path) -> None:
    data = tmp_path / "readings.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "temperature", "door", "note"])
        writer.writerow(["2024-05-01T12:00:00Z", "21.5", "true", "first"])
        writer.writerow(["1714564860", "22", "false", ""])
        writer.writerow(["2024-05-01T14:02:00+02:00", "-1.5e1", "TRUE", "007"])
        writer.writerow(["yesterday", "1", "true", "skipped"])
    result = run_example("csv_to_stream.py", str(data), "--timestamp-column", "time",
                         "--bucket-key", "csv", expect=1)  # one bad row -> status 1
    assert "line 5: bad timestamp" in result.stderr
    assert "3 rows streamed, 1 skipped, all delivered" in result.stdout
    got = sorted((e.epoch, e.key, e.value) for e in isstreamer_receiver.events("csv"))
    t0 = 1714564800.0
    assert got == sorted([
        (t0, "temperature", 21.5), (t0, "door", True), (t0, "note", "first"),
        (t0 + 60, "temperature", 22), (t0 + 60, "door", False),
        (t0 + 120, "temperature", -15.0), (t0 + 120, "door", True), (t0 + 120, "note", "007"),
    ])


def test_logging_handler_example(run_example, isstreamer_receiver) -> None:
    result = run_example("logging_handler.py")
    assert "pump started" in result.stderr  # the console output is still there
    events = isstreamer_receiver.events("garden_log")
    assert [(e.key, e.value.splitlines()[0]) for e in events] == [
        ("garden.pump.INFO", "pump started"),
        ("garden.pump.WARNING", "water level low: 12%"),
        ("garden.pump.ERROR", "flow rate unavailable"),
        ("garden.pump.INFO", "pump stopped"),
    ]
    assert "ValueError" in events[2].value
    assert not any(e.key.startswith(("isstreamer", "urllib3")) for e in events)


def test_offline_mode_records_then_uploads(run_example, isstreamer_receiver, tmp_path) -> None:
    path = tmp_path / "readings.csv"
    run_example("offline_mode.py", "record", str(path))
    assert isstreamer_receiver.events() == []  # nothing went over the network
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 10
    run_example("offline_mode.py", "upload", str(path))
    stored = sorted((e.epoch, e.key, str(e.value)) for e in isstreamer_receiver.events())
    expected = sorted((float(epoch), key, value) for epoch, key, value in rows)
    assert [(round(a, 3), b) for a, b, _ in stored] == [(round(a, 3), b) for a, b, _ in expected]
    assert [float(v) if k == "depth_cm" else v for _, k, v in stored] == [
        float(v) if k == "depth_cm" else v for _, k, v in expected]
