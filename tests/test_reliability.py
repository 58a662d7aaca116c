"""Never lose an event: each fault of design.md against a real loopback server.

Every scenario logs N distinct events and checks the accounting identity
(logged = sent + spooled + failed + rejected + dropped + pending) and what the server stored:
nothing lost, and duplicates only where a response was lost after the server stored it.
With ``ISS_FAULT_REPORT=path.md`` the rows are also written as the table of
docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any, Dict, List

import pytest
from conftest import TESTS_DIR, run_python
from fake_api import FakeAPI, free_port

from isstreamer import Streamer
from isstreamer.spool import Spool, key_fingerprint

KEY = "ist_reliability_key_4242"
FAST = {"retry_backoff": 0.01, "access_key": KEY, "bucket_name": "Faults",
        "bucket_key": "faults"}


def make(base: str, spool_dir: str, **kwargs: Any) -> Streamer:
    options = dict(FAST, stream_api_base=base, spool_dir=spool_dir)
    options.update(kwargs)
    return Streamer(**options)


def spool_events(spool_dir: str, key: str = KEY) -> int:
    spool = Spool(spool_dir, key_fingerprint(key))
    return sum(len(spool.read(n).events) for n in spool.pending(include_refused=True))


def assert_identity(st: Dict[str, int], n: int) -> None:
    assert st["pending"] == 0, st
    assert st["logged"] == n, st
    assert st["sent"] + st["spooled"] + st["failed"] + st["rejected"] + st["dropped"] == n, st
    assert st["failed"] == 0 and st["dropped"] == 0, st


def received(api: FakeAPI) -> List[int]:
    return [e["value"] for e in api.events("faults")]


def check_delivery(api: FakeAPI, n: int) -> Dict[str, int]:
    values = received(api)
    lost = set(range(n)) - set(values)
    assert not lost, f"lost {len(lost)} events"
    return {"lost": len(lost), "duplicates": len(values) - len(set(values))}


def wait_replayed(api: FakeAPI, n: int, timeout: float = 30) -> None:
    assert api.wait_for(lambda a: len(set(received(a))) >= n, timeout=timeout), (
        f"only {len(set(received(api)))} of {n} arrived"
    )


@pytest.fixture
def spool_dir(tmp_path) -> str:
    return str(tmp_path / "spool")


@pytest.fixture
def report(request):
    rows = request.config.__dict__.setdefault("_fault_rows", [])

    def add(fault: str, n: int, sent: int, spooled: int, replayed: int, lost: int,
            duplicates: int, note: str = "") -> None:
        rows.append((fault, n, sent, spooled, replayed, lost, duplicates,
                     request.node.nodeid.split("::")[-1], note))

    return add


def test_server_down_the_whole_run_then_next_start_replays(spool_dir, report) -> None:
    port = free_port()
    s = make(f"http://127.0.0.1:{port}", spool_dir, retry_time=0.2)
    for i in range(1000):
        s.log("n", i)
    s.close(timeout=10)
    st = s.stats()
    assert_identity(st, 1000)
    assert st["spooled"] == 1000 and st["sent"] == 0
    assert st["requests"] < 40  # no hot loop while the API is down
    assert spool_events(spool_dir) == 1000
    with FakeAPI(port=port) as api:
        nxt = make(api.base, spool_dir)
        wait_replayed(api, 1000)
        nxt.close()
        assert nxt.stats()["replayed"] == 1000
        outcome = check_delivery(api, 1000)
    assert spool_events(spool_dir) == 0
    report("server down the whole run, then up at the next start", 1000, st["sent"],
           st["spooled"], nxt.stats()["replayed"], **outcome)


def test_server_down_then_back_mid_run(spool_dir, report) -> None:
    port = free_port()
    s = make(f"http://127.0.0.1:{port}", spool_dir, retry_time=0.2)
    for i in range(500):
        s.log("n", i)
    assert s.flush(timeout=10) is False  # saved, not delivered
    with FakeAPI(port=port) as api:
        for i in range(500, 1000):
            s.log("n", i)
        wait_replayed(api, 1000)
        s.close()
        st = s.stats()
        assert_identity(st, 1000)
        assert st["sent"] + st["replayed"] >= 1000
        outcome = check_delivery(api, 1000)
    assert spool_events(spool_dir) == 0
    report("down, then back up mid-run", 1000, st["sent"], st["spooled"], st["replayed"],
           **outcome)


def test_every_request_503(api, spool_dir, report) -> None:
    s = make(api.base, spool_dir, retry_time=0.3)
    assert s.flush(timeout=10)
    api.always(503)
    for i in range(200):
        s.log("n", i)
    s.close(timeout=10)
    st = s.stats()
    assert_identity(st, 200)
    assert st["spooled"] == 200
    assert spool_events(spool_dir) == 200
    api.always(None)
    nxt = make(api.base, spool_dir)
    wait_replayed(api, 200)
    nxt.close()
    outcome = check_delivery(api, 200)
    report("every request 503 (then fixed, next start)", 200, st["sent"], st["spooled"],
           nxt.stats()["replayed"], **outcome)


def test_thirty_percent_503_or_reset(api, spool_dir, report) -> None:
    api.flaky(0.3, (503, "reset"))
    s = make(api.base, spool_dir)
    for i in range(2000):
        s.log("n", i)
    assert s.close(timeout=30) is True
    st = s.stats()
    assert_identity(st, 2000)
    assert st["sent"] == 2000 and st["retries"] > 0
    outcome = check_delivery(api, 2000)
    assert outcome["duplicates"] == 0
    report("30% of requests 503 or connection reset", 2000, st["sent"], st["spooled"],
           st["replayed"], **outcome, note=f"{st['retries']} retries")


def test_responses_lost_after_the_server_stored_them(api, spool_dir, report) -> None:
    # The only source of duplicates: the server stored the batch but the answer never came.
    api.script_events("store-then-500", "store-then-500")
    s = make(api.base, spool_dir)
    for i in range(100):
        s.log("n", i)
    assert s.close(timeout=10) is True
    st = s.stats()
    assert_identity(st, 100)
    outcome = check_delivery(api, 100)
    assert outcome["duplicates"] == 20  # exactly the two batches whose answers were lost
    report("answer lost after the server stored the batch (500 after storing)", 100,
           st["sent"], st["spooled"], st["replayed"], **outcome)


def test_server_accepts_and_never_answers(api, spool_dir, tmp_path, report) -> None:
    api.always("hang")
    code = textwrap.dedent(f"""
        import json
        from isstreamer import Streamer
        s = Streamer("Faults", "faults", {KEY!r}, stream_api_base={api.base!r},
                     spool_dir={spool_dir!r}, request_timeout=30, close_timeout=1)
        for i in range(300):
            s.log("n", i)
        import atexit
        atexit.register(lambda: print(json.dumps(s.stats())))
    """)
    started = time.monotonic()
    result = run_python(code, cwd=str(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15  # bounded by close_timeout, not request_timeout
    assert spool_events(spool_dir) == 300
    api.always(None)
    api.release_hangs.set()
    nxt = make(api.base, spool_dir)
    wait_replayed(api, 300)
    nxt.close()
    outcome = check_delivery(api, 300)
    report("accepts and never answers (process exits in its deadline)", 300, 0, 300,
           nxt.stats()["replayed"], **outcome)


@pytest.mark.parametrize("retry_after", ["1", None])
def test_429(api, spool_dir, report, retry_after) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    api.script_events((429, headers, b""), (429, headers, b""))
    s = make(api.base, spool_dir)
    for i in range(100):
        s.log("n", i)
    assert s.close(timeout=20) is True
    st = s.stats()
    assert_identity(st, 100)
    assert st["sent"] == 100 and st["retries"] == 2
    outcome = check_delivery(api, 100)
    report(f"429 {'with Retry-After: 1' if retry_after else 'without Retry-After'}", 100,
           st["sent"], st["spooled"], st["replayed"], **outcome)


def test_server_enforcing_three_requests_per_second(api, spool_dir, report) -> None:
    api.limit_rate(3, 1.0)
    s = make(api.base, spool_dir)
    for i in range(150):  # 15 requests of 10: at least 4 windows
        s.log("n", i)
    assert s.close(timeout=30) is True
    st = s.stats()
    assert_identity(st, 150)
    assert api.state.too_many <= 1  # paced by X-RateLimit-*, not by being told 429
    outcome = check_delivery(api, 150)
    report("server enforcing 3 requests/s (X-RateLimit-* headers)", 150, st["sent"],
           st["spooled"], st["replayed"], **outcome, note=f"{api.state.too_many} × 429")


def test_413_on_large_batches(api, spool_dir, report) -> None:
    api.state.max_batch = 3
    s = make(api.base, spool_dir, buffer_size=20)
    for i in range(200):
        s.log("n", i)
    assert s.close(timeout=20) is True
    st = s.stats()
    assert_identity(st, 200)
    assert all(len(r.json()) <= 3 for r in api.posts("/api/events") if r.status == 204)
    outcome = check_delivery(api, 200)
    report("413 for batches over 3 events", 200, st["sent"], st["spooled"], st["replayed"],
           **outcome)


@pytest.mark.parametrize("status", [401, 402])
def test_401_and_402_spool_without_hot_retries(api, spool_dir, report, caplog, status) -> None:
    s = make(api.base, spool_dir)
    assert s.flush(timeout=10)
    api.always(status)
    for i in range(100):
        s.log("n", i)
    s.close(timeout=10)
    st = s.stats()
    assert_identity(st, 100)
    assert st["spooled"] == 100
    assert len(api.posts("/api/events")) <= 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    api.always(None)  # key fixed / quota reset: the next start replays
    nxt = make(api.base, spool_dir)
    wait_replayed(api, 100)
    nxt.close()
    outcome = check_delivery(api, 100)
    report(f"{status} ({'bad key' if status == 401 else 'quota used up'}), then fixed", 100,
           st["sent"], st["spooled"], nxt.stats()["replayed"], **outcome)


def test_bucket_removed_is_kept_for_a_new_bucket(api, spool_dir, report, caplog) -> None:
    api.remove_bucket("faults")
    s = make(api.base, spool_dir)
    for i in range(50):
        s.log("n", i)
    s.close(timeout=10)
    st = s.stats()
    assert_identity(st, 50)
    assert st["spooled"] == 50 and api.posts("/api/events") == []
    nxt = make(api.base, spool_dir, bucket_key="other")  # never auto-replayed into a dead key
    assert nxt.flush(timeout=10)
    nxt.close()
    assert api.posts("/api/events") == [] and spool_events(spool_dir) == 50
    report("400 BUCKET_REMOVED (kept in the spool for `spool replay --bucket-key`)", 50,
           st["sent"], st["spooled"], 0, 0, 0, note="not replayed automatically")


CHILD = textwrap.dedent("""
    import json, sys, threading
    from isstreamer import Streamer
    s = Streamer("Faults", "faults", KEY, stream_api_base=BASE, spool_dir=SPOOL,
                 retry_backoff=0.01, retry_time=0.2, flush_interval=60)
    for i in range(N):
        s.log("n", i)
    MODE
