"""Shared fixtures: a real loopback API server, isolated config, Streamers closed at teardown."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Callable, Iterator, List, Optional

import pytest
from fake_api import FakeAPI

from isstreamer import Streamer

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's ~/isstreamer.ini, ./isstreamer.ini or ISS_* variables."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    for name in list(os.environ):
        if name.startswith("ISS_") and name != "ISS_TEST_INSTALLED":
            monkeypatch.delenv(name)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


@pytest.fixture
def make_streamer(api: FakeAPI) -> Iterator[Callable[..., Streamer]]:
    """Build Streamers aimed at the fake API with fast retries; all closed at teardown."""
    made: List[Streamer] = []

    def make(*args: Any, **kwargs: Any) -> Streamer:
        kwargs.setdefault("stream_api_base", api.base)
        kwargs.setdefault("retry_backoff", 0.01)
        kwargs.setdefault("retry_time", 5.0)
        if not args:
            kwargs.setdefault("bucket_name", "Test Bucket")
            kwargs.setdefault("bucket_key", "test_bucket")
            kwargs.setdefault("access_key", "ist_test_access_key_9876")
        streamer = Streamer(*args, **kwargs)
        made.append(streamer)
        return streamer

    yield make
    for streamer in made:
        streamer.close(timeout=2)


def run_python(
    code: str, *, cwd: str, env_extra: Optional[dict] = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run a script in a fresh interpreter (the same one running the tests)."""
    env = dict(os.environ)
    env.update(env_extra or {})
    env["PYTHONPATH"] = TESTS_DIR + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ISS_FAULT_REPORT set, write the fault matrix rows of test_reliability.py."""
    path = os.environ.get("ISS_FAULT_REPORT")
    rows = session.config.__dict__.get("_fault_rows")
    if not path or not rows:
        return
    lines = [
        "| Fault | N | sent live | spooled | replayed | lost | duplicates | test | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for fault, n, sent, spooled, replayed, lost, dups, test, note in rows:
        lines.append(f"| {fault} | {n} | {sent} | {spooled} | {replayed} | {lost} | {dups} "
                     f"| `{test}` | {note} |")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
