"""The receiver driven by our own Streamer, the demo, the command line and the pytest fixture."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import requests
from receiver_helpers import ServeProcess, create_bucket, send_events

from isstreamer import Streamer
from isstreamer.receiver import Receiver
from isstreamer.receiver.demo import (
    BUCKET_KEY,
    BUCKET_NAME,
    EXPECTED_EVENTS,
    example_events,
    run_demo,
    stream_example,
)


def _cli(*args: str, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "isstreamer", *args], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def test_streamer_events_arrive_in_order(isstreamer_receiver: Any) -> None:
    streamer = isstreamer_receiver.streamer("Garden", "garden", buffer_size=3)
    for i in range(10):
        streamer.log("temperature", 20.0 + i / 10, epoch=1_700_000_000 + i)
    streamer.log("door", "open")
    streamer.log("ok", True)
    assert streamer.flush(timeout=10)
    (bucket,) = isstreamer_receiver.buckets()
    assert (bucket.bucket_key, bucket.name) == ("garden", "Garden")
    assert isstreamer_receiver.values("temperature") == [20.0 + i / 10 for i in range(10)]
    assert isstreamer_receiver.values("door") == ["open"]
    assert isstreamer_receiver.values("ok") == [True]
    assert [e.epoch for e in isstreamer_receiver.events(key="temperature")] == [
        1_700_000_000 + i for i in range(10)]


def test_streamer_log_object_and_set_bucket(isstreamer_receiver: Any) -> None:
    streamer = isstreamer_receiver.streamer("First", "first")
    streamer.log_object({"cpu": 12.5, "mem": 40}, key_prefix="pi")
    streamer.set_bucket("Second", "second")
    streamer.log("moved", 1)
    assert streamer.flush(timeout=10)
    assert sorted(e.key for e in isstreamer_receiver.events("first")) == ["pi_cpu", "pi_mem"]
    assert [e.key for e in isstreamer_receiver.events("second")] == ["moved"]
    assert {b.name for b in isstreamer_receiver.buckets()} == {"First", "Second"}


def test_streamer_is_told_bucket_removed(isstreamer_receiver: Any) -> None:
    streamer = isstreamer_receiver.streamer("Gone", "gone")
    streamer.log("k", 1)
    assert streamer.flush(timeout=10)
    isstreamer_receiver.delete_bucket("gone")
    streamer.log("k", 2)
    assert streamer.flush(timeout=10) is False  # refused for good: not delivered
    assert isstreamer_receiver.events("gone") == []
    answer = create_bucket(isstreamer_receiver.base_url, "gone",
                           access_key=isstreamer_receiver.access_key)
    assert answer.json()["message"]["error"]["type"] == "BUCKET_REMOVED"


def test_wait_for_events_wakes_on_commit(isstreamer_receiver: Any) -> None:
    streamer = isstreamer_receiver.streamer("Slow", "slow", flush_interval=0.05)
    streamer.log("k", 1)  # no flush(): the sender delivers it on its own
    events = isstreamer_receiver.wait_for_events(1, bucket_key="slow", timeout=10)
    assert [e.value for e in events] == [1]
    with pytest.raises(AssertionError, match="waited 0.05 s for 5 events"):
        isstreamer_receiver.wait_for_events(5, bucket_key="slow", timeout=0.05)


def test_is_example_flow_stores_all_47(isstreamer_receiver: Any) -> None:
    assert len(example_events()) == EXPECTED_EVENTS == 47
    assert stream_example(isstreamer_receiver.base_url, interval=0)
    (bucket,) = isstreamer_receiver.buckets()
    assert (bucket.bucket_key, bucket.name) == (BUCKET_KEY, BUCKET_NAME)
    stored = [(e.key, e.value) for e in isstreamer_receiver.events(BUCKET_KEY)]
    assert sorted(stored, key=repr) == sorted(example_events(), key=repr)
    assert isstreamer_receiver.values("My Numbers") == list(range(1, 20))
    assert isstreamer_receiver.values("My Messages") == [
        "Stream Starting", "Stream Half Done", "Stream Done"]
    assert isstreamer_receiver.values("My Events") == ["pop"] * 6


def test_run_demo_prints_table_and_page(capsys: Any) -> None:
    out = io.StringIO()
    assert run_demo(interval=0, out=out) == 0
    text = out.getvalue()
    assert "All 47 events arrived." in text
    for line in ("My Booleans     19  true", "My Events        6  pop",
                 "My Messages      3  Stream Done", "My Numbers      19  19", "total           47"):
        assert line in text
    assert "Page: http://127.0.0.1:" in text


def test_run_demo_keep_serving_serves_the_page_until_interrupted() -> None:
    out = io.StringIO()
    seen = {}

    def browse() -> None:
        url = out.getvalue().split("Page: ", 1)[1].split()[0]
        seen["html"] = requests.get(url, timeout=10).text
        raise KeyboardInterrupt

    assert run_demo(interval=0, keep_serving=True, out=out, wait_forever=browse) == 0
    assert "Python Stream Example" in seen["html"]
    assert 'data-stream="My Numbers"' in seen["html"]


def test_demo_command(tmp_path: Any) -> None:
    cwd = tmp_path / "fresh_clone"
    cwd.mkdir()
    result = _cli("demo", "--interval", "0", cwd=str(cwd))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All 47 events arrived." in result.stdout
    assert "Page: http://127.0.0.1:" in result.stdout
    assert os.listdir(str(cwd)) == []  # the demo leaves nothing behind


def test_console_script_is_installed() -> None:
    script = os.path.join(os.path.dirname(sys.executable), "isstreamer")
    if not os.path.exists(script):
        if os.environ.get("ISS_TEST_INSTALLED"):
            pytest.fail(f"the isstreamer console script is missing beside {sys.executable}")
        pytest.skip("package not installed into this interpreter's environment")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.startswith("isstreamer ")


def test_cli_without_command_prints_help() -> None:
    result = _cli()
    assert result.returncode == 2
    for name in ("serve", "demo", "delete-bucket"):
        assert name in result.stderr


def test_serve_persists_and_delete_bucket_command(tmp_path: Any) -> None:
    db = str(tmp_path / "serve.db")
    server = ServeProcess("--db", db)
    try:
        with Streamer(bucket_name="Served", bucket_key="served", access_key="ist_serve_key",
                      stream_api_base=server.base_url, offline=False) as streamer:
            for i in range(5):
                streamer.log("n", i)
            assert streamer.flush(timeout=10)
        page = requests.get(server.base_url + "/", timeout=10).text
        assert "Served" in page
    finally:
        code, err = server.stop()
    assert code == 0, err
    assert "web page" in "".join(server.lines)

    deleted = _cli("delete-bucket", "served", "--db", db)
    assert deleted.returncode == 0, deleted.stderr
    again = _cli("delete-bucket", "served", "--db", db)
    assert again.returncode == 1 and "no live bucket" in again.stderr

    server = ServeProcess("--db", db)
    try:
        buckets = requests.get(server.base_url + "/read/buckets", timeout=10).json()
        assert [(b["bucketKey"], b["removed"] is not None) for b in buckets] == [("served", True)]
        answer = send_events(server.base_url, [{"key": "n", "value": 9}], bucket_key="served",
                             access_key="ist_serve_key")
        assert answer.json()["message"]["error"]["type"] == "BUCKET_REMOVED"
    finally:
        code, err = server.stop()
    assert code == 0, err


def test_serve_options_reach_the_server(tmp_path: Any) -> None:
    server = ServeProcess("--db", str(tmp_path / "o.db"), "--access-key", "ist_only_this",
                          "--rate-limit", "7", "--enforce-limits")
    try:
        assert send_events(server.base_url, [{"key": "k", "value": 1}],
                           access_key="ist_other").status_code == 401
        ok = send_events(server.base_url, [{"key": "k", "value": 1}], access_key="ist_only_this")
        assert ok.status_code == 204 and ok.headers["X-RateLimit-Limit"] == "7"
        long_key = send_events(server.base_url, [{"key": "k" * 251, "value": 1}],
                               access_key="ist_only_this")
        assert long_key.status_code == 400
    finally:
        server.stop()
    text = "".join(server.lines)
    assert "ist_only_this" not in text  # the banner never shows keys


def test_serve_reports_a_busy_port(tmp_path: Any) -> None:
    with Receiver(str(tmp_path / "busy.db")) as taken:
        result = _cli("serve", "--port", str(taken.bound_port), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "cannot listen" in result.stderr


def test_fixture_works_in_a_users_test_suite(tmp_path: Any) -> None:
    """The plugin is found through its entry point by a test suite that knows nothing of ours."""
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        def test_my_script(isstreamer_receiver):
            from isstreamer import Streamer
            with Streamer(bucket_name="Mine", bucket_key="mine", access_key="ist_user_key",
                          stream_api_base=isstreamer_receiver.base_url) as s:
                s.log("temperature", 21.5)
                s.log("temperature", 22.0)
            assert isstreamer_receiver.values("temperature", bucket_key="mine") == [21.5, 22.0]

        def test_options(isstreamer_receiver_factory):
            strict = isstreamer_receiver_factory(access_keys=["ist_a"], rate_limit=5)
            assert strict.access_key == "ist_a"
            assert strict.events() == []
    """))
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "test_user.py"], cwd=str(tmp_path), capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
