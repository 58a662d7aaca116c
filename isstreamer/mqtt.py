"""Publish events to an MQTT broker instead of the Initial State API (``isstreamer[mqtt]``).

    from isstreamer import Streamer
    from isstreamer.mqtt import MqttSettings
    Streamer(bucket_name="Garden", bucket_key="garden",
             mqtt=MqttSettings(host="broker.local", username="pi", password="..."))

or, with no change to the script, an ``[isstreamer.mqtt]`` section in isstreamer.ini.

Wire format (one MQTT message per batch, QoS 1):

* ``{topic_prefix}/{bucket_key}/events``: the events API's own body, a JSON array of
  ``{"key": ..., "value": ..., "epoch": ...}`` objects (at most ``buffer_size`` of them), so a
  bridge can forward it to the API unchanged;
* ``{topic_prefix}/{bucket_key}/bucket`` (retained): ``{"bucketKey": ..., "bucketName": ...}``,
  published before the bucket's first events.

In topics the bucket key has ``%``, ``/``, ``+``, ``#`` and NUL percent-encoded, since MQTT
gives them meaning. paho-mqtt's own network thread keeps the connection and reconnects (1 s to
60 s apart). A batch counts as delivered when the broker acknowledges it (PUBACK); while the
broker cannot be reached, or when an acknowledgement does not come in time, the batch goes to
the same disk spool as HTTP batches (under a fingerprint of the broker, not of an access key)
and is replayed when the broker is back. Delivery is at least once: a batch whose
acknowledgement was lost can arrive twice (paho resends it and the spool replays it).
"""

from __future__ import annotations

import importlib
import json
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Dict, List, Mapping, Optional

from ._logging import mask_secret
from .destinations import Bucket, Event, SpoolKeeper, Stats, encode_events
from .errors import ConfigError
from .spool import Spool, SpooledBatch, key_fingerprint

log = logging.getLogger("isstreamer")

