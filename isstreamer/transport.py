"""HTTP to the Initial State API, and what each answer means for the sender.

The sender never looks at status codes itself: ``classify`` turns every response (or network
error) into one ``Outcome``, so the retry rules live in one place and can be tested alone.
``requests`` is imported on first use, in the sender thread, to keep it off the caller's
import path.
"""

from __future__ import annotations

import email.utils
import enum
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from ._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import requests

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


@dataclass(frozen=True)
class Reply:
    """A classified answer from the API (or the lack of one)."""

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
    """One reused ``requests.Session`` (one keep-alive connection) for every request."""

    def __init__(self, api_base: str, access_key: str, timeout: float) -> None:
        self._events_url = api_base + "/api/events"
        self._buckets_url = api_base + "/api/buckets"
        self._timeout = timeout
        self._base_headers = {
            "Content-Type": "application/json",
            "Accept-Version": API_VERSION,
            "User-Agent": USER_AGENT,
            "X-IS-AccessKey": access_key,
        }
        self._session: Optional[requests.Session] = None

    def _post(self, url: str, bucket_key: str, body: bytes) -> Reply:
        import requests  # deferred: see module docstring

        if self._session is None:
            self._session = requests.Session()
        headers: Dict[str, str] = dict(self._base_headers)
        headers["X-IS-BucketKey"] = bucket_key
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=self._timeout)
            content = response.content
        except requests.exceptions.RequestException as exc:
            return Reply(Outcome.RETRY, detail=describe_error(exc))
        return classify(response.status_code, response.headers, content)

    def create_bucket(self, bucket_key: str, bucket_name: str) -> Reply:
        body = json.dumps({"bucketKey": bucket_key, "bucketName": bucket_name}).encode("utf-8")
        return self._post(self._buckets_url, bucket_key, body)

    def send_events(self, bucket_key: str, body: bytes) -> Reply:
        return self._post(self._events_url, bucket_key, body)

    def forget_connections(self) -> None:
        """In a forked child: never touch the parent's sockets; open new ones when needed."""
        self._session = None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
