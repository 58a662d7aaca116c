"""``isstreamer demo``: the classic is_example run end to end, with no account and no internet.

It starts a receiver on a free local port, streams the original example's 47 events through the
real ``Streamer`` over real HTTP, and shows what arrived. Exit status 0 means all 47 were stored.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from typing import Callable, List, Optional, TextIO, Tuple

from .app import Receiver
from .page import show_value
from .store import Store

BUCKET_NAME = "Python Stream Example"
BUCKET_KEY = "python_example"
DEMO_ACCESS_KEY = "ist_local_demo_key"
EXPECTED_EVENTS = 47


def example_events() -> List[Tuple[str, object]]:
    """The original is_example's events, in order (47 of them)."""
    events: List[Tuple[str, object]] = [("My Messages", "Stream Starting")]
    for n in range(1, 20):
        events.append(("My Numbers", n))
        events.append(("My Booleans", n % 2 == 1))
        if n % 3 == 0:
            events.append(("My Events", "pop"))
        if n == 10:
            events.append(("My Messages", "Stream Half Done"))
    events.append(("My Messages", "Stream Done"))
    return events


def stream_example(base_url: str, *, interval: float = 0.1,
                   sleep: Callable[[float], None] = time.sleep) -> bool:
    """Run the is_example flow through a real Streamer; True if close() delivered everything."""
    from .. import Streamer  # the client core; imported here so the receiver stands alone

    streamer = Streamer(bucket_name=BUCKET_NAME, bucket_key=BUCKET_KEY,
                        access_key=DEMO_ACCESS_KEY, offline=False, stream_api_base=base_url)
    try:
        first = True
        for key, value in example_events():
            if key == "My Numbers":
                if not first and interval > 0:
                    sleep(interval)  # the original example's pace, 0.1 s per step
                first = False
            streamer.log(key, value)
    finally:
        delivered = streamer.close(timeout=15)
    return bool(delivered)


def summary_rows(store: Store, bucket_key: str = BUCKET_KEY) -> List[Tuple[str, int, str]]:
    """(stream, count, latest) for the demo bucket, by stream name."""
    ids = store.bucket_ids_for_key(bucket_key)
    rows: List[Tuple[str, int, str]] = []
    for bucket_id in ids:
        for stream in store.streams(bucket_id, chart_points=0):
            rows.append((stream.key, stream.count, show_value(stream.latest)))
    return sorted(rows)


def format_table(rows: List[Tuple[str, int, str]]) -> str:
    header = ("Stream", "Count", "Latest")
    total = sum(r[1] for r in rows)
    body = [(r[0], str(r[1]), r[2]) for r in rows] + [("total", str(total), "")]
    widths = [max(len(header[i]), *(len(r[i]) for r in body)) for i in range(3)]

    def line(cells: Tuple[str, str, str]) -> str:
        return (f"  {cells[0]:<{widths[0]}}  {cells[1]:>{widths[1]}}  {cells[2]}").rstrip()

    rule = "  " + "-" * (widths[0] + widths[1] + widths[2] + 4)
    return "\n".join([line(header), rule] + [line(r) for r in body[:-1]] + [rule, line(body[-1])])


def run_demo(*, port: int = 0, keep_serving: bool = False, interval: float = 0.1,
             out: TextIO = sys.stdout, wait_forever: Optional[Callable[[], None]] = None) -> int:
    """The demo command; returns the process exit status."""
    workdir = tempfile.mkdtemp(prefix="isstreamer-demo-")
    receiver = Receiver(os.path.join(workdir, "demo.db"), host="127.0.0.1", port=port)
    try:
        receiver.start()
        print(f"isstreamer demo: a local receiver is listening on {receiver.base_url}", file=out)
        print(f"Streaming the example ({EXPECTED_EVENTS} events) to bucket {BUCKET_NAME!r} "
              f"(key {BUCKET_KEY!r}) with the real Streamer...", file=out, flush=True)
        started = time.monotonic()
        delivered = stream_example(receiver.base_url, interval=interval)
        elapsed = time.monotonic() - started
        rows = summary_rows(receiver.store)
        stored = sum(r[1] for r in rows)
        print(f"\nThe receiver stored {stored} events in {elapsed:.1f} s:\n", file=out)
        print(format_table(rows), file=out)
        page = receiver.url("/")
        ok = stored == EXPECTED_EVENTS and delivered
        if ok:
            print(f"\nAll {EXPECTED_EVENTS} events arrived.", file=out)
        else:
            print(f"\nFAILED: expected {EXPECTED_EVENTS} events, the receiver stored {stored}"
                  f"{'' if delivered else ' (the Streamer could not deliver everything)'}.",
                  file=out)
        if keep_serving:
            print(f"Page: {page}  (serving until Ctrl-C)", file=out, flush=True)
            try:
                (wait_forever or _wait_forever)()
            except KeyboardInterrupt:
                print("", file=out)
        else:
            print(f"Page: {page}  (run `isstreamer demo --keep-serving` to keep it open; "
                  "`isstreamer serve` for a lasting receiver)", file=out)
        return 0 if ok else 1
    finally:
        receiver.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_forever() -> None:
    while True:
        time.sleep(3600)
