"""The receiver's HTTP side: the Initial State events API, a read API and the web page.

Why ``http.server``: the standard library is enough for a local development server, and it keeps
the package to its one runtime dependency. ``Receiver`` runs it on a thread (tests, the demo, the
pytest fixture) or in the foreground (``isstreamer serve``).

Every request is read whole (within the size cap) before it is judged, so an error answer never
leaves half a body on a keep-alive connection; a body that is too big is refused unread and the
connection is closed.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple
from urllib.parse import parse_qsl, urlsplit

from .._version import __version__
from ..config import is_loopback_host
from . import ingest, page
from .assets import static_file
from .ingest import BadRequest
from .ratelimit import RateLimiter, Verdict
from .store import BucketRemoved, Store, account_of

log = logging.getLogger("isstreamer.receiver")

API_VERSIONS = ["0.0.1", "0.0.2", "0.0.3", "0.0.4"]
READ_LIMIT_DEFAULT = 10_000
READ_LIMIT_MAX = 1_000_000
REQUEST_TIMEOUT = 30.0  # seconds a connection may sit idle or stall mid-request

_BUCKET_PATH = re.compile(r"^/read/buckets/(\d{1,18})(/events|/events\.csv)?/?$")
_PAGE_BUCKET_PATH = re.compile(r"^/buckets/(\d{1,18})/?$")


@dataclass
class Options:
    """How the receiver behaves where a client can tell the difference."""

    access_keys: FrozenSet[str] = frozenset()  # empty: any non-empty key is accepted
    rate_limit: Optional[int] = None  # requests per 10 s per access key; None: unlimited
    enforce_limits: bool = False  # 413 over 1 MB, 400 on key/value length


def removed_error(bucket_key: str) -> Dict[str, Any]:
    return {"message": {"error": {
        "type": "BUCKET_REMOVED",
        "message": f"The bucket with key {bucket_key!r} was deleted and can never receive data "
                   "again; choose a new bucket key.",
    }}}


def error_body(kind: str, message: str) -> Dict[str, Any]:
    return {"message": {"error": {"type": kind, "message": message}}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: Tuple[str, int], store: Store, options: Options) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.store = store
        self.options = options
        self.limiter = RateLimiter(options.rate_limit)
        self.stopping = False
        self.connections: Set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        host = address[0]
        self.loopback_only = is_loopback_host(host)
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else ("::1" if host == "::" else host)
        if ":" in shown:
            shown = f"[{shown}]"
        self.base_url = f"http://{shown}:{self.server_address[1]}"

    def drop_connections(self) -> None:
        """Close every open keep-alive connection so no handler thread outlives a stop."""
        with self.connections_lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _host_is_local(host_header: str) -> bool:
    host = host_header.strip()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return is_loopback_host(host.lower())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"  # answers to garbage request lines get a status line
    server_version = f"isstreamer-receiver/{__version__}"
    sys_version = ""
    timeout = REQUEST_TIMEOUT

    # -- plumbing ----------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        log.debug('%s "%s" %s', self.address_string(), self.requestline, code)

    def send_error(self, code: int, message: Optional[str] = None,
                   explain: Optional[str] = None) -> None:
        """http.server's own errors (bad request line, unknown method) as JSON, too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self._json(code, error_body(f"HTTP_{code}", message or phrase))

    def _send(self, status: int, body: bytes, content_type: str,
              headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if status != 204 and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: Optional[Dict[str, str]] = None) -> None:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _empty(self, status: int, headers: Optional[Dict[str, str]] = None) -> None:
        self._send(status, b"", "", headers)

    # -- entry points ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        extra_headers: Dict[str, str] = {}
        try:
            if self.server.stopping:
                self.close_connection = True
                raise BadRequest(503, "STOPPING", "the receiver is shutting down")
            parts = urlsplit(self.path)
            body = self._read_body()
            params = _parse_query(parts.query)
            self._route(parts.path or "/", params, body, extra_headers)
        except BadRequest as exc:
            if exc.status >= 500:
                log.warning("%s %s: %s", self.command, _short(self.path), exc.message)
            else:
                log.info("%d %s %s: %s", exc.status, self.command, _short(self.path), exc.message)
            self._json(exc.status, error_body(exc.kind, exc.message), extra_headers)
        except BucketRemoved as exc:
            log.info("400 %s %s: bucket %r was deleted", self.command, _short(self.path), str(exc))
            self._json(400, removed_error(str(exc)), extra_headers)
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception:  # one broken request must not take the server down
            log.exception("error while handling %s %s", self.command, _short(self.path))
            self.close_connection = True
            try:
                self._json(500, error_body("INTERNAL", "the receiver failed on this request; "
                                                       "see its log"))
            except OSError:
                pass

    def _read_body(self) -> bytes:
        """The whole body, or a 4xx before anything is stored (oversized bodies stay unread)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise BadRequest(411, "LENGTH_REQUIRED",
                             "send the body with a Content-Length (chunked bodies are not taken)")
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        if not raw.strip().isdigit():
            self.close_connection = True
            raise BadRequest(400, "INVALID_CONTENT_LENGTH", "Content-Length must be a number")
        length = int(raw)
        cap = (ingest.MAX_BODY_BYTES if self.server.options.enforce_limits
               else ingest.HARD_MAX_BODY_BYTES)
        if length > cap:
            self.close_connection = True
            raise BadRequest(413, "BODY_TOO_LARGE",
                             f"the body is {length} bytes; the limit is {cap} bytes "
                             "(send fewer events per request)")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            raise BadRequest(400, "INCOMPLETE_BODY", "the body is shorter than its Content-Length")
        return body

    def _route(self, path: str, params: List[Tuple[str, str]], body: bytes,
               extra: Dict[str, str]) -> None:
        method = self.command
        if path in ("/api/events", "/api/events/"):
            self._allow(method, ("GET", "POST"))
            self._events(params, body, extra)
        elif path in ("/api/buckets", "/api/buckets/"):
            self._allow(method, ("POST",))
            self._buckets(params, body)
        elif path in ("/api/versions", "/api/versions/"):
            self._allow(method, ("GET", "HEAD"))
            self._json(200, API_VERSIONS)
        elif path.startswith("/api/"):
            raise BadRequest(404, "NOT_FOUND", "no such API endpoint")
        else:
            self._read_side(method, path, params)

    def _allow(self, method: str, allowed: Sequence[str]) -> None:
        if method not in allowed:
            raise BadRequest(405, "METHOD_NOT_ALLOWED",
                             f"{method} is not allowed here; use {' or '.join(allowed)}")

    # -- write API ---------------------------------------------------------------------------
    def _access_key(self, params: List[Tuple[str, str]]) -> str:
        key = self.headers.get("X-IS-AccessKey") or _param(params, "accessKey")
        if not key:
            raise BadRequest(401, "UNAUTHORIZED",
                             "an access key is required (X-IS-AccessKey header or accessKey "
                             "URL parameter)")
        allowed = self.server.options.access_keys
        if allowed and key not in allowed:
            raise BadRequest(401, "UNAUTHORIZED", "this access key is not accepted here")
        return key

    def _json_body(self, body: bytes) -> Any:
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            raise BadRequest(415, "UNSUPPORTED_MEDIA_TYPE",
                             f"the body must be JSON (Content-Type: application/json), not {ctype}")
        encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise BadRequest(415, "UNSUPPORTED_ENCODING",
                             f"Content-Encoding {encoding} is not supported; send plain JSON")
        return ingest.decode_json(body)

    def _buckets(self, params: List[Tuple[str, str]], body: bytes) -> None:
        access_key = self._access_key(params)
        verdict = self.server.limiter.take(account_of(access_key))
        if not verdict.allowed:
            raise _limited(verdict)
        raw_key: Any
        raw_name: Any
        if body.strip():
            raw_key, raw_name = ingest.bucket_from_json(self._json_body(body))
        else:
            raw_key = _param(params, "bucketKey") or self.headers.get("X-IS-BucketKey")
            raw_name = _param(params, "bucketName")
        bucket_key = ingest.validate_bucket_key(raw_key)
        name = ingest.validate_bucket_name(raw_name, bucket_key)
        created = self.server.store.create_bucket(access_key, bucket_key, name)
        self._empty(201 if created else 204, verdict.headers())

    def _events(self, params: List[Tuple[str, str]], body: bytes, extra: Dict[str, str]) -> None:
        access_key = self._access_key(params)
        verdict = self.server.limiter.take(account_of(access_key))
        extra.update(verdict.headers())
        if not verdict.allowed:
            raise _limited(verdict)
        enforce = self.server.options.enforce_limits
        if body.strip():
            if self.command != "POST":
                raise BadRequest(400, "INVALID_BODY", "a GET request carries no body")
            events = ingest.events_from_json(self._json_body(body), enforce=enforce)
        else:
            events = ingest.events_from_params(params, enforce=enforce)
        bucket_key = ingest.validate_bucket_key(
            self.headers.get("X-IS-BucketKey") or _param(params, "bucketKey"))
        self.server.store.add_events(access_key, bucket_key, events)
        self._empty(204, extra)

    # -- read side ---------------------------------------------------------------------------
    def _read_side(self, method: str, path: str, params: List[Tuple[str, str]]) -> None:
        if self.server.loopback_only and not _host_is_local(self.headers.get("Host", "")):
            # A page on another site reaching us through DNS rebinding must not read or delete.
            raise BadRequest(403, "FORBIDDEN_HOST",
                             "this receiver answers its read side only to localhost addresses")
        store = self.server.store
        match = _BUCKET_PATH.match(path)
        if match:
            bucket_id, tail = int(match.group(1)), match.group(2)
            if tail is None and method == "DELETE":
                if not store.delete_bucket(bucket_id):
                    raise BadRequest(404, "NOT_FOUND", "no such live bucket")
                log.info("bucket %d deleted over HTTP", bucket_id)
                self._empty(204)
                return
            self._allow(method, ("GET", "HEAD", "DELETE") if tail is None else ("GET", "HEAD"))
            bucket = store.bucket(bucket_id)
            if bucket is None:
                raise BadRequest(404, "NOT_FOUND", "no such bucket")
            if tail is None:
                data = bucket.to_json()
                data["streams"] = [s.to_json() for s in store.streams(bucket_id, chart_points=0)]
                self._json(200, data)
            else:
                self._bucket_events(bucket.id, params, csv_out=tail.endswith(".csv"))
            return
        if method == "DELETE":
            raise BadRequest(405, "METHOD_NOT_ALLOWED", "only /read/buckets/ID can be deleted")
        self._allow(method, ("GET", "HEAD"))
        if path in ("/read/buckets", "/read/buckets/"):
            key = _param(params, "bucketKey")
            self._json(200, [b.to_json() for b in store.buckets(bucket_key=key)])
        elif path == "/read/version":
            self._json(200, {"version": store.version()})
        elif path.startswith("/static/"):
            found = static_file(path[len("/static/"):])
            if found is None:
                raise BadRequest(404, "NOT_FOUND", "no such file")
            self._send(200, found[0], found[1])
        elif path == "/":
            self._page(None, params)
        else:
            page_match = _PAGE_BUCKET_PATH.match(path)
            if not page_match:
                raise BadRequest(404, "NOT_FOUND", "no such page")
            self._page(int(page_match.group(1)), params)

    def _page(self, bucket_id: Optional[int], params: List[Tuple[str, str]]) -> None:
        store = self.server.store
        version = store.version()  # read first: a change during rendering shows up next time
        base = self.server.base_url
        if bucket_id is None:
            title = "isstreamer receiver"
            inner = page.render_overview(store, base)
        else:
            bucket = store.bucket(bucket_id)
            if bucket is None:
                raise BadRequest(404, "NOT_FOUND", "no such bucket")
            title = f"{bucket.name} · isstreamer receiver"
            inner = page.render_bucket(store, bucket)
        headers = {"X-Receiver-Version": version,
                   "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                              "style-src 'self'; script-src 'self'"}
        if _param(params, "fragment"):
            html = inner
        else:
            html = page.render_document(title, inner, version, base)
        self._send(200, html.encode("utf-8"), "text/html; charset=utf-8", headers)

    def _bucket_events(self, bucket_id: int, params: List[Tuple[str, str]], *,
                       csv_out: bool) -> None:
        keys = [v for k, v in params if k == "key"]
        since = _time_param(params, "since")
        until = _time_param(params, "until")
        limit = _int_param(params, "limit", READ_LIMIT_DEFAULT if not csv_out else None)
        order = _param(params, "order") or "asc"
        if order not in ("asc", "desc"):
            raise BadRequest(400, "INVALID_PARAMETER", "order must be asc or desc")
        rows = self.server.store.events(bucket_id, keys=keys, since=since, until=until,
                                        limit=limit, newest_first=order == "desc")
        if csv_out:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(["epoch", "iso8601", "key", "value"])
            for row in rows:
                writer.writerow([repr(row.epoch), page._iso(row.epoch), row.key,
                                 page.show_value(row.value)])
            self._send(200, buffer.getvalue().encode("utf-8"), "text/csv; charset=utf-8",
                       {"Content-Disposition": f'attachment; filename="bucket-{bucket_id}.csv"'})
        else:
            self._json(200, {"bucketId": bucket_id, "count": len(rows),
                             "events": [r.to_json() for r in rows]})


def _limited(verdict: Verdict) -> BadRequest:
    return BadRequest(429, "RATE_LIMITED",
                      f"more than {verdict.limit} requests in 10 seconds; retry after "
                      f"{verdict.retry_after} s")


def _short(path: str) -> str:
    """A request path for the log, without its query (which may hold an access key)."""
    return path.split("?", 1)[0][:200]


def _parse_query(query: str) -> List[Tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict",
                         max_num_fields=10_000)
    except UnicodeDecodeError:
        raise BadRequest(400, "INVALID_ENCODING",
                         "the URL parameters are not valid UTF-8") from None
    except ValueError as exc:
        raise BadRequest(400, "INVALID_QUERY", f"the URL parameters are malformed: {exc}") from None


def _param(params: Iterable[Tuple[str, str]], name: str) -> Optional[str]:
    for key, value in params:
        if key == name:
            return value
    return None


def _int_param(params: List[Tuple[str, str]], name: str, default: Optional[int]) -> Optional[int]:
    raw = _param(params, name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= READ_LIMIT_MAX:
        raise BadRequest(400, "INVALID_PARAMETER",
                         f"{name} must be a whole number from 1 to {READ_LIMIT_MAX}")
    return int(raw)


def _time_param(params: List[Tuple[str, str]], name: str) -> Optional[float]:
    raw = _param(params, name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return ingest.parse_iso8601(raw)
    except (ValueError, OverflowError):
        raise BadRequest(400, "INVALID_PARAMETER",
                         f"{name} must be epoch seconds or an ISO 8601 date-time") from None


@dataclass
class Receiver:
    """A local Initial State receiver; ``with Receiver(db).start() as r: ... r.base_url``."""

    db_path: str
    host: str = "127.0.0.1"
    port: int = 0
    options: Options = field(default_factory=Options)
    _server: Optional[_Server] = field(default=None, init=False, repr=False)
    _thread: Optional[threading.Thread] = field(default=None, init=False, repr=False)
    _store: Optional[Store] = field(default=None, init=False, repr=False)

    def bind(self) -> Receiver:
        """Open the database and the listening socket (port 0 picks a free port)."""
        if self._server is None:
            self._store = Store(self.db_path)
            try:
                self._server = _Server((self.host, self.port), self._store, self.options)
            except BaseException:
                self._store.close()
                raise
        return self

    def start(self) -> Receiver:
        """Serve on a daemon thread; returns once the port accepts connections.

        The short poll interval only makes ``stop()`` quick (tests start many receivers).
        """
        self.bind()
        assert self._server is not None
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="isstreamer-receiver", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` or KeyboardInterrupt."""
        self.bind()
        assert self._server is not None
        self._server.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        server.stopping = True
        if self._thread is not None:
            server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        server.drop_connections()
        server.server_close()
        if self._store is not None:
            self._store.close()
        self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the receiver is not started")
        return self._store

    @property
    def base_url(self) -> str:
        """What a Streamer takes as ``stream_api_base``: ``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        return self._server.base_url

    @property
    def bound_port(self) -> int:
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return self.base_url + path
