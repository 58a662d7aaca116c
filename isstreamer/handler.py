"""``StreamerHandler``: standard ``logging`` records become events.

``emit()`` only appends to the Streamer's buffer; the sender thread does the rest. Two things
make it safe to attach to the root logger:

* records from the loggers the sending itself uses (``isstreamer``, ``urllib3``, ``requests``)
  are dropped before anything else happens, so sending never produces events that need sending;
* a thread-local flag drops any record logged *while* this handler is emitting (a formatter, a
  filter or ``log()``'s own warning that logs again), so the handler cannot recurse.

It also takes no handler lock: ``Streamer.log`` is thread-safe on its own, and holding the
handler's lock while waiting for the Streamer's buffer lock is how lock-order deadlocks start
(the sender thread logs while it holds that buffer lock).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Dict, Iterable, Optional, Tuple, Union

from .errors import ConfigError
from .events import MAX_VALUE_CHARS

if TYPE_CHECKING:  # pragma: no cover
    from .streamer import Streamer

DEFAULT_IGNORED = ("isstreamer", "urllib3", "requests")
_ELLIPSIS = "..."


class StreamerHandler(logging.Handler):
    """A ``logging.Handler`` that logs each record as one event of ``streamer``.

    ``key`` is ``None`` (the logger's name, e.g. ``"myapp.sensors"``; ``"root"`` for the root
    logger) or a ``str.format`` template over the record's attributes, such as
    ``"{name}.{levelname}"`` or ``"log"``. The value is the formatted message (the formatter's
    output, cut to the API's 2000 characters); the epoch is ``record.created``.
    """

    def __init__(
        self,
        streamer: Streamer,
        key: Optional[str] = None,
        level: Union[int, str] = logging.NOTSET,
        *,
        ignore_loggers: Iterable[str] = DEFAULT_IGNORED,
    ) -> None:
        super().__init__(level)
        if not getattr(streamer, "Async", True):
            raise ConfigError(
                "StreamerHandler needs a Streamer with use_async=True (the default): with "
                "use_async=False, log() sends from the logging call itself"
            )
        if key is not None:
            _check_template(key)
        self.streamer = streamer
        self.key = key
        ignored = tuple(ignore_loggers)
        self._ignored_names = frozenset(ignored)
        self._ignored_prefixes = tuple(name + "." for name in ignored)
        self._local = threading.local()

    def ignores(self, name: str) -> bool:
        """Whether records of logger ``name`` are dropped (the senders' own loggers)."""
        return name in self._ignored_names or name.startswith(self._ignored_prefixes)

    def handle(self, record: logging.LogRecord) -> Any:
        """Filter, then emit with no handler lock (see the module docstring for why)."""
        if self.ignores(record.name) or getattr(self._local, "busy", False):
            return False
        result = self.filter(record)
        if isinstance(result, logging.LogRecord):  # Python 3.12+: a filter may swap the record
            record = result
        if result:
            self.emit(record)
        return result

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record as one event; never sends, never raises into the logging call."""
        local = self._local
        if getattr(local, "busy", False):
            return
        local.busy = True
        try:
            key = record.name if self.key is None else self.key.format_map(_Fields(record))
            value = self.format(record)
            if len(value) > MAX_VALUE_CHARS:
                value = value[: MAX_VALUE_CHARS - len(_ELLIPSIS)] + _ELLIPSIS
            self.streamer.log(key, value, record.created)
        except Exception:
            self.handleError(record)
        finally:
            local.busy = False

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<StreamerHandler key={self.key!r} level={level} {self.streamer!r}>"


class _Fields(Dict[str, Any]):
    """The record's attributes, plus ``message``, for key templates."""

    def __init__(self, record: logging.LogRecord) -> None:
        super().__init__(record.__dict__)
        self.record = record

    def __missing__(self, name: str) -> Any:
        if name == "message":
            return self.record.getMessage()
        raise KeyError(name)


def _check_template(key: str) -> None:
    """Fail at construction, not at every record, on a template that cannot work."""
    sample = logging.LogRecord("app.module", logging.INFO, __file__, 1, "message", None, None)
    try:
        text = key.format_map(_Fields(sample))
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        names: Tuple[str, ...] = ("name", "levelname", "module", "funcName", "threadName")
        raise ConfigError(
            f"StreamerHandler key template {key!r} does not work ({type(exc).__name__}: {exc}); "
            f"use LogRecord attributes such as {', '.join('{' + n + '}' for n in names)}"
        ) from None
    if not text:
        raise ConfigError("StreamerHandler key template gives an empty key")
