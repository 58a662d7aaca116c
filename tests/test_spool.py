"""The spool's own guarantees: bounds with warnings, claims, recovery, bad files."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from fake_api import free_port

from isstreamer import Streamer
from isstreamer.spool import Spool, key_fingerprint

KEY = "ist_spool_key_1212"


def events(n: int, start: int = 0) -> list:
    return [("n", i, 1_700_000_000.0) for i in range(start, start + n)]


def test_size_bound_evicts_oldest_first_with_a_warning(tmp_path, caplog) -> None:
    spool = Spool(str(tmp_path), key_fingerprint(KEY), max_bytes=4000)
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        for f in range(10):
            spool.save("b", "B", events(20, f * 20), "test")
    kept = [spool.read(n) for n in spool.pending()]
    first_values = [b.events[0][1] for b in kept]
    assert first_values == sorted(first_values) and first_values[-1] == 180  # newest kept
    assert sum(os.path.getsize(os.path.join(spool.directory, n)) for n in spool.pending()) <= 4000
    assert spool.evicted_events == 200 - 20 * len(kept)
    assert any("over its limits" in r.getMessage() and "oldest batches" in r.getMessage()
               for r in caplog.records)


def test_age_bound(tmp_path) -> None:
    spool = Spool(str(tmp_path), key_fingerprint(KEY), max_age=3600)
    spool.save("b", "B", events(5), "old")
    old = os.path.join(spool.directory, spool.pending()[0])
    os.utime(old, (1_000_000, 1_000_000))
    spool.save("b", "B", events(5, 5), "new")
    assert [spool.read(n).events[0][1] for n in spool.pending()] == [5]


def test_evictions_count_as_dropped_in_the_identity(tmp_path) -> None:
    s = Streamer("b", "evict", KEY, stream_api_base=f"http://127.0.0.1:{free_port()}",
                 spool_dir=str(tmp_path), spool_max_bytes=3000, retry_time=0,
                 retry_backoff=0.01, buffer_size=10, max_buffer=100)
    for i in range(500):
        s.log("n", i)
    s.close(timeout=5)
    st = s.stats()
    assert st["dropped"] > 0 and st["sent"] == 0
    spool = Spool(str(tmp_path), key_fingerprint(KEY))
    on_disk = sum(len(spool.read(n).events) for n in spool.pending())
    assert on_disk == st["spooled"]  # what is counted as spooled is really on disk
    assert st["spooled"] + st["dropped"] == 500 and st["logged"] == 500


def test_a_claim_is_exclusive(tmp_path) -> None:
    a = Spool(str(tmp_path), key_fingerprint(KEY))
    b = Spool(str(tmp_path), key_fingerprint(KEY))
    a.save("b", "B", events(3), "x")
    name = a.pending()[0]
    first = a.claim(name)
    assert first is not None and b.claim(name) is None
    assert a.pending() == [] and b.pending() == []
    a.release(first, "try later")
    again = b.claim(name)
    assert again is not None and again.attempts == 2 and again.reason == "try later"


def test_claims_of_dead_processes_are_recovered(tmp_path) -> None:
    spool = Spool(str(tmp_path), key_fingerprint(KEY))
    spool.save("b", "B", events(3), "x")
    name = spool.pending()[0]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    os.rename(os.path.join(spool.directory, name),
              os.path.join(spool.directory, f"{name}.claimed-{pid}"))
    assert spool.pending() == []
    assert spool.recover_stale_claims() == 1
    assert spool.pending() == [name]


def test_unreadable_files_are_set_aside_not_fatal(tmp_path, caplog) -> None:
    spool = Spool(str(tmp_path), key_fingerprint(KEY))
    spool.save("b", "B", events(3), "x")
    name = spool.pending()[0]
    with open(os.path.join(spool.directory, name), "w") as handle:
        handle.write("{truncated")
    with caplog.at_level(logging.ERROR, logger="isstreamer"):
        assert spool.claim(name) is None
    assert os.path.exists(os.path.join(spool.directory, name + ".corrupt"))
    assert any("unreadable" in r.getMessage() for r in caplog.records)


def test_unwritable_spool_counts_failed_and_says_so(tmp_path, caplog) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    with caplog.at_level(logging.ERROR, logger="isstreamer"):
        s = Streamer("b", "k", KEY, stream_api_base=f"http://127.0.0.1:{free_port()}",
                     spool_dir=str(blocked / "spool"), retry_time=0, retry_backoff=0.01)
        s.log("n", 1)
        s.close(timeout=5)
    st = s.stats()
    assert st["failed"] == 1 and st["logged"] == 1
    assert any("cannot write to the spool" in r.getMessage() for r in caplog.records)
