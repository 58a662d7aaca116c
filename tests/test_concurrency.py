"""Many producer threads, and forked children that log."""

from __future__ import annotations

import os
import threading

import pytest
from fake_api import FakeAPI


def test_eight_threads_times_ten_thousand_events_exact_and_ordered(
    api: FakeAPI, make_streamer
) -> None:
    s = make_streamer(buffer_size=500)
    start = threading.Barrier(8)

    def produce(t: int) -> None:
        start.wait()
        for i in range(10_000):
            s.log(f"thread{t}", i)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert s.flush(timeout=60) is True
    events = api.events("test_bucket")
    assert len(events) == 80_000
    for t in range(8):
        assert [e["value"] for e in events if e["key"] == f"thread{t}"] == list(range(10_000))
    st = s.stats()
    assert st["sent"] == st["logged"] == 80_000 and st["dropped"] == 0
    senders = [th for th in threading.enumerate() if th.name == "isstreamer-sender"]
    assert len(senders) == 1  # one sender per Streamer, whatever the number of producers


# Python 3.12+ warns about fork() with threads running: that is the situation under test.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_its_own_sender_and_parent_is_unaffected(
    api: FakeAPI, make_streamer
) -> None:
    s = make_streamer(flush_interval=60)
    s.log("who", "parent-before")
    pid = os.fork()
    if pid == 0:  # child: log, close, and leave without running the parent's test teardown
        code = 1
        try:
            s.log("who", "child")
            code = 0 if s.close(timeout=10) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    s.log("who", "parent-after")
    assert s.flush(timeout=10)
    values = [e["value"] for e in api.events("test_bucket")]
    # the child's buffer started empty: it did not resend the parent's pending event
    assert sorted(values) == ["child", "parent-after", "parent-before"]
    assert values.count("parent-before") == 1
    ports_by_value = {}
    for r in api.posts("/api/events"):
        for e in r.json():
            ports_by_value[e["value"]] = r.client_port
    assert ports_by_value["child"] != ports_by_value["parent-after"]  # separate connections


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_multiprocessing_child_without_close_still_delivers(api: FakeAPI, make_streamer) -> None:
    import multiprocessing

    s = make_streamer(flush_interval=60)
    ctx = multiprocessing.get_context("fork")

    def child() -> None:
        for i in range(3):
            s.log("mp", i)  # no close(): multiprocessing exits through os._exit

    proc = ctx.Process(target=child)
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    assert [e["value"] for e in api.events("test_bucket") if e["key"] == "mp"] == [0, 1, 2]


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_the_parents_sender_is_mid_request(api: FakeAPI, make_streamer) -> None:
    # The parent's sender holds its locks inside a request that hangs; a child forked then
    # must not inherit them held.
    s = make_streamer(flush_interval=60, request_timeout=30)
    assert s.flush(timeout=10)
    api.script_events("hang")
    s.log("who", "parent")
    assert not s.flush(timeout=0.01)  # the request is on its way
    assert api.wait_for(lambda a: len(a.posts("/api/events")) == 1, timeout=10)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            s.log("who", "child")
            code = 0 if s.close(timeout=10) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert "child" in [e["value"] for e in api.events("test_bucket")]
    api.release_hangs.set()
