"""Turn what scripts pass to ``log()`` / ``log_object()`` into values the API accepts.

Only the slow paths live here: ``Streamer.log`` handles plain ``str``/``int``/``float``/``bool``
inline and calls in here for anything else, so the common case never pays for a function call.
Every function either returns a valid value or raises ``InvalidEventError`` naming the key and
what to do about it.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import numbers
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Iterator, Tuple, Union

from .errors import InvalidEventError

Value = Union[str, int, float, bool]

MAX_KEY_CHARS = 250
MAX_VALUE_CHARS = 2000
# Epochs this large cannot be seconds (year 5138+): read them as ms, then µs, then ns.
_MS_THRESHOLD = 1e11
_US_THRESHOLD = 1e14
_NS_THRESHOLD = 1e17


def _is_decimal(value: object) -> bool:
    """isinstance(value, Decimal) without importing decimal: a Decimal implies it is loaded."""
    module = sys.modules.get("decimal")
    return module is not None and isinstance(value, module.Decimal)


def check_key(key: object) -> str:
    """Keys are non-empty strings of at most 250 characters; ints are accepted as text."""
    if isinstance(key, str):
        text = str.__str__(key)
    elif isinstance(key, int) and not isinstance(key, bool):
        text = str(int(key))
    else:
        raise InvalidEventError(
            f"key {key!r} is a {type(key).__name__}; keys must be strings"
        )
    if not text:
        raise InvalidEventError("key is empty; give each stream a name")
    if len(text) > MAX_KEY_CHARS:
        raise InvalidEventError(
            f"key {text[:40]!r}... is {len(text)} characters; the API allows at most "
            f"{MAX_KEY_CHARS}"
        )
    return text


def _check_text(key: str, text: str) -> str:
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidEventError(
            f"value for key {key!r} is {len(text)} characters; the API allows at most "
            f"{MAX_VALUE_CHARS} (shorten it or split it over several keys)"
        )
    return text


def _check_float(key: str, number: float) -> float:
    if math.isfinite(number):
        return number
    raise InvalidEventError(
        f"value for key {key!r} is {number!r}; NaN and infinity are not valid JSON "
        "(skip the reading or log a string such as 'unavailable')"
    )


def coerce_value(key: str, value: object) -> Value:
    """Convert the less common types predictably; reject what has no faithful form."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, str):
        return _check_text(key, str.__str__(value))
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _check_float(key, float(value))
    if _is_decimal(value):
        decimal: Any = value
        if decimal.is_finite() and decimal == decimal.to_integral_value():
            return int(decimal)
        return _check_float(key, float(decimal))
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return _check_text(key, bytes(value).decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidEventError(
                f"value for key {key!r} is bytes that are not UTF-8 text; decode it yourself "
                "or log value.hex()"
            ) from None
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy":
        # numpy scalars (np.float32, np.int64, np.bool_, ...) turn into the Python equivalent.
        return coerce_value(key, item())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _check_float(key, float(value))
    if value is None:
        raise InvalidEventError(
            f"value for key {key!r} is None; log a number, text or boolean (or skip it)"
        )
    hint = " (use log_object() for containers)" if isinstance(value, (Mapping, Sequence)) else ""
    raise InvalidEventError(
        f"value for key {key!r} is a {type(value).__name__}, which cannot be streamed; "
        f"log a number, text or boolean{hint}"
    )


def coerce_epoch(key: str, epoch: object) -> float:
    """Seconds since 1970 as a float, from numbers, numeric strings, ms epochs or datetimes."""
    if isinstance(epoch, bool):
        raise InvalidEventError(f"epoch for key {key!r} is a bool; pass seconds since 1970")
    if isinstance(epoch, _dt.datetime):
        return epoch.timestamp()  # naive datetimes are local time, as Python defines them
    if isinstance(epoch, _dt.date):
        return _dt.datetime(epoch.year, epoch.month, epoch.day).timestamp()
    if isinstance(epoch, (str, bytes)):
        text = epoch.decode("ascii", "replace") if isinstance(epoch, bytes) else epoch
        try:
            number = float(text.strip())
        except ValueError:
            try:
                parsed = _dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                raise InvalidEventError(
                    f"epoch for key {key!r} is {text!r}, which is neither a number of seconds "
                    "nor an ISO 8601 time"
                ) from None
            return parsed.timestamp()
    elif isinstance(epoch, numbers.Real) or _is_decimal(epoch) or type(epoch).__module__ == "numpy":
        try:
            number = float(epoch)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidEventError(f"epoch for key {key!r} is not a number: {epoch!r}") from None
    else:
        raise InvalidEventError(
            f"epoch for key {key!r} is a {type(epoch).__name__}; pass seconds since 1970 "
            "(int, float or numeric string), milliseconds, or a datetime"
        )
    if not math.isfinite(number) or number < 0:
        raise InvalidEventError(
            f"epoch for key {key!r} is {number!r}; it must be a finite time after 1970"
        )
    if number >= _NS_THRESHOLD:
        return number / 1e9
    if number >= _US_THRESHOLD:
        return number / 1e6
    if number >= _MS_THRESHOLD:
        return number / 1e3
    return number


def object_prefix(obj: object, key_prefix: object) -> str:
    """The original's rule: None → type name, "" → nothing, anything else → str(prefix)."""
    if key_prefix is None:
        return type(obj).__name__ + "_"
    if key_prefix == "":
        return ""
    return f"{key_prefix}_"


def flatten(obj: object) -> Iterator[Tuple[str, Any]]:
    """(name, value) pairs of a container or object, in a stable, documented order.

    Mapping → its keys in iteration order; namedtuple → its fields; dataclass → its fields;
    other sequences (not text) → indexes; anything else → properties and public instance
    attributes in ``dir()`` order.
    """
    if isinstance(obj, Mapping):
        for name, value in obj.items():
            yield str(name), value
        return
    if isinstance(obj, (str, bytes, bytearray)):
        raise InvalidEventError(
            f"log_object() got a {type(obj).__name__}; use log(key, value) for a single value"
        )
    fields = getattr(obj, "_fields", None)
    if isinstance(obj, tuple) and isinstance(fields, tuple):
        for name, value in zip(fields, obj):
            yield str(name), value
        return
    # A dataclass instance implies the dataclasses module is loaded; importing it ourselves
    # would cost every script ~15 ms at start.
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is not None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            yield field.name, getattr(obj, field.name)
        return
    if isinstance(obj, Sequence) or hasattr(obj, "__array__") and hasattr(obj, "tolist"):
        items = obj if isinstance(obj, Sequence) else obj.tolist()
        for index, value in enumerate(items):
            yield str(index), value
        return
    cls = type(obj)
    instance_attrs = getattr(obj, "__dict__", {})
    for name in dir(obj):
        if isinstance(getattr(cls, name, None), property):
            yield name, _PropertyValue(obj, name)
        elif not name.startswith("_") and name in instance_attrs:
            value = instance_attrs[name]
            if not callable(value):
                yield name, value


class _PropertyValue:
    """A property read lazily, so one that raises is reported for its own key only."""

    __slots__ = ("obj", "name")

    def __init__(self, obj: object, name: str) -> None:
        self.obj = obj
        self.name = name

    def get(self) -> object:
        return getattr(self.obj, self.name)


def resolve_value(value: object) -> object:
    """Read a lazily-read property (may raise whatever the property raises)."""
    return value.get() if type(value) is _PropertyValue else value