""")


def child_code(base: str, spool_dir: str, n: int, mode: str) -> str:
    return (CHILD.replace("KEY", repr(KEY)).replace("BASE", repr(base))
            .replace("SPOOL", repr(spool_dir)).replace("N", str(n)).replace("MODE", mode))


def spawn(code: str, cwd: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=TESTS_DIR)
    return subprocess.Popen([sys.executable, "-c", code], cwd=cwd, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_exit_without_close(api, spool_dir, tmp_path, report) -> None:
    result = run_python(child_code(api.base, spool_dir, 500, "pass"), cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    outcome = check_delivery(api, 500)
    report("exit without close()", 500, 500, 0, 0, **outcome)


def test_sigterm_leaves_nothing_lost(api, spool_dir, tmp_path, report) -> None:
    code = child_code(api.base, spool_dir, 500,
                      "print('ready', flush=True)\nthreading.Event().wait(60)")
    proc = spawn(code, str(tmp_path))
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    outcome = check_delivery(api, 500)
    report("SIGTERM (as systemd sends) while idle", 500, 500, 0, 0, **outcome)


def test_kill_9_after_a_spool_write_is_replayed_next_start(spool_dir, tmp_path, report) -> None:
    port = free_port()
    code = child_code(f"http://127.0.0.1:{port}", spool_dir, 400,
                      "s.flush(timeout=10)\nprint('spooled', flush=True)\n"
                      "threading.Event().wait(60)")
    proc = spawn(code, str(tmp_path))
    assert proc.stdout.readline().strip() == "spooled"
    proc.kill()
    proc.wait(10)
    assert spool_events(spool_dir) == 400
    with FakeAPI(port=port) as api:
        nxt = make(api.base, spool_dir)
        wait_replayed(api, 400)
        nxt.close()
        outcome = check_delivery(api, 400)
    report("kill -9 after a spool write; next start replays", 400, 0, 400,
           nxt.stats()["replayed"], **outcome)


def test_two_processes_share_a_spool(api, spool_dir, tmp_path, report) -> None:
    spool = Spool(spool_dir, key_fingerprint(KEY))
    for f in range(40):
        spool.save("faults", "Faults", [("n", f * 25 + i, 1_700_000_000.0) for i in range(25)],
                   "seeded by the test")
    code = textwrap.dedent(f"""
        import json, sys
        from isstreamer import Streamer
        s = Streamer("Faults", "faults", {KEY!r}, stream_api_base={api.base!r},
                     spool_dir={spool_dir!r})
        sys.stdin.readline()
        s.close()
        print(json.dumps(s.stats()))
    """)
    procs = [spawn(code, str(tmp_path)) for _ in range(2)]
    try:
        wait_replayed(api, 1000)
    finally:
        outs = [p.communicate("\n", timeout=30)[0] for p in procs]
    replayed = [json.loads(out.strip().splitlines()[-1])["replayed"] for out in outs]
    assert sum(replayed) == 1000
    outcome = check_delivery(api, 1000)
    assert outcome["duplicates"] == 0
    assert spool_events(spool_dir) == 0 and os.listdir(spool_dir) == []
    report("two processes replaying one spool", 1000, 0, 1000, sum(replayed), **outcome,
           note=f"split {replayed[0]}/{replayed[1]}")


def test_overflow_moves_the_excess_to_the_spool(api, spool_dir, report) -> None:
    api.always("hang")  # the sender is stuck in a request; producers keep logging
    s = make(api.base, spool_dir, max_buffer=1000, request_timeout=30, flush_interval=60)
    assert not s.flush(timeout=0.2)
    for i in range(5000):
        s.log("n", i)
    st = s.stats()
    assert st["pending"] <= 1000 + 10 and st["spooled"] >= 3900
    api.always(None)
    api.release_hangs.set()
    s.close(timeout=10)
    nxt = make(api.base, spool_dir)
    wait_replayed(api, 5000)
    nxt.close()
    st = s.stats()
    assert_identity(st, 5000)
    outcome = check_delivery(api, 5000)
    report("buffer overflow while the API hangs (max_buffer=1000)", 5000, st["sent"],
           st["spooled"], st["replayed"] + nxt.stats()["replayed"], **outcome,
           note="replayed by close() once the API answered")


def test_a_burst_past_max_buffer_is_delivered_before_close_returns(
    api, spool_dir, report
) -> None:
    # Eight threads log far faster than the API takes them: the overflow goes to the spool,
    # and close() sends it back in the same run (it must not wait for a later start).
    import threading

    s = make(api.base, spool_dir, max_buffer=1000)
    barrier = threading.Barrier(8)

    def produce(t: int) -> None:
        barrier.wait()
        for i in range(2000):
            s.log("n", t * 2000 + i)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert s.close(timeout=120) is True
    st = s.stats()
    assert st["spooled"] > 0  # the burst really overflowed
    assert st["sent"] + st["replayed"] == 16000 and st["dropped"] == st["failed"] == 0
    assert spool_events(spool_dir) == 0
    outcome = check_delivery(api, 16000)
    assert outcome["duplicates"] == 0
    report("8 threads × 2000 events past max_buffer=1000, healthy API", 16000, st["sent"],
           st["spooled"], st["replayed"], **outcome, note="replayed before close() returned")


def test_close_stays_bounded_while_replaying_a_big_spool_file(api, spool_dir) -> None:
    # A burst past max_buffer=10 000 spools 1 000-event files; against an API paced at 3
    # requests/s one such file takes over 30 s to send back. close() must stop at its
    # deadline and keep the rest, with the progress made, for later.
    api.limit_rate(3, 1.0)
    s = make(api.base, spool_dir, max_buffer=10_000)
    for i in range(20_000):
        s.log("n", i)
    assert s.stats()["spooled"] >= 1000  # the burst overflowed into the spool
    started = time.monotonic()
    assert s.close(timeout=2) is False
    assert time.monotonic() - started < 6
    # The sender may still be finishing the request it was in; let it end before counting.
    import threading

    for thread in [t for t in threading.enumerate() if t.name == "isstreamer-sender"]:
        thread.join(10)
    st = s.stats()
    assert_identity(st, 20_000)
    values = received(api)
    assert len(values) == len(set(values))  # nothing sent twice
    assert len(values) + spool_events(spool_dir) == 20_000  # nothing lost
