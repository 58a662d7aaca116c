"""Ingest throughput of the local receiver: events/s at batches of 10 and 500.

The receiver runs as ``python -m isstreamer serve`` in its own process (as users run it); this
process posts ready-made JSON batches over one keep-alive connection with ``http.client``, so
the client's own cost stays small and the number measures the server: HTTP parsing,
validation, and one SQLite transaction per request.

    python bench/bench_receiver.py                 # default sizes
    python bench/bench_receiver.py --events 50000  # more events per run

Loopback only; bounded in count and time. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Tuple


def start_server(db: str) -> Tuple[subprocess.Popen, str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "isstreamer", "serve", "-q", "--port", "0", "--db", db],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    found: Dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r"listening on http://([\d.]+):(\d+)", line)
            if match:
                found["host"], found["port"] = match.group(1), match.group(2)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(30) or "port" not in found:
        proc.kill()
        raise SystemExit("the receiver did not start")
    return proc, found["host"], int(found["port"])


def run(host: str, port: int, batch: int, total: int, bucket: str) -> Dict[str, float]:
    now = time.time()
    events = [{"key": f"sensor_{i % 8}", "value": 20.0 + (i % 100) / 10, "epoch": now + i / 1000}
              for i in range(batch)]
    body = json.dumps(events).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-IS-AccessKey": "ist_bench_key",
               "X-IS-BucketKey": bucket, "Accept-Version": "<=0.0.4"}
    conn = http.client.HTTPConnection(host, port, timeout=30)
    requests = max(1, total // batch)
    deadline = time.monotonic() + 300
    started = time.perf_counter()
    for _ in range(requests):
        conn.request("POST", "/api/events", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 204:
            raise SystemExit(f"unexpected answer {answer.status}")
        if time.monotonic() > deadline:
            raise SystemExit("benchmark took longer than 5 minutes; stopping")
    elapsed = time.perf_counter() - started
    conn.close()
    sent = requests * batch
    return {"batch": batch, "requests": requests, "events": sent, "seconds": elapsed,
            "events_per_s": sent / elapsed, "requests_per_s": requests / elapsed,
            "ms_per_request": elapsed / requests * 1000}


def main(argv: List[str] = None) -> int:  # type: ignore[assignment]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per batch size")
    parser.add_argument("--batches", type=int, nargs="+", default=[10, 500])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        proc, host, port = start_server(os.path.join(tmp, "bench.db"))
        try:
            print(f"python {platform.python_version()} on {platform.machine()}, "
                  f"{os.cpu_count()} CPUs; receiver pid {proc.pid} on {host}:{port}")
            print(f"{'batch':>6} {'requests':>9} {'events':>8} {'seconds':>8} "
                  f"{'events/s':>10} {'req/s':>8} {'ms/req':>7}")
            for batch in args.batches:
                run(host, port, batch, min(args.events, batch * 50), f"warmup_{batch}")
                r = run(host, port, batch, args.events, f"bench_{batch}")
                print(f"{r['batch']:>6.0f} {r['requests']:>9.0f} {r['events']:>8.0f} "
                      f"{r['seconds']:>8.2f} {r['events_per_s']:>10.0f} "
                      f"{r['requests_per_s']:>8.0f} {r['ms_per_request']:>7.2f}")
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