INI_SECTION = "isstreamer.mqtt"
QOS = 1
RECONNECT_MIN = 1
RECONNECT_MAX = 60
REPLAY_CHECK_MAX = 5.0
_TOPIC_ESCAPES = {"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\0": "%00"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def import_paho() -> ModuleType:
    """paho-mqtt's client module, imported only when MQTT is used."""
    try:
        return importlib.import_module("paho.mqtt.client")
    except ImportError:
        raise ConfigError(
            "MQTT needs paho-mqtt 2.x: pip install 'isstreamer[mqtt]'"
        ) from None


def topic_part(text: str) -> str:
    """A bucket key as one MQTT topic level (percent-encoding what MQTT reserves)."""
    return "".join(_TOPIC_ESCAPES.get(c, c) for c in text)


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to publish. Any of ``ca_certs``/``certfile`` turns TLS on too.

    TLS verifies the broker's certificate and host name (against ``ca_certs``, else the
    system's trusted CAs); there is no switch to turn that off.
    """

    host: str
    port: Optional[int] = None  # 1883, or 8883 with TLS
    topic_prefix: str = "isstreamer"
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    tls: bool = False
    ca_certs: Optional[str] = None
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    client_id: str = ""
    keepalive: int = 60

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip():
            raise ConfigError("MqttSettings.host is empty; name the broker, e.g. 'localhost'")
        if self.port is not None and (
            isinstance(self.port, bool) or not isinstance(self.port, int)
            or not 0 < self.port < 65536
        ):
            raise ConfigError(f"MqttSettings.port must be 1-65535 (got {self.port!r})")
        prefix = self.topic_prefix
        if not prefix or prefix.startswith("/") or prefix.endswith("/") or any(
            c in prefix for c in "+#\0"
        ):
            raise ConfigError(
                f"MqttSettings.topic_prefix {prefix!r} must be a non-empty topic without "
                "'+', '#' or a leading/trailing '/'"
            )
        if self.keyfile and not self.certfile:
            raise ConfigError("MqttSettings.keyfile needs certfile (the client certificate)")
        if self.password is not None and self.username is None:
            raise ConfigError("MqttSettings.password needs a username")
        if isinstance(self.keepalive, bool) or not isinstance(self.keepalive, int) or \
                self.keepalive < 5:
            raise ConfigError(f"MqttSettings.keepalive must be >= 5 s (got {self.keepalive!r})")

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls or self.ca_certs or self.certfile)

    @property
    def effective_port(self) -> int:
        return self.port or (8883 if self.uses_tls else 1883)

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.uses_tls else 'mqtt'}://{self.host}:{self.effective_port}"

    def fingerprint(self) -> str:
        """The spool's owner for this broker: its files are replayed only to it."""
        return key_fingerprint(f"mqtt:{self.url}/{self.topic_prefix}")

    def topic(self, bucket_key: str, kind: str) -> str:
        return f"{self.topic_prefix}/{topic_part(bucket_key)}/{kind}"

    @classmethod
    def from_ini(cls, options: Mapping[str, str], path: Optional[str]) -> MqttSettings:
        """Read ``[isstreamer.mqtt]``: the option names are the field names."""
        where = f"[{INI_SECTION}] in {path}"
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        values: Dict[str, Any] = {k: v for k, v in options.items() if v != ""}
        for name in ("port", "keepalive"):
            if name in values:
                try:
                    values[name] = int(values[name])
                except ValueError:
                    raise ConfigError(f"{where}: {name} must be a whole number "
                                      f"(got {values[name]!r})") from None
        if "tls" in values:
            word = values["tls"].strip().lower()
            if word not in _TRUE | _FALSE:
                raise ConfigError(f"{where}: tls must be true or false (got {values['tls']!r})")
            values["tls"] = word in _TRUE
        if "host" not in values:
            raise ConfigError(f"{where}: host is missing")
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


class MqttDestination:
    """The sender's view of a broker: publish with QoS 1, spool what is not acknowledged."""

    def __init__(
        self,
        settings: MqttSettings,
        stats: Stats,
        spool: Optional[Spool],
        *,
        connect_timeout: float,
        publish_timeout: float,
        buffer_size: int,
        replay: bool = True,
    ) -> None:
        self._paho = import_paho()  # fail at construction, with the pip command, if missing
        self.settings = settings
        self.spool = spool
        self._stats = stats
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._buffer_size = buffer_size
        self._keeper = SpoolKeeper(spool, stats, replay, "published")
        self._state = threading.Condition()
        self._connected = False
        self._closed = False
        self._outage = False
        self._client: Any = None
        self._announced: Dict[str, str] = {}  # bucket key -> name announced to the broker
        self._explained = False
        self._next_check = 0.0
        self._check_gap = 1.0
        if settings.password and not settings.uses_tls:
            log.warning("isstreamer: MQTT to %s without TLS: the password travels "
                        "unencrypted; set tls=True", settings.url)

    # -- connection (paho's thread calls the on_* methods) -------------------------------------
    def _ensure_client(self) -> Any:
        if self._client is not None:
            return self._client
        paho = self._paho
        s = self.settings
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=s.client_id)
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.uses_tls:
            context = ssl.create_default_context(cafile=s.ca_certs)
            if s.certfile:
                context.load_cert_chain(s.certfile, s.keyfile)
            client.tls_set_context(context)
        client.reconnect_delay_set(RECONNECT_MIN, RECONNECT_MAX)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.connect_async(s.host, s.effective_port, s.keepalive)
        client.loop_start()
        self._client = client
        log.info("connecting to MQTT broker %s as %s", s.url,
                 s.username if s.username is not None else "anonymous")
        return client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            self._explain(f"the MQTT broker {self.settings.url} refused the connection "
                          f"({reason}); check username/password "
                          f"(user {self.settings.username!r}, password "
                          f"{mask_secret(self.settings.password or '')})")
            return
        with self._state:
            was_out = self._outage
            self._connected = True
            self._outage = False
            self._explained = False
            self._announced.clear()  # a broker restarted without persistence forgot them
            self._next_check = 0.0
            self._check_gap = 1.0
            self._keeper.look_again()
            self._state.notify_all()
        if was_out:
            log.warning("isstreamer: the MQTT broker %s answers again; replaying the spool",
                        self.settings.url)
        log.info("connected to MQTT broker %s", self.settings.url)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any = None) -> None:
        with self._state:
            self._connected = False
        if not self._closed:
            log.info("disconnected from MQTT broker %s (%s); paho reconnects",
                     self.settings.url, reason)

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._explain(f"cannot reach the MQTT broker {self.settings.url}; retrying")

    def _explain(self, message: str) -> None:
        """Say once per outage why nothing is getting through."""
        if not self._explained:
            self._explained = True
            log.warning("isstreamer: %s", message)

    def _ready(self) -> bool:
        """Connected, or connected within ``connect_timeout``; after that, an outage."""
        with self._state:
            if self._connected:
                return True
            if self._outage or self._closed:
                return False
        self._ensure_client()
        with self._state:
            ok = self._state.wait_for(lambda: self._connected or self._closed,
                                      self._connect_timeout)
            if ok and self._connected:
                return True
            if not self._closed and not self._outage:
                self._outage = True
                log.warning("isstreamer: the MQTT broker %s is not reachable; saving events "
                            "to the spool until it is", self.settings.url)
            return False

    @property
    def in_outage(self) -> bool:
        return self._outage

    # -- publishing ------------------------------------------------------------------------------
    def _publish(self, topic: str, payloads: List[bytes], retain: bool = False) -> int:
        """Publish with QoS 1 and wait for the acks; how many payloads (from the first) got one."""
        client = self._client
        infos = [client.publish(topic, p, qos=QOS, retain=retain) for p in payloads]
        deadline = time.monotonic() + self._publish_timeout
        acked = 0
        for info in infos:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (ValueError, RuntimeError):
                break
            if not info.is_published():
                break
            acked += 1
        return acked

    def open_bucket(self, bucket: Bucket) -> bool:
        """Announce the bucket (retained) before its first events."""
        if self._announced.get(bucket.key) == bucket.name:
            return True
        if not self._ready():
            return False
        body = json.dumps({"bucketKey": bucket.key, "bucketName": bucket.name}).encode("utf-8")
        if self._publish(self.settings.topic(bucket.key, "bucket"), [body], retain=True) != 1:
            return False
        self._announced[bucket.key] = bucket.name
        bucket.created = True
        return True

    def _deliver(self, bucket: Bucket, events: List[Event]) -> int:
        """Publish events in messages of ``buffer_size``; how many were acknowledged."""
        if not self.open_bucket(bucket):
            return 0
        size = self._buffer_size
        pieces = [events[i:i + size] for i in range(0, len(events), size)]
        acked = self._publish(self.settings.topic(bucket.key, "events"),
                              [encode_events(p) for p in pieces])
        return sum(len(p) for p in pieces[:acked])

    def send(self, bucket: Bucket, events: List[Event]) -> bool:
        if not self._ready():
            self._keeper.save(bucket, events, "MQTT broker unreachable")
            return False
        done = self._deliver(bucket, events)
        self._stats.sent += done
        if done == len(events):
            log.debug("published %d events for bucket %r", done, bucket.key)
            return True
        self._keeper.save(bucket, events[done:], "no acknowledgement from the MQTT broker in time")
        return False

    # -- the spool -------------------------------------------------------------------------------
    def save(self, bucket: Bucket, events: List[Event], reason: str) -> Optional[SpooledBatch]:
        return self._keeper.save(bucket, events, reason)

    def forget_saved(self, handle: Optional[SpooledBatch], count: int) -> None:
        self._keeper.forget(handle, count)

    def replay_due(self) -> Optional[float]:
        """0 (now) while connected and something is spooled; a later check while not."""
        if not self._keeper.replay or self._closed:
            return None
        assert self.spool is not None
        if not self._keeper.anything_to_replay(self.spool.pending):
            return None
        return self._next_check

    def replay_one(self) -> str:
        """Publish the oldest spool file of this broker; "empty", "done" or "failed"."""
        assert self.spool is not None
        if not self._connected:
            self._ensure_client()
            self._next_check = time.monotonic() + self._check_gap
            self._check_gap = min(self._check_gap * 2, REPLAY_CHECK_MAX)
            return "failed"
        names = self.spool.pending()
        if not names:
            self._keeper.has_spooled = False
            return "empty"
        batch = self.spool.claim(names[0])
        if batch is None:
            return "done"
        done = self._deliver(Bucket(batch.bucket_key, batch.bucket_name), batch.events)
        self._stats.replayed += done
        if done == len(batch.events):
            self.spool.delete(batch)
            log.info("replayed spool file %s to the MQTT broker", batch.name)
            return "done"
        del batch.events[:done]
        self.spool.release(batch, "no acknowledgement from the MQTT broker in time")
        self._next_check = time.monotonic() + self._check_gap
        return "failed"

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        with self._state:
            self._closed = True
            self._state.notify_all()
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def reset_after_fork(self) -> None:
        """The child gets its own connection; the parent's client (and thread) stay theirs."""
        self._client = None
        self._state = threading.Condition()
        self._connected = False
        self._outage = False
        self._announced = {}
        if self.spool is not None:
            self.spool.reset_after_fork()
