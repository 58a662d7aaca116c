"""A real HTTP server on 127.0.0.1 that speaks enough of the Initial State API for the tests,
records every request, and misbehaves on cue (status codes, Retry-After, resets, hangs).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Optional, Tuple, Union

# A scripted answer: a status code, (status, headers, body), "reset" or "hang".
Fault = Union[int, Tuple[int, Dict[str, str], bytes], str]


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    status: int = 0
    client_port: int = 0

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _State:
    requests: List[Recorded] = field(default_factory=list)
    buckets: Dict[str, str] = field(default_factory=dict)
    events: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    script: Deque[Fault] = field(default_factory=deque)
    event_script: Deque[Fault] = field(default_factory=deque)
    always: Optional[Fault] = None
    removed: set = field(default_factory=set)
    rate_headers: Dict[str, str] = field(default_factory=dict)
    flaky: Optional[Tuple[Any, float, Tuple[Fault, ...]]] = None
    rate_limit: Optional[Tuple[int, float]] = None  # (requests, window seconds)
    window_start: float = 0.0
    window_count: int = 0
    too_many: int = 0  # 429s answered because of rate_limit
    max_batch: Optional[int] = None  # 413 for event arrays longer than this


def free_port() -> int:
    """A port nothing listens on (connection refused): a server that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeAPI:
    """Start with ``with FakeAPI() as api:``; point a Streamer at ``api.base``."""

    def __init__(self, port: int = 0) -> None:
        self.state = _State()
        self.cond = threading.Condition()
        self.release_hangs = threading.Event()
        self._port = port
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle
    def start(self) -> "FakeAPI":
        api = self

        class Handler(_Handler):
            owner = api

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release_hangs.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeAPI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    # -- scripting
    def script(self, *faults: Fault) -> None:
        """Answer the next requests (any path) with these, then behave normally."""
        with self.cond:
            self.state.script.extend(faults)

    def script_events(self, *faults: Fault) -> None:
        """Like ``script`` but only for POST /api/events."""
        with self.cond:
            self.state.event_script.extend(faults)

    def always(self, fault: Optional[Fault]) -> None:
        with self.cond:
            self.state.always = fault

    def flaky(self, probability: float, faults: Tuple[Fault, ...], seed: int = 7) -> None:
        """Answer a seeded-random share of event requests with one of ``faults``."""
        import random

        with self.cond:
            self.state.flaky = (random.Random(seed), probability, faults)

    def limit_rate(self, requests: int, window: float) -> None:
        """Enforce a plan limit with X-RateLimit-* headers, 429 + Retry-After past it."""
        with self.cond:
            self.state.rate_limit = (requests, window)

    def remove_bucket(self, key: str) -> None:
        with self.cond:
            self.state.removed.add(key)

    # -- inspection
    @property
    def requests(self) -> List[Recorded]:
        with self.cond:
            return list(self.state.requests)

    def posts(self, path: str) -> List[Recorded]:
        return [r for r in self.requests if r.path == path]

    def events(self, bucket_key: Optional[str] = None) -> List[Dict[str, Any]]:
        with self.cond:
            if bucket_key is not None:
                return list(self.state.events.get(bucket_key, []))
            return [e for evs in self.state.events.values() for e in evs]

    def client_ports(self) -> set:
        """Source ports seen: one port means one reused keep-alive connection."""
        return {r.client_port for r in self.requests}

    def buckets(self) -> Dict[str, str]:
        with self.cond:
            return dict(self.state.buckets)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Block until ``predicate(api)`` holds (re-checked on every request) or timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FakeAPI

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._reply(404, b'{"error":"not found"}')

    def do_POST(self) -> None:
        api = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        record = Recorded(
            "POST", self.path, {k: v for k, v in self.headers.items()}, body,
            client_port=self.client_address[1],
        )
        with api.cond:
            api.state.requests.append(record)
            fault: Optional[Fault] = None
            if api.state.script:
                fault = api.state.script.popleft()
            elif self.path == "/api/events" and api.state.event_script:
                fault = api.state.event_script.popleft()
            elif api.state.always is not None:
                fault = api.state.always
            elif self.path == "/api/events" and api.state.flaky is not None:
                rng, probability, faults = api.state.flaky
                if rng.random() < probability:
                    fault = rng.choice(faults)
            if fault is None and self.path == "/api/events":
                fault = self._rate_limited()
            api.cond.notify_all()
        if fault is not None:
            self._fault(record, fault)
            return
        self._normal(record)

    def _rate_limited(self) -> Optional[Fault]:
        """With the lock held: count this request in its window; a 429 when over the limit."""
        state = self.owner.state
        if state.rate_limit is None:
            return None
        limit, window = state.rate_limit
        now = time.time()
        if now - state.window_start >= window:
            state.window_start, state.window_count = now, 0
        state.window_count += 1
        reset = state.window_start + window
        state.rate_headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - state.window_count)),
            "X-RateLimit-Reset": f"{reset:.3f}",
        }
        if state.window_count > limit:
            state.too_many += 1
            return (429, {"Retry-After": f"{max(0.0, reset - now):.3f}", **state.rate_headers}, b"")
        return None

    def _normal(self, record: Recorded) -> None:
        api = self.owner
        if not record.headers.get("X-IS-AccessKey"):
            self._answer(record, 401, b'{"message":"unauthorized"}')
            return
        bucket_key = record.headers.get("X-IS-BucketKey", "")
        try:
            data = json.loads(record.body)
        except ValueError:
            self._answer(record, 400, b'{"message":"bad json"}')
            return
        if self.path == "/api/buckets":
            bucket_key = data.get("bucketKey", "")
        if bucket_key in api.state.removed:
            self._answer(
                record,
                400,
                json.dumps({"message": {"error": {"type": "BUCKET_REMOVED",
                                                  "message": "bucket was deleted"}}}).encode(),
            )
            return
        with api.cond:
            if self.path == "/api/buckets":
                status = 204 if bucket_key in api.state.buckets else 201
                api.state.buckets.setdefault(bucket_key, data.get("bucketName", ""))
            elif self.path == "/api/events":
                status = 204
                batch = data if isinstance(data, list) else [data]
                if api.state.max_batch is not None and len(batch) > api.state.max_batch:
                    status = 413
                else:
                    api.state.events.setdefault(bucket_key, []).extend(batch)
            else:
                status = 404
            api.cond.notify_all()
        self._answer(record, status, b"", api.state.rate_headers)

    def _fault(self, record: Recorded, fault: Fault) -> None:
        if fault == "reset":
            # RST instead of FIN: the client sees a connection reset, no response.
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.close_connection = True
            self.connection.close()
            return
        if fault == "hang":
            self.owner.release_hangs.wait(30)
            self.close_connection = True
            return
        if fault == "store-then-500":
            self._normal_store_only(record)
            self._answer(record, 500, b"")
            return
        if isinstance(fault, int):
            self._answer(record, fault, b'{"message":"scripted"}')
        else:
            status, headers, body = fault  # type: ignore[misc]
            self._answer(record, status, body, headers)

    def _normal_store_only(self, record: Recorded) -> None:
        api = self.owner
        with api.cond:
            batch = json.loads(record.body)
            api.state.events.setdefault(record.headers.get("X-IS-BucketKey", ""), []).extend(
                batch if isinstance(batch, list) else [batch]
            )

    def _answer(
        self, record: Recorded, status: int, body: bytes, headers: Optional[Dict[str, str]] = None
    ) -> None:
        record.status = status
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)
