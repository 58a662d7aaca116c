"""HTTP to the Initial State API, and what each answer means for the sender.

The sender never looks at status codes itself: ``classify`` turns every response (or network
error) into one ``Outcome``, so the retry rules live in one place and can be tested alone.
``http.client`` and ``ssl`` (and ``urllib3``, only behind a proxy) are imported on first use, in
the sender thread, to keep them off the caller's import path.
"""

from __future__ import annotations

import enum
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any, Dict, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import unquote, urlsplit

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import ssl

API_VERSION = "<=0.0.4"
USER_AGENT = f"isstreamer/{__version__} (python; ISStreamer-compatible)"


class Outcome(enum.Enum):
    """What the sender should do next with a payload."""

    OK = "ok"
    RETRY = "retry"  # network error, timeout, 408, 429, 5xx: it can succeed later
    SPLIT = "split"  # 413: the body is too large; send it in halves
    UNAUTHORIZED = "unauthorized"  # 401/403: the access key is wrong or lacks access
    QUOTA = "quota"  # 402: the account's monthly event limit is used up
    BUCKET_REMOVED = "bucket_removed"  # 400 BUCKET_REMOVED: the key can never be used again
    REJECTED = "rejected"  # any other 4xx: this payload will never be accepted


PERMANENT = frozenset(
    {Outcome.UNAUTHORIZED, Outcome.QUOTA, Outcome.BUCKET_REMOVED, Outcome.REJECTED}
)


