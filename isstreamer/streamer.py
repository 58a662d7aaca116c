"""``Streamer``: the ISStreamer-compatible public face.

The constructor signature, method names and public attributes are the original's, so existing
scripts run unchanged. ``log()`` is the hot path: it validates the common value types inline,
appends one tuple under a lock and returns; everything else (JSON, HTTP, retries) happens on the
sender thread in ``sender.py``.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, Dict, Optional, Set

from . import config as _config
from ._logging import apply_debug_level, mask_secret
from ._signals import install_sigterm_handler
from .destinations import Bucket, CsvDestination, Destination, HttpDestination, Stats
from .errors import ConfigError, InvalidEventError
from .events import (
    MAX_VALUE_CHARS,
    check_key,
    coerce_epoch,
    coerce_value,
    flatten,
    object_prefix,
    resolve_value,
)
from .sender import Pipeline, StopSignal
from .spool import DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES, Spool, default_spool_dir, key_fingerprint
from .transport import API_VERSION, HttpTransport

if TYPE_CHECKING:  # pragma: no cover
    from .mqtt import MqttSettings

log = logging.getLogger("isstreamer")

_time = time.time
_REJECTED: Any = object()
_KNOWN_KEYS_LIMIT = 10_000


class _PendingView:
    """What ``Streamer.LogQueue`` gives: ``len()`` is the number of events not yet sent."""

    __slots__ = ("_pipeline",)

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def __len__(self) -> int:
        return self._pipeline.pending_events()

    def __bool__(self) -> bool:
        return len(self) > 0

    def __repr__(self) -> str:
        return f"<LogQueue: {len(self)} events not yet sent>"


class Streamer:
    """Streams events to an Initial State bucket; a drop-in for ``ISStreamer.Streamer``."""

    ApiVersion = API_VERSION

    def __init__(
        self,
        bucket_name: str = "",
        bucket_key: str = "",
        access_key: str = "",
        ini_file_location: Optional[str] = None,
        debug_level: int = 0,
        buffer_size: int = 10,
        offline: Optional[bool] = None,
        use_async: bool = True,
        *,
        stream_api_base: Optional[str] = None,
        offline_file: Optional[str] = None,
        flush_interval: float = 1.0,
        close_timeout: float = 5.0,
        max_buffer: int = 100_000,
        overflow: str = "spool",
        request_timeout: float = 10.0,
        retry_time: Optional[float] = None,
        retry_backoff: float = 0.5,
        spool_dir: Optional[str] = None,
        spool_max_bytes: int = DEFAULT_MAX_BYTES,
        spool_max_age: float = DEFAULT_MAX_AGE,
        use_spool: bool = True,
        replay: bool = True,
        handle_sigterm: bool = True,
        mqtt: Optional[MqttSettings] = None,
    ) -> None:
        settings = _config.resolve(
            bucket_name=bucket_name,
            bucket_key=bucket_key,
            access_key=access_key,
            ini_file_location=ini_file_location,
            debug_level=debug_level,
            buffer_size=buffer_size,
            offline=offline,
            use_async=use_async,
            stream_api_base=stream_api_base,
            offline_file=offline_file,
            flush_interval=flush_interval,
            close_timeout=close_timeout,
            max_buffer=max_buffer,
            overflow=overflow,
            request_timeout=request_timeout,
            # A blocking (use_async=False) log() should not hang a script for long.
            retry_time=retry_time if retry_time is not None else (30.0 if use_async else 5.0),
            retry_backoff=retry_backoff,
            mqtt=mqtt,
        )
        self._debug_level = settings.debug_level
        apply_debug_level(settings.debug_level)
        self.BucketName: str = settings.bucket_name
        self.BucketKey: str = settings.bucket_key or str(uuid.uuid4())
        self.AccessKey: str = settings.access_key
        self.BufferSize: int = settings.buffer_size
        self.StreamApiBase: str = settings.stream_api_base
        self.Offline: bool = settings.offline
        self.Async: bool = settings.use_async
        self.OfflineFile: str = settings.offline_file
        self._close_timeout = settings.close_timeout
        self._keys: Set[str] = set()
        self._warned_keys: Set[str] = set()

        stats = Stats()
        stop = StopSignal()
        destination: Destination
        if settings.offline:
            destination = CsvDestination(settings.offline_file, stats)
        else:
            spool = None
            if use_spool:
                spool = Spool(
                    spool_dir or default_spool_dir(),
                    settings.mqtt.fingerprint() if settings.mqtt
                    else key_fingerprint(settings.access_key),
                    max_bytes=_config.check_int(spool_max_bytes, "spool_max_bytes"),
                    max_age=_config.check_seconds(spool_max_age, "spool_max_age"),
                )
            elif settings.overflow == "spool":
                raise ConfigError("overflow='spool' needs use_spool=True; pick another policy")
            if settings.mqtt is not None:
                from .mqtt import MqttDestination

                destination = MqttDestination(
                    settings.mqtt,
                    stats,
                    spool,
                    connect_timeout=settings.retry_time,
                    publish_timeout=settings.request_timeout,
                    buffer_size=settings.buffer_size,
                    replay=replay,
                )
            else:
                transport = HttpTransport(
                    settings.stream_api_base, settings.access_key, settings.request_timeout
                )
                destination = HttpDestination(
                    transport,
                    settings.access_key,
                    settings.retry_time,
                    settings.retry_backoff,
                    stats,
                    stop.sleep,
                    spool,
                    settings.buffer_size,
                    replay=replay,
                )
        self._stats = stats
        self._pipe = Pipeline(
            destination,
            buffer_size=settings.buffer_size,
            max_buffer=settings.max_buffer,
            overflow=settings.overflow,
            flush_interval=settings.flush_interval,
            use_async=settings.use_async,
            stats=stats,
            stop=stop,
            exit_timeout=settings.close_timeout,
        )
        self._describe(settings)
        if handle_sigterm:
            install_sigterm_handler()
        self._pipe.start()
        self._pipe.put_control(Bucket(self.BucketKey, self.BucketName))

    def _describe(self, settings: _config.Settings) -> None:
        if settings.offline:
            log.info("offline mode: events go to %s, nothing is sent", settings.offline_file)
            return
        if settings.mqtt is not None:
            log.info("publishing to MQTT broker %s, bucket %r (key %r), topic prefix %r",
                     settings.mqtt.url, self.BucketName, self.BucketKey,
                     settings.mqtt.topic_prefix)
            return
        base = settings.stream_api_base
        if base.startswith("http://") and not _config.is_loopback_url(base):
            log.warning(
                "isstreamer: stream_api_base %s is plain http://: the access key and data "
                "travel unencrypted; use https://", base,
            )
        log.info(
            "streaming to %s, bucket %r (key %r), access key %s, ini file %s",
            base, self.BucketName, self.BucketKey, mask_secret(self.AccessKey),
            settings.ini_path or "none",
        )

    # -- the hot path ------------------------------------------------------------------------
    def log(self, key: str, value: Any, epoch: Any = None) -> None:
        """Queue one event; returns at once (no I/O, no JSON, no formatting)."""
        if epoch is None:
            epoch = _time()
        else:
            epoch = self._epoch(key, epoch)
            if epoch is _REJECTED:
                return
        t = type(value)
        if not (
            t is int
            or t is bool
            or (t is float and not value - value)  # NaN and ±inf fail x - x == 0
            or (t is str and len(value) <= MAX_VALUE_CHARS)
        ):
            value = self._value(key, value)
            if value is _REJECTED:
                return
        if type(key) is not str or key not in self._keys:
            key = self._key(key)
            if key is _REJECTED:
                return
        pipe = self._pipe
        with pipe.lock:
            items = pipe.items
            items.append((key, value, epoch))
            n = len(items)
            if n == 1 or n == pipe.buffer_size or n > pipe.max_buffer:
                pipe.wake(n)

    # -- the slow paths of log() ----------------------------------------------------------------
    def _epoch(self, key: Any, epoch: Any) -> Any:
        try:
            return coerce_epoch(str(key), epoch)
        except InvalidEventError as exc:
            return self._reject(key, exc)

    def _value(self, key: Any, value: Any) -> Any:
        try:
            return coerce_value(str(key), value)
        except InvalidEventError as exc:
            return self._reject(key, exc)

    def _key(self, key: Any) -> Any:
        try:
            text = check_key(key)
        except InvalidEventError as exc:
            return self._reject(key, exc)
        if len(self._keys) >= _KNOWN_KEYS_LIMIT:
            self._keys.clear()
        if type(key) is str:
            self._keys.add(text)
        return text

    def _reject(self, key: Any, exc: InvalidEventError) -> Any:
        """Count a bad event; raise it at debug_level >= 2, else warn once per key."""
        with self._pipe.lock:
            self._stats.rejected += 1
        if self._debug_level >= 2:
            raise exc
        name = str(key)
        if name not in self._warned_keys:
            if len(self._warned_keys) < _KNOWN_KEYS_LIMIT:
                self._warned_keys.add(name)
            log.warning(
                "isstreamer: event not logged: %s. Further problems with this key are "
                "counted in stats()['rejected'] but not logged again.", exc,
            )
        return _REJECTED

    # -- the rest of the original's API -----------------------------------------------------
    def log_object(self, obj: Any, key_prefix: Optional[str] = None, epoch: Any = None) -> None:
        """Log every field of a dict, list, tuple, namedtuple, dataclass or object, one epoch."""
        when = _time() if epoch is None else self._epoch(key_prefix or type(obj).__name__, epoch)
        if when is _REJECTED:
            return
        prefix = object_prefix(obj, key_prefix)
        try:
            pairs = list(flatten(obj))
        except InvalidEventError as exc:
            self._reject(prefix or type(obj).__name__, exc)
            return
        problems = []
        for name, lazy in pairs:
            key = prefix + name
            try:
                value = resolve_value(lazy)
            except Exception as exc:  # a property that raises spoils only its own key
                problem = InvalidEventError(f"reading {key!r} raised {type(exc).__name__}: {exc}")
                try:
                    self._reject(key, problem)
                except InvalidEventError as raised:
                    problems.append(str(raised))
                continue
            try:
                self.log(key, value, when)
            except InvalidEventError as exc:
                problems.append(str(exc))
        if problems:  # only at debug_level >= 2; every valid field was logged first
            raise InvalidEventError("; ".join(problems))

    def log_dataframe(self, df: Any, timestamp_column: Optional[str] = None,
                      key_prefix: str = "") -> int:
        """Log every non-missing cell of a pandas DataFrame (see ``isstreamer.dataframe``)."""
        from .dataframe import log_dataframe

        return log_dataframe(self, df, timestamp_column, key_prefix)

    def set_bucket(self, bucket_name: str = "", bucket_key: str = "") -> None:
        """Switch buckets; events already logged still go to the bucket they were logged to."""
        key = bucket_key or str(uuid.uuid4())
        _config.check_bucket(key, bucket_name)
        self.BucketName = bucket_name
        self.BucketKey = key
        self._pipe.put_control(Bucket(key, bucket_name))

    # -- the original's lower-level methods, kept for scripts that called them ---------------
    def ship_messages(self, messages: Any, retries: int = 3) -> None:
        """Queue ``{"key", "value", "epoch"}`` dicts, each validated like ``log()``."""
        for message in messages:
            self.log(message["key"], message["value"], message.get("epoch"))

    def ship_to_api(self, resource: str, contents: Any) -> None:
        """The original's raw POST: events are queued; a bucket body creates that bucket."""
        if resource.rstrip("/").endswith("/api/buckets"):
            key = contents.get("bucketKey") or str(uuid.uuid4())
            name = contents.get("bucketName", "")
            _config.check_bucket(key, name)
            current = self._pipe.last_bucket or Bucket(self.BucketKey, self.BucketName)
            self._pipe.put_control(Bucket(key, name))
            self._pipe.put_control(current)  # already created: no request; events stay here
        elif resource.rstrip("/").endswith("/api/events"):
            self.ship_messages(contents if isinstance(contents, list) else [contents])
        else:
            raise ValueError(
                f"ship_to_api: unknown resource {resource!r}; use '/api/events' or '/api/buckets'"
            )

    def console_message(self, message: str, level: int = 1) -> None:
        """The original printed when ``DebugLevel >= level``; we log at the matching level."""
        if level <= 0:
            log.warning("%s", message)
        elif level == 1:
            log.info("%s", message)
        else:
            log.debug("%s", message)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until everything logged so far is delivered; True if it all was."""
        ok = self._pipe.flush(timeout)
        if not ok:
            pending = self._pipe.pending_events()
            if pending:
                log.warning("isstreamer: flush() timed out; %d events are still pending", pending)
            else:
                log.info("flush(): not everything was delivered; see stats() (spooled, failed, "
                         "dropped)")
        return ok

    def close(self, timeout: Optional[float] = None) -> bool:
        """Deliver what is left (within ``timeout``, default ``close_timeout``) and stop."""
        return self._pipe.close(self._close_timeout if timeout is None else timeout)

    def stats(self) -> Dict[str, int]:
        """Counters; ``logged = sent + spooled + failed + rejected + dropped + pending``.

        ``replayed`` counts spooled events (of this run or earlier ones) delivered later;
        ``failed`` is non-zero only when even the spool could not take them.
        """
        pipe = self._pipe
        with pipe.lock:
            s = self._stats
            counts = {
                "sent": s.sent,
                "spooled": s.spooled,
                "failed": s.failed,
                "rejected": s.rejected,
                "dropped": s.dropped,
                "pending": pipe._pending_locked(),
                "replayed": s.replayed,
                "retries": s.retries,
                "requests": s.requests,
            }
        counts["logged"] = sum(
            counts[k] for k in ("sent", "spooled", "failed", "rejected", "dropped", "pending")
        )
        return counts

    # -- attributes scripts read --------------------------------------------------------------
    @property
    def LogQueue(self) -> _PendingView:  # noqa: N802 - the original's name
        return _PendingView(self._pipe)

    @property
    def IsClosed(self) -> bool:  # noqa: N802 - the original's name
        return self._pipe.closed

    @property
    def DebugLevel(self) -> int:  # noqa: N802 - the original's name
        return self._debug_level

    @DebugLevel.setter
    def DebugLevel(self, level: int) -> None:  # noqa: N802
        self._debug_level = int(level)
        apply_debug_level(self._debug_level)

    def __enter__(self) -> Streamer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        pipe = getattr(self, "_pipe", None)
        if pipe is not None:
            pipe.request_close()  # never block in a finalizer; the exit hook bounds delivery

    def __repr__(self) -> str:
        return (
            f"<Streamer bucket={self.BucketName!r} key={self.BucketKey!r} "
            f"access_key={mask_secret(self.AccessKey)} closed={self.IsClosed}>"
        )
