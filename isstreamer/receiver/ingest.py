"""Turn untrusted request data into validated events, or a clear 4xx reason.

Pure functions, no I/O: the HTTP layer calls these before it touches the store, so a request with
one bad event stores nothing at all.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .store import NewEvent

# Limits of the real service (reference/initial-state-api.md).
MAX_BODY_BYTES = 1_000_000            # 413 above this with --enforce-limits
HARD_MAX_BODY_BYTES = 1_048_576 + 65_536  # never read more than this, limits or not
MAX_BUCKET_KEY_CHARS = 250
MAX_BUCKET_NAME_CHARS = 250
MAX_EVENT_KEY_CHARS = 250
MAX_VALUE_CHARS = 2000
FORBIDDEN_BUCKET_KEY_CHARS = ':"\''
TEN_YEARS = 10 * 365.25 * 86400
LATEST_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z; later cannot be shown as a date

_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


class BadRequest(Exception):
    """A client error: status, machine-readable type and a sentence for the human."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def decode_json(body: bytes) -> Any:
    """Parse a request body as strict UTF-8 JSON (NaN and Infinity are not JSON)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, "INVALID_ENCODING",
                         f"the body is not valid UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except ValueError as exc:
        raise BadRequest(400, "INVALID_JSON", f"the body is not valid JSON: {exc}") from None


def parse_iso8601(text: str) -> float:
    """Seconds since the epoch for an ISO 8601 date-time (no zone = UTC)."""
    match = _ISO.match(text.strip())
    if not match:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    moment = datetime(
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
        tzinfo=timezone.utc,
    )
    if zone and zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        moment -= sign * offset
    seconds = moment.timestamp()
    if fraction:
        seconds += int(fraction) / 10 ** len(fraction)
    return seconds


def validate_bucket_key(value: Any) -> str:
    if value is None or value == "":
        raise BadRequest(400, "MISSING_BUCKET_KEY",
                         "a bucket key is required (X-IS-BucketKey header, bucketKey field or "
                         "bucketKey URL parameter)")
    if not isinstance(value, str):
        raise BadRequest(400, "INVALID_BUCKET_KEY", "bucketKey must be a string")
    if len(value) > MAX_BUCKET_KEY_CHARS:
        raise BadRequest(400, "INVALID_BUCKET_KEY",
                         f"bucketKey is longer than {MAX_BUCKET_KEY_CHARS} characters")
    if any(c in value for c in FORBIDDEN_BUCKET_KEY_CHARS):
        raise BadRequest(400, "INVALID_BUCKET_KEY",
                         "bucketKey must not contain : \" or '")
    if any(ord(c) < 32 for c in value):
        raise BadRequest(400, "INVALID_BUCKET_KEY", "bucketKey must not contain control characters")
    return value


def validate_bucket_name(value: Any, bucket_key: str) -> str:
    if value is None or value == "":
        return bucket_key
    if not isinstance(value, str):
        raise BadRequest(400, "INVALID_BUCKET_NAME", "bucketName must be a string")
    if len(value) > MAX_BUCKET_NAME_CHARS:
        raise BadRequest(400, "INVALID_BUCKET_NAME",
                         f"bucketName is longer than {MAX_BUCKET_NAME_CHARS} characters")
    return value


def bucket_from_json(data: Any) -> Tuple[Any, Any]:
    """(bucketKey, bucketName) from a bucket-creation body, not yet validated."""
    if not isinstance(data, dict):
        raise BadRequest(400, "INVALID_BODY",
                         'the body must be a JSON object like {"bucketKey": "...", '
                         '"bucketName": "..."}')
    return data.get("bucketKey"), data.get("bucketName")


def _event_time(item: Dict[str, Any], where: str, now: float) -> float:
    epoch = item.get("epoch")
    stamp: Optional[float] = None
    if epoch is not None:
        if isinstance(epoch, bool):
            raise BadRequest(400, "INVALID_EPOCH", f"{where}: epoch must be a number of seconds")
        if isinstance(epoch, str):
            try:
                epoch = float(epoch)
            except ValueError:
                raise BadRequest(400, "INVALID_EPOCH",
                                 f"{where}: epoch must be a number of seconds") from None
        if not isinstance(epoch, (int, float)) or not math.isfinite(epoch):
            raise BadRequest(400, "INVALID_EPOCH", f"{where}: epoch must be a number of seconds")
        stamp = float(epoch)
    elif item.get("iso8601") is not None:
        iso = item["iso8601"]
        try:
            if not isinstance(iso, str):
                raise ValueError(iso)
            stamp = parse_iso8601(iso)
        except (ValueError, OverflowError):
            raise BadRequest(400, "INVALID_ISO8601",
                             f"{where}: iso8601 must be a date-time like "
                             "2024-05-01T12:30:00Z") from None
    if stamp is None or stamp < now - TEN_YEARS:
        return now  # no timestamp, or 10+ years old: server time, as the service does
    if stamp > LATEST_EPOCH:
        raise BadRequest(400, "INVALID_EPOCH", f"{where}: the timestamp is after the year 9999")
    return stamp


def _event_value(value: Any, where: str, enforce: bool) -> Any:
    if isinstance(value, (bool, str)):
        pass
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise BadRequest(400, "INVALID_VALUE", f"{where}: value must be finite")
    elif value is None:
        raise BadRequest(400, "INVALID_VALUE", f"{where}: value is required")
    else:
        raise BadRequest(400, "INVALID_VALUE",
                         f"{where}: value must be a string, number or boolean, "
                         f"not {type(value).__name__ if not isinstance(value, dict) else 'object'}")
    if enforce and isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise BadRequest(400, "VALUE_TOO_LONG",
                         f"{where}: value is longer than {MAX_VALUE_CHARS} characters")
    return value


def _event_key(key: Any, where: str, enforce: bool) -> str:
    if not isinstance(key, str) or key == "":
        raise BadRequest(400, "INVALID_KEY", f"{where}: key must be a non-empty string")
    if enforce and len(key) > MAX_EVENT_KEY_CHARS:
        raise BadRequest(400, "KEY_TOO_LONG",
                         f"{where}: key is longer than {MAX_EVENT_KEY_CHARS} characters")
    return key


def events_from_json(data: Any, *, enforce: bool, now: Optional[float] = None) -> List[NewEvent]:
    """Validate one event object or an array of them; any bad event rejects the whole batch."""
    now = time.time() if now is None else now
    if isinstance(data, dict):
        items: Sequence[Any] = [data]
        single = True
    elif isinstance(data, list):
        items = data
        single = False
    else:
        raise BadRequest(400, "INVALID_BODY",
                         "the body must be an event object or an array of event objects")
    if not items:
        raise BadRequest(400, "INVALID_BODY", "the array holds no events")
    out: List[NewEvent] = []
    for index, item in enumerate(items):
        where = "event" if single else f"event {index}"
        if not isinstance(item, dict):
            raise BadRequest(400, "INVALID_EVENT", f"{where}: must be an object with key and value")
        key = _event_key(item.get("key"), where, enforce)
        value = _event_value(item.get("value"), where, enforce)
        out.append(NewEvent(key, value, _event_time(item, where, now)))
    return out


def events_from_params(params: Sequence[Tuple[str, str]], *, enforce: bool,
                       now: Optional[float] = None) -> List[NewEvent]:
    """The URL-parameter form: every parameter but the keys is one event at server time."""
    now = time.time() if now is None else now
    out: List[NewEvent] = []
    for name, value in params:
        if name in ("accessKey", "bucketKey", "bucketName"):
            continue
        where = f"parameter {name[:40]!r}"
        out.append(NewEvent(_event_key(name, where, enforce),
                            _event_value(value, where, enforce), now))
    if not out:
        raise BadRequest(400, "NO_EVENTS",
                         "no events: add URL parameters like ?temperature=21 or send a JSON body")
    return out