class Reply(NamedTuple):
    """A classified answer from the API (or the lack of one).

    A NamedTuple rather than a dataclass: importing ``dataclasses`` (and ``inspect`` with it)
    cost several milliseconds of every script's start-up.
    """

    outcome: Outcome
    status: Optional[int] = None
    detail: str = ""
    retry_after: Optional[float] = None
    rate_remaining: Optional[int] = None
    rate_reset: Optional[float] = None


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` of seconds or an HTTP-date; ``None`` if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for an HTTP-date: keeps ``email`` off the import path

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:
        return None
    return max(0.0, seconds)


def _number_header(headers: Mapping[str, str], name: str) -> Optional[float]:
    try:
        value = float(headers[name])
    except (KeyError, TypeError, ValueError):
        return None
    return value if value == value else None


def _error_type(body: bytes) -> Optional[str]:
    try:
        data: Any = json.loads(body)
        return str(data["message"]["error"]["type"])
    except (ValueError, TypeError, KeyError):
        return None


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Reply:
    """Map one HTTP answer to what the sender should do about it."""
    text = body[:300].decode("utf-8", "replace").strip()
    remaining = _number_header(headers, "X-RateLimit-Remaining")
    common = {"status": status, "detail": text,
              "rate_remaining": int(remaining) if remaining is not None else None,
              "rate_reset": _number_header(headers, "X-RateLimit-Reset")}
    if 200 <= status < 300:
        return Reply(Outcome.OK, **common)  # type: ignore[arg-type]
    if status in (408, 429) or status >= 500:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return Reply(Outcome.RETRY, retry_after=retry_after, **common)  # type: ignore[arg-type]
    if status == 413:
        return Reply(Outcome.SPLIT, **common)  # type: ignore[arg-type]
    if status in (401, 403):
        return Reply(Outcome.UNAUTHORIZED, **common)  # type: ignore[arg-type]
    if status == 402:
        return Reply(Outcome.QUOTA, **common)  # type: ignore[arg-type]
    if status == 400 and _error_type(body) == "BUCKET_REMOVED":
        return Reply(Outcome.BUCKET_REMOVED, **common)  # type: ignore[arg-type]
    return Reply(Outcome.REJECTED, **common)  # type: ignore[arg-type]


def describe_error(exc: BaseException) -> str:
    """A short reason for a network error ("ConnectionError: Connection refused")."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return f"{type(exc).__name__}: {found.group(1).strip()}"
    if "timed out" in text.lower():
        return f"{type(exc).__name__}: timed out"
    return f"{type(exc).__name__}: {text[:200]}"


class HttpTransport:
    """One keep-alive connection to the API; ``http.client`` direct, urllib3 behind a proxy.

    Why not ``requests.Session``: on this path it re-reads the proxy environment and merges and
    prepares settings for every request; at 10 events per request that was most of the
    sender's CPU and missed the CPU bar (profiles and figures in docs/benchmarks.md). Every
    request goes to the same host, so the work requests did per request is done once here:

    - TLS verification always on (chain and hostname); CA bundle from ``REQUESTS_CA_BUNDLE`` or
      ``CURL_CA_BUNDLE`` (a file or a directory), else the system defaults when
      ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` is set, else certifi's bundle (as requests);
    - proxies from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``, read when
      the connection is first opened; through a proxy, urllib3's ``ProxyManager`` does the work;
    - connect and read timeouts; no automatic redirects; retries are the sender's business.
    """

    def __init__(self, api_base: str, access_key: str, timeout: float) -> None:
        self._base = api_base
        parts = urlsplit(api_base)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port
        self._events_path = parts.path + "/api/events"
        self._buckets_path = parts.path + "/api/buckets"
        self._timeout = timeout
        self._base_headers = {
            "Content-Type": "application/json",
            "Accept-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            "X-IS-AccessKey": access_key,
        }
        self._ready = False
        self._context: Optional[ssl.SSLContext] = None
        self._proxy: Any = None  # urllib3.ProxyManager when a proxy applies
        self._conn: Any = None  # http.client.HTTPConnection, kept alive between requests
        self._last_used = 0.0

    def _setup(self) -> None:
        """Settle trust and proxy once, on first use (in the sender thread)."""
        if self._scheme == "https":
            self._context = _tls_context()
        proxy = _proxy_for(self._base)
        if proxy is not None:
            import urllib3  # deferred: see module docstring

            proxy_url, auth = proxy
            headers = urllib3.util.make_headers(proxy_basic_auth=auth) if auth else None
            options: Dict[str, Any] = {"num_pools": 1, "maxsize": 1, "proxy_headers": headers,
                                       "timeout": urllib3.Timeout(self._timeout, self._timeout)}
            if self._context is not None:
                options.update(cert_reqs="CERT_REQUIRED", ssl_context=self._context)
            self._proxy = urllib3.ProxyManager(proxy_url, **options)
        self._ready = True

    def _connection(self) -> Any:
        import http.client

        if self._context is not None:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout,
                                               context=self._context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def _direct(self, path: str, body: bytes, headers: Dict[str, str]) -> Tuple[int, Any, bytes]:
        """POST on the kept-alive connection; a new one if the server closed it while idle."""
        conn = self._conn
        now = time.monotonic()
        if conn is not None and now - self._last_used > _IDLE_CHECK and _closed_by_peer(conn):
            conn.close()
            conn = None
        if conn is None:
            conn = self._conn = self._connection()
        try:
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            # Never reuse a connection in an unknown state; the sender decides about retrying.
            conn.close()
            self._conn = None
            raise
        if response.will_close:
            conn.close()
            self._conn = None
        self._last_used = time.monotonic()
        return response.status, response.headers, data

    def _post(self, path: str, bucket_key: str, body: bytes) -> Reply:
        import http.client

        headers: Dict[str, str] = dict(self._base_headers)
        headers["X-IS-BucketKey"] = bucket_key
        try:
            if not self._ready:
                self._setup()
            if self._proxy is None:
                status, answer_headers, content = self._direct(path, body, headers)
            else:
                status, answer_headers, content = self._via_proxy(path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            return Reply(Outcome.RETRY, detail=describe_error(exc))
        except Exception as exc:  # urllib3's errors (behind a proxy) are not OSErrors
            if type(exc).__module__.startswith("urllib3"):
                return Reply(Outcome.RETRY, detail=describe_error(exc))
            raise
        return classify(status, answer_headers, content)

    def _via_proxy(self, path: str, body: bytes, headers: Dict[str, str]) -> Tuple[int, Any, bytes]:
        origin = f"{self._scheme}://{urlsplit(self._base).netloc}"
        response = self._proxy.urlopen("POST", origin + path, body=body, headers=headers,
                                       redirect=False, retries=False)
        return response.status, response.headers, response.data

    def create_bucket(self, bucket_key: str, bucket_name: str) -> Reply:
        body = json.dumps({"bucketKey": bucket_key, "bucketName": bucket_name}).encode("utf-8")
        return self._post(self._buckets_path, bucket_key, body)

    def send_events(self, bucket_key: str, body: bytes) -> Reply:
        return self._post(self._events_path, bucket_key, body)

    def forget_connections(self) -> None:
        """In a forked child: never touch the parent's sockets; open new ones when needed."""
        self._conn = None
        self._proxy = None
        self._ready = False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proxy is not None:
            self._proxy.clear()
            self._proxy = None
        self._ready = False


# A kept-alive connection idle longer than this is checked (one select) before it is reused,
# so a connection the server closed while idle is replaced instead of failing a request.
# Servers keep idle connections for 5 s or more; busier senders skip the system call.
_IDLE_CHECK = 1.0


def _closed_by_peer(conn: Any) -> bool:
    """Whether the server has closed (or written to) an idle kept-alive connection."""
    import select

    sock = getattr(conn, "sock", None)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _tls_context() -> ssl.SSLContext:
    """A verifying context (hostname and chain), trusting what requests would have trusted."""
    import ssl

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        if os.path.isdir(bundle):
            return ssl.create_default_context(capath=bundle)
        return ssl.create_default_context(cafile=bundle)
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()  # the system defaults honour both variables
    try:
        import certifi
    except ImportError:  # pragma: no cover - requests depends on certifi
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


def _proxy_for(url: str) -> Optional[Tuple[str, Optional[str]]]:
    """(proxy URL without credentials, "user:password" or None) from the environment, if any."""
    import urllib.request

    parts = urlsplit(url)
    proxies = urllib.request.getproxies()  # as requests: the environment (and OS settings)
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    found = urlsplit(proxy)
    auth = None
    if found.username is not None:
        auth = unquote(found.username) + ":" + unquote(found.password or "")
    host = found.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{found.port}" if found.port else "")
    return f"{found.scheme}://{netloc}", auth
