"""A small, fast loopback stand-in for the Initial State API, for the benchmarks only.

Why not the project's receiver: it stores events in SQLite and validates them, which costs
server CPU that would compete with the client on a 2-core machine and blur the comparison.
This server does the least an honest receiver must: parse each body as JSON, count events and
requests per bucket key, answer like the API (201/204), keep connections alive (HTTP/1.1) and
optionally record, per event, how long after its ``epoch`` it arrived (delivery latency).

It runs in its own process; the runner reads ``READY <port>`` from its stdout and queries it:

    GET  /_stats?bucket=KEY     {"events", "requests", "buckets", "first", "last"} for one key
    GET  /_latency?bucket=KEY   {"latencies": [...]} seconds from epoch to arrival, per event

    python bench/server.py [--port 0] [--tls CERT KEY]
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found"}


class Tally:
    """Counters for one bucket key; updated under the server's one lock."""

    __slots__ = ("events", "requests", "buckets", "first", "last", "latencies")

    def __init__(self) -> None:
        self.events = 0
        self.requests = 0
        self.buckets = 0
        self.first: Optional[float] = None
        self.last: Optional[float] = None
        self.latencies: List[float] = []


class BenchServer(ThreadingHTTPServer):
    """One thread per connection; a deep accept queue, since the original opens many at once."""

    daemon_threads = True
    request_queue_size = 4096
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], tls: Optional[ssl.SSLContext]) -> None:
        super().__init__(address, Handler)
        self.tls = tls
        self.lock = threading.Lock()
        self.tallies: Dict[str, Tally] = {}
        self.known_buckets: Set[str] = set()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """TLS handshakes happen here, in the connection's thread, not in the accept loop."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            try:
                wrapped.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish mid-request are normal here (the original is killed on purpose)."""

    def tally(self, key: str) -> Tally:
        found = self.tallies.get(key)
        if found is None:
            found = self.tallies[key] = Tally()
        return found


class Handler(BaseHTTPRequestHandler):
    """POST /api/buckets and /api/events as the API answers them; GET /_stats for the runner."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: BenchServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass

    def _reply(self, status: int, body: bytes = b"") -> None:
        """One write per answer (headers and body together): cheap for both sides."""
        head = f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        self.wfile.write(head.encode("ascii") + b"\r\n" + body)

    def do_POST(self) -> None:  # noqa: N802 - stdlib's name
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        now = time.time()
        bucket = self.headers.get("X-IS-BucketKey") or ""
        path = self.path.split("?", 1)[0]
        try:
            data = json.loads(body) if body else None
        except ValueError:
            self._reply(400, b'{"message":"invalid JSON"}')
            return
        server = self.server
        if path.endswith("/api/buckets"):
            with server.lock:
                tally = server.tally(bucket)
                tally.buckets += 1
                created = bucket not in server.known_buckets
                server.known_buckets.add(bucket)
            self._reply(201 if created else 204)
            return
        if not path.endswith("/api/events"):
            self._reply(404)
            return
        events = data if isinstance(data, list) else [data] if data is not None else []
        with server.lock:
            tally = server.tally(bucket)
            tally.requests += 1
            tally.events += len(events)
            if tally.first is None:
                tally.first = now
            tally.last = now
            if bucket.startswith("lat-"):
                tally.latencies.extend(now - float(e["epoch"]) for e in events)
        self._reply(204)

    def do_GET(self) -> None:  # noqa: N802 - stdlib's name
        parts = urlsplit(self.path)
        bucket = parse_qs(parts.query).get("bucket", [""])[0]
        server = self.server
        with server.lock:
            tally = server.tallies.get(bucket) or Tally()
            if parts.path == "/_latency":
                answer: Dict[str, Any] = {"latencies": list(tally.latencies)}
            else:
                answer = {"events": tally.events, "requests": tally.requests,
                          "buckets": tally.buckets, "first": tally.first, "last": tally.last}
        self._reply(200, json.dumps(answer).encode())


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args(argv)
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
    server = BenchServer(("127.0.0.1", args.port), context)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
